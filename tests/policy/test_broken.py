"""Broken policies give ``file:line:col: message``, never a traceback.

Each file in ``broken/`` starts with ``# expect: LINE:COL: start of the message``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli.policy import main, problems_of
from gateway.policy.loader import MAX_POLICY_BYTES, PolicyError, load_file, load_text
from tests.policy.conftest import KNOWN

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def expectation(path: Path) -> tuple[int, int, str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: LINE:COL: message'"
    line, col, message = first.removeprefix("# expect: ").split(":", 2)
    return int(line), int(col), message.strip()


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_policy_is_reported_at_its_line_and_column(path: Path) -> None:
    line, col, message = expectation(path)
    problems = [p for p in problems_of(str(path), KNOWN) if p.severity == "error"]
    assert problems, f"{path.name} was accepted"
    assert (problems[0].file, problems[0].line, problems[0].column) == (str(path), line, col), problems
    assert problems[0].message.startswith(message), problems[0].message


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_validate_prints_the_location_and_exits_1(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line, col, message = expectation(path)
    assert main(["policy", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{line}:{col}: {message}" in out
    assert "Traceback" not in out


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = (Path(__file__).parent / "broken" / "unknown_key.yaml").read_text()
    text = text.replace("on_error: restricted", "on_error: secret\n  min_score: lots")
    with pytest.raises(PolicyError) as caught:
        load_text(text, "two.yaml")
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 3, messages  # the unknown level too, though other fields have shape errors
    assert any("unknown level 'secret'" in m for m in messages), messages
    assert [p.line for p in caught.value.problems] == sorted(p.line for p in caught.value.problems)


def test_missing_unreadable_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such file"):
        load_file(tmp_path / "nope.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_file(binary)
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_file(tmp_path)  # a directory
    with pytest.raises(PolicyError, match="larger than"):
        load_text("#" * (MAX_POLICY_BYTES + 1))


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(PolicyError, match=r"nested too deeply|not valid YAML"):
        load_text("a: " + "[" * 50_000 + "]" * 50_000)


@pytest.mark.parametrize(
    "text", ["version: !!python/object/apply:os.system ['true']", "version: !!binary aGVsbG8=", "version: !custom 1"]
)
def test_tags_are_refused(text: str) -> None:
    with pytest.raises(PolicyError, match=r"1:10: tags \(.*\) are not allowed"):
        load_text(text)
