"""``gateway keys``: create prints the key once, list never shows it, revoke works."""

from __future__ import annotations

import re

import pytest

from gateway.cli import main


def test_create_list_revoke(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--team", "risk", "--role", "finance", "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    key = re.search(r"key:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    key_id = re.search(r"id:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    assert main(["keys", "list", "--database-url", database_url]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "risk" in listing and key not in listing
    assert main(["keys", "revoke", key_id, "--database-url", database_url]) == 0
    assert main(["keys", "revoke", key_id, "--database-url", database_url]) == 1
    assert "no active key" in capsys.readouterr().err


def test_bad_role_is_a_usage_error(database_url: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "create", "--team", "risk", "--role", "root", "--database-url", database_url])
    assert exited.value.code == 2
