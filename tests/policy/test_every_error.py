"""``gateway policy validate`` reports every error of a copied policy in one run, at its line.

The policy is ``policies/default.yaml`` with seven mistakes of different kinds:
shape errors (an unknown field in ``classification``, another inside a route's
``when``, a value out of range in a route's cache), a level, an entity type, a
target and a route that do not exist. Before, they took several runs: shape
first, then the names of levels, then entity names and test cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli.policy import main
from tests.policy.conftest import ROOT

MISTAKES = [
    # (original line, mistaken line, the text the problem points at, start of the message)
    ("  min_score: 0.5 ", "  min_scor: 0.5 ", "min_scor", "classification.min_scor: unknown field"),
    ("    SWIFT_CODE: confidential", "    SWIFT_COD: confidential", "SWIFT_COD", "unknown entity type 'SWIFT_COD'"),
    ("    max_level: internal", "    max_level: internl", "internl", "targets.openai-mini.max_level: unknown level"),
    (
        "    when: {level_at_least: confidential}",
        "    when: {level_at_least: confidentail, teams: [risk]}",
        "confidentail",
        "routes[1].when.level_at_least: unknown level 'confidentail'",
    ),
    ("    cache: {ttl_s: 3600}", "    cache: {ttl_s: -5}", "-5", "routes[2].cache.ttl_s: Input should be greater"),
    ("  - name: default\n    targets: [local-small]", "  - name: default\n    targets: [local-smal]", "local-smal]",
     "routes[3].targets[0]: unknown target 'local-smal'"),
    ("route: default, residency", "route: defualt, residency", "defualt", "unknown route 'defualt'"),
]  # fmt: skip


def _position(text: str, needle: str) -> tuple[int, int]:
    offset = text.index(needle)
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


@pytest.fixture
def copied(tmp_path: Path) -> tuple[Path, str]:
    text = (ROOT / "policies" / "default.yaml").read_text(encoding="utf-8")
    for original, mistaken, _, _ in MISTAKES:
        assert text.count(original) == 1, original
        text = text.replace(original, mistaken)
    path = tmp_path / "new.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_every_mistake_is_reported_in_one_run_at_its_line_and_column(
    copied: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, text = copied
    assert main(["policy", "validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    errors = [line for line in lines if ": warning: " not in line and not line.startswith(f"{path}: ")]
    for _, _, points_at, message in MISTAKES:
        line, col = _position(text, points_at)
        expected = f"{path}:{line}:{col}: {message}"
        assert any(e.startswith(expected) for e in errors), f"missing {expected!r} in:\n" + "\n".join(lines)
    assert "teams: unknown field" in "\n".join(errors)  # the other shape error in the same route
    assert len(errors) == len(MISTAKES) + 1, "\n".join(errors)
    assert lines[-1] == f"{path}: {len(errors)} error(s), 0 warning(s)"
    assert [e.split(":")[1] for e in errors] == sorted((e.split(":")[1] for e in errors), key=int)


def test_a_fixed_copy_is_valid(copied: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The same file with the mistakes undone passes: the errors above are the mistakes, nothing else."""
    path, text = copied
    for original, mistaken, _, _ in MISTAKES:
        text = text.replace(mistaken, original)
    path.write_text(text, encoding="utf-8")
    assert main(["policy", "validate", str(path)]) == 0, capsys.readouterr().out


def test_a_route_that_cannot_be_salvaged_hides_nothing_else(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A route without a valid name is left out of the reference checks; the routes after it keep
    their own indices, so their problems point at the right lines."""
    text = (ROOT / "policies" / "default.yaml").read_text(encoding="utf-8")
    text = text.replace("  - name: premium\n", "  - name: [premium]\n")
    text = text.replace("  - name: default\n    targets: [local-small]", "  - name: default\n    targets: [nowhere]")
    path = tmp_path / "new.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["policy", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    name_line, _ = _position(text, "[premium]")
    target_line, target_col = _position(text, "nowhere")
    assert f"{path}:{name_line}:" in out and "routes[2].name: Input should be a valid string" in out
    assert f"{path}:{target_line}:{target_col}: routes[3].targets[0]: unknown target 'nowhere'" in out


def test_the_test_files_beside_a_broken_policy_are_checked_in_the_same_run(
    copied: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = copied
    beside = path.parent / "new.cards.tests.yaml"
    beside.write_text(
        "- name: cards stay\n  text: 'Card 4111 1111 1111 1111'\n  expect: {route: sensitiv}\n", encoding="utf-8"
    )
    assert main(["policy", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{beside}:3:19: unknown route 'sensitiv'" in out
    assert f"{path}: {len(MISTAKES) + 2} error(s), 0 warning(s)" in out
