"""Every command piped into a reader that closes early (``gateway ... | head``) ends quietly.

Each command runs as a real process whose standard output is a pipe; the test
closes its end before reading anything, as ``head -n 0`` would, so the first
write the command makes meets a closed pipe. Quiet means: no traceback and no
``BrokenPipeError`` on standard error, and the shell's exit status for SIGPIPE.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import BROKEN_PIPE_EXIT, main
from tests.policy.conftest import ROOT, policy_text

POLICY = str(ROOT / "policies" / "default.yaml")


def _piped_into_closed_reader(*args: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # every print reaches the pipe at once
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    return proc.wait(timeout=300), err


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    assert main(["keys", "create", "--team", "risk", "--role", "finance", "--database-url", url]) == 0
    return url


@pytest.mark.parametrize(
    "command",
    [
        ["policy", "validate", POLICY, POLICY],
        ["policy", "test", "NO_CASES"],
        ["policy", "schema"],
        ["keys", "list"],
        ["report", "--format", "csv"],
        ["audit", "query", "--format", "table"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_closed_pipe_ends_the_command_quietly(
    command: list[str], ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()  # the key's creation
    no_cases = tmp_path / "no_cases.yaml"  # ``test`` without cases needs no classifier
    no_cases.write_text(policy_text(), encoding="utf-8")
    command = [str(no_cases) if part == "NO_CASES" else part for part in command]
    needs_db = command[0] in ("keys", "report", "audit")
    code, err = _piped_into_closed_reader(*command, *(["--database-url", ledger_url] if needs_db else []))
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == BROKEN_PIPE_EXIT, err


def test_explain_piped_into_a_closed_reader_ends_quietly() -> None:
    """``explain`` loads the real classifier before it prints: the slowest command, run once."""
    code, err = _piped_into_closed_reader("policy", "explain", "--policy", POLICY, "--text", "hello")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == BROKEN_PIPE_EXIT, err


def test_an_open_pipe_still_gets_everything() -> None:
    """The handling changes nothing for a reader that reads to the end."""
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "policy", "validate", POLICY], cwd=ROOT, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[-1] == f"{POLICY}: valid, 0 warning(s)"
