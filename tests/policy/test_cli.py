"""``gateway policy ...``: exit codes and output, in-process and once as a real command."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.cli import policy as cli
from gateway.cli.common import moment_arg
from gateway.cli.policy import explain_command, main, register
from tests.policy.conftest import BASE, ROOT, KeywordClassifier, policy_text

Write = Callable[[str, str], Path]


def test_validate_a_valid_policy(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    classification = {**BASE["classification"], "entities": {"CREDIT_CARD": "restricted"}}
    path = write("ok.yaml", policy_text(classification=classification))
    assert main(["policy", "validate", str(path)]) == 0
    assert _without_notes(capsys.readouterr().out) == f"{path}: valid, 0 warning(s)\n"


def test_warnings_are_printed_and_fail_only_with_strict(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    path = write("warn.yaml", policy_text())  # LOCATION is public: the external target may receive it
    assert main(["policy", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}:" in out and ": warning: external target 'external' may receive" in out
    assert main(["policy", "validate", "--strict", str(path)]) == 1


def test_validate_several_files_fails_if_any_fails(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    good = write("good.yaml", policy_text())
    bad = write("bad.yaml", policy_text(levels=["low", "high"]))
    assert main(["policy", "validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: valid, 1 warning(s)" in out and f"{bad}: 8 error(s), 0 warning(s)" in out


def test_an_internal_error_is_a_line_not_a_traceback(
    write: Write, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(cli, "check", explode)
    path = write("ok.yaml", policy_text())
    assert main(["policy", "validate", str(path)]) == 1
    assert f"{path}:1:1: internal error while checking this file (ValueError: boom)" in capsys.readouterr().out


def test_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    when = schema["$defs"]["When"]["properties"]
    assert when["level_at_least"]["description"] == "The request's level is this level or higher."
    assert main(["policy", "schema", "--tests", "--output", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["type"] == "array"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["policy", "explain", *argv])


def test_explain_prints_the_trace(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gateway.classify.extract", reason="gateway.classify.extract is not available yet")
    path = write("p.yaml", policy_text())
    args = parse("--policy", str(path), "--text", "card 4111 1111 1111 1111", "--model", "premium", "--team", "ops")
    assert explain_command(args, classifier=KeywordClassifier()) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["decision"]["route"] == "sensitive" and trace["request"]["team"] == "ops"
    request = write("req.json", json.dumps({"model": "premium", "messages": [{"role": "user", "content": "hi"}]}))
    args = parse("--policy", str(path), "--request", str(request), "--unavailable", "external")
    assert explain_command(args, classifier=KeywordClassifier()) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["decision"]["targets"][0]["target"] == "onprem"
    assert trace["excluded"][0]["reason"] == "unavailable"


def test_explain_errors(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    path = write("p.yaml", policy_text())
    broken = write("req.json", "{not json")
    assert explain_command(parse("--policy", str(path), "--request", str(broken)), KeywordClassifier()) == 1
    assert f"{broken}:1:1: cannot read the request" in capsys.readouterr().out
    args = parse("--policy", str(path), "--text", "x", "--unavailable", "ghost")
    assert explain_command(args, KeywordClassifier()) == 1
    assert "unknown target(s) ['ghost']" in capsys.readouterr().err
    bad = write("bad.yaml", "version: 1\n")
    assert explain_command(parse("--policy", str(bad), "--text", "x"), KeywordClassifier()) == 1
    assert f"{bad}:1:1:" in capsys.readouterr().out


def test_explain_needs_a_request_or_a_text() -> None:
    with pytest.raises(SystemExit):
        parse("--policy", "p.yaml")


@pytest.mark.parametrize(
    ("value", "end", "expected"),
    [
        ("2025-03-01", False, "2025-03-01T00:00:00+00:00"),
        ("2025-03-01", True, "2025-03-02T00:00:00+00:00"),
        ("2025-03-01T10:00:00+01:00", True, "2025-03-01T10:00:00+01:00"),
    ],
)
def test_replay_dates(value: str, end: bool, expected: str) -> None:
    assert moment_arg(end=end)(value).isoformat() == expected


@pytest.mark.skipif(not (ROOT / "gateway" / "__main__.py").exists(), reason="no gateway/__main__.py yet")
def test_python_m_gateway_policy_validate(tmp_path: Path) -> None:
    broken = ROOT / "tests" / "policy" / "broken" / "unknown_key.yaml"
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "policy", "validate", str(broken), str(ROOT / "policies" / "default.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert f"{broken}:14:5: routes[0].targts: unknown field" in run.stdout
    assert "policies/default.yaml: valid" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def _without_notes(out: str) -> str:
    """``validate``'s output less its notes (what a route's targets cannot serve: tools, JSON...)."""
    return "".join(line for line in out.splitlines(keepends=True) if ": note: " not in line)
