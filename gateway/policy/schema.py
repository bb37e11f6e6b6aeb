"""JSON Schemas of the policy file and of test files, for editors.

Generated from the pydantic models in ``model.py``, so the schema, the
validator and the field descriptions an editor shows cannot disagree.
``policies/policy.schema.json`` and ``policies/tests.schema.json`` are these
schemas written out (a test keeps them in step); YAML files point at them with
a first line such as ``# yaml-language-server: $schema=policy.schema.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from gateway.policy.model import Policy, TestCase

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file."""
    schema = Policy.model_json_schema()
    return {"$schema": DIALECT, "title": "Routing policy", **{k: v for k, v in schema.items() if k != "title"}}


def case_file_schema() -> dict[str, Any]:
    """The JSON Schema of a ``*.tests.yaml`` file: a list of test cases."""
    schema = TypeAdapter(list[TestCase]).json_schema()
    return {
        "$schema": DIALECT,
        "title": "Routing policy test cases",
        "description": "Cases run by `gateway policy test` beside the policy of the same name.",
        **schema,
    }


# -- the schema line of a YAML file --------------------------------------------------------

POLICY_SCHEMA_FILE = "policy.schema.json"
TESTS_SCHEMA_FILE = "tests.schema.json"
_MODELINE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(?P<ref>\S+)[ \t]*$", re.MULTILINE)


def modeline(ref: str = POLICY_SCHEMA_FILE) -> str:
    """The first line that tells editors (VS Code's YAML extension, IntelliJ) which schema completes a file."""
    return f"# yaml-language-server: $schema={ref}"


def with_modeline(text: str, ref: str = POLICY_SCHEMA_FILE) -> str:
    """``text`` whose schema line points at ``ref``: the first one replaced, or one added at the top."""
    if _MODELINE.search(text):
        return _MODELINE.sub(modeline(ref).replace("\\", "\\\\"), text, count=1)
    return f"{modeline(ref)}\n{text}"


def schema_reference(text: str) -> tuple[int, int, str] | None:
    """Line, column (1-based) and target of the file's schema line, if it has one."""
    found = _MODELINE.search(text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    return line, found.start("ref") - found.start() + 1, found.group("ref")


def missing_schema(text: str, file: str | Path) -> tuple[int, int, str] | None:
    """The schema line's position and target when it names a local file that is not there
    (a policy copied out of ``policies/`` keeps ``$schema=policy.schema.json``): editors stop completing."""
    found = schema_reference(text)
    if found is None or "://" in found[2]:
        return None
    target = Path(file).parent / found[2]
    return None if target.is_file() else found


def write_schemas(folder: Path) -> list[Path]:
    """``policy.schema.json`` and ``tests.schema.json`` written into ``folder``, for the files beside them."""
    written = []
    for name, schema in ((POLICY_SCHEMA_FILE, policy_schema()), (TESTS_SCHEMA_FILE, case_file_schema())):
        path = folder / name
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
