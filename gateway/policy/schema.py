"""JSON Schemas of the policy file and of test files, for editors.

Generated from the pydantic models in ``model.py``, so the schema, the
validator and the field descriptions an editor shows cannot disagree.
``policies/policy.schema.json`` and ``policies/tests.schema.json`` are these
schemas written out (a test keeps them in step); YAML files point at them with
a first line such as ``# yaml-language-server: $schema=policy.schema.json``.
"""

from __future__ import annotations

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
