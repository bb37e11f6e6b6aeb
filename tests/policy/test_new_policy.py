"""A policy started outside ``policies/`` keeps its editor completion.

``gateway policy new FILE`` copies a policy and writes the schemas beside it,
so the file's schema line resolves wherever it lives; a policy copied by hand
whose schema line names a file that is not there gets a warning from
``validate`` saying so and how to fix it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from gateway.cli.policy import main
from gateway.policy.schema import case_file_schema, policy_schema, schema_reference
from tests.policy.conftest import POLICIES


def _schema_beside(policy: Path) -> Path:
    found = schema_reference(policy.read_text(encoding="utf-8"))
    assert found is not None, "no schema line"
    line, _, ref = found
    assert line == 1
    return policy.parent / ref


def test_new_writes_a_copy_whose_schema_line_resolves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "compliance" / "acme.yaml"
    target.parent.mkdir()
    assert main(["policy", "new", str(target)]) == 0
    schema_path = _schema_beside(target)
    assert json.loads(schema_path.read_text(encoding="utf-8")) == policy_schema()
    assert json.loads((target.parent / "tests.schema.json").read_text(encoding="utf-8")) == case_file_schema()
    shipped = (POLICIES / "default.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(target.read_text(encoding="utf-8")) == yaml.safe_load(shipped)  # the same policy
    capsys.readouterr()
    assert main(["policy", "validate", str(target)]) == 0
    assert _without_notes(capsys.readouterr().out) == f"{target}: valid, 0 warning(s)\n"


def test_the_schema_it_points_at_accepts_the_policy_and_rejects_a_misspelling(tmp_path: Path) -> None:
    """What an editor does with the schema line: check the document against the schema it names."""
    jsonschema = pytest.importorskip("jsonschema")
    target = tmp_path / "acme.yaml"
    assert main(["policy", "new", str(target), "--from", str(POLICIES / "strict.yaml")]) == 0
    schema = json.loads(_schema_beside(target).read_text(encoding="utf-8"))
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    data["routes"][0]["targts"] = data["routes"][0].pop("targets")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_new_adds_a_schema_line_to_a_template_without_one(tmp_path: Path) -> None:
    template = tmp_path / "plain.yaml"
    template.write_text("".join((POLICIES / "default.yaml").read_text(encoding="utf-8").splitlines(True)[1:]))
    target = tmp_path / "out" / "acme.yaml"
    target.parent.mkdir()
    assert main(["policy", "new", str(target), "--from", str(template)]) == 0
    assert _schema_beside(target).is_file()


def test_new_does_not_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "acme.yaml"
    target.write_text("mine", encoding="utf-8")
    assert main(["policy", "new", str(target)]) == 1
    assert "exists" in capsys.readouterr().err and target.read_text(encoding="utf-8") == "mine"
    assert main(["policy", "new", str(target), "--force"]) == 0
    assert target.read_text(encoding="utf-8") != "mine"


def test_a_hand_copy_whose_schema_is_not_beside_it_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's old first step, ``cp policies/default.yaml new.yaml``, outside ``policies/``."""
    copied = tmp_path / "new.yaml"
    shutil.copy(POLICIES / "default.yaml", copied)
    assert main(["policy", "validate", str(copied)]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    col = len("# yaml-language-server: $schema=") + 1
    assert f"{copied}:1:{col}: warning: the schema line points at 'policy.schema.json', which is not beside" in out
    assert main(["policy", "schema", "--output", str(tmp_path / "policy.schema.json")]) == 0
    capsys.readouterr()
    assert main(["policy", "validate", str(copied)]) == 0
    assert _without_notes(capsys.readouterr().out) == f"{copied}: valid, 0 warning(s)\n"


def _without_notes(out: str) -> str:
    """``validate``'s output less its notes (what a route's targets cannot serve: tools, JSON...)."""
    return "".join(line for line in out.splitlines(keepends=True) if ": note: " not in line)
