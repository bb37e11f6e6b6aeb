"""Searching the trail, through the API and through ``gateway audit query`` / ``verify``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gateway.audit import AuditQuery, AuditStore, run_query
from gateway.audit.query import UnknownLevel
from gateway.cli import main
from gateway.ledger.store import Database
from tests.audit.conftest import DAY, make_record, sql, unlock

LEVELS = ["public", "internal", "confidential", "restricted"]
POLICY_V1 = "version: 1\nname: v1\nlevels: [public, internal, confidential, restricted]\n"
POLICY_V2 = "version: 1\nname: v2\nlevels: [public, internal, secret, confidential, restricted]\n"


@pytest.fixture
def filled(store: AuditStore, database_url: str) -> AuditStore:
    db = Database(database_url)
    db.create_schema()
    db.record_policy_version("v1", "v1", POLICY_V1, DAY)
    db.record_policy_version("v2", "v2", POLICY_V2, DAY)
    db.close()
    store.append([
        make_record(1, level="public", residency="external"),
        make_record(2, level="internal", residency="external"),
        make_record(3, level="confidential", residency="on_prem", entities=("PERSON",)),
        make_record(4, level="restricted", residency="on_prem", entities=("CREDIT_CARD",)),
        make_record(5, level="restricted", outcome="no_target_available", entities=("CREDIT_CARD",)),
        make_record(6, level="secret", residency="on_prem", policy_version="v2", team="risk"),
        make_record(7, level="internal", residency="external", ts=datetime(2026, 4, 1, tzinfo=UTC)),
    ])
    return store


def _ids(store: AuditStore, **filters: object) -> list[str]:
    return [r["request_id"] for r in run_query(store, AuditQuery(**filters), LEVELS)]  # type: ignore[arg-type]


def test_confidential_data_never_reached_an_external_target(filled: AuditStore) -> None:
    assert _ids(filled, level_at_least="confidential", residency="external",
                since=datetime(2026, 1, 1, tzinfo=UTC), until=datetime(2026, 4, 1, tzinfo=UTC)) == []
    assert _ids(filled, level_at_least="confidential") == ["req0003", "req0004", "req0005"]
    assert _ids(filled, residency="external") == ["req0001", "req0002", "req0007"]
    assert _ids(filled, residency="none") == ["req0005"]


def test_levels_are_read_under_the_policy_version_that_decided(filled: AuditStore) -> None:
    # Under v2 "secret" sits below confidential; "secret" exists only in v2.
    assert _ids(filled, level_at_least="secret") == ["req0006"]
    with pytest.raises(UnknownLevel):
        _ids(filled, level_at_least="top_secret")


def test_filters_combine(filled: AuditStore) -> None:
    assert _ids(filled, team="risk") == ["req0006"]
    assert _ids(filled, entity="CREDIT_CARD") == ["req0004", "req0005"]
    assert _ids(filled, target="gpt", until=datetime(2026, 3, 3, tzinfo=UTC)) == ["req0001", "req0002"]
    assert _ids(filled, outcome="no_target_available") == ["req0005"]
    assert _ids(filled, limit=2) == ["req0001", "req0002"]


def test_the_query_command_answers_none(filled: AuditStore, database_url: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    args = ["audit", "query", "--database-url", database_url, "--level-at-least", "confidential",
            "--residency", "external", "--from", "2026-01-01", "--to", "2026-03-31"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert out.out == "" and "0 record(s)" in out.err
    assert main([*args, "--format", "count"]) == 0
    assert capsys.readouterr().out.strip() == "0"
    assert main(["audit", "query", "--database-url", database_url, "--entity", "CREDIT_CARD"]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = [orjson.loads(line) for line in lines]
    assert [r["request_id"] for r in records] == ["req0004", "req0005"]
    assert records[0]["attempts"] == [{"target": "onprem", "residency": "on_prem", "outcome": "ok",
                                       "error_code": None}]
    assert main(["audit", "query", "--database-url", database_url, "--format", "table", "--team", "risk"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("seq\tts") and len(table) == 2


def test_the_verify_command(filled: AuditStore, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 7 records; head 7:")
    anchor = out.strip().rsplit(" ", 1)[1]
    assert main(["audit", "verify", "--database-url", database_url, "--anchor", anchor]) == 0
    capsys.readouterr()
    unlock(filled.engine)
    sql(filled.engine, "DELETE FROM audit_log WHERE seq = 4")
    assert main(["audit", "verify", "--database-url", database_url, "--format", "json"]) == 1
    report = orjson.loads(capsys.readouterr().out)
    assert not report["ok"] and {p["kind"] for p in report["problems"]} >= {"missing", "broken_link"}
    assert main(["audit", "verify", "--database-url", database_url, "--anchor", "nonsense"]) == 2


def test_verify_says_when_the_database_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/missing/dir/../../x.db"
    (tmp_path / "x.db").mkdir()  # a directory where the database file should be
    assert main(["audit", "verify", "--database-url", url]) == 2
    assert "error:" in capsys.readouterr().err
