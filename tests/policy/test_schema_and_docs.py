"""The JSON Schemas, the docs and the policy language stay in step."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from gateway.policy.model import (
    Budget,
    Classification,
    Pricing,
    RecognizerSpec,
    Route,
    RouteCache,
    Target,
    TestCase,
    TestExpect,
    When,
)
from gateway.policy.schema import case_file_schema, policy_schema
from tests.policy.conftest import POLICIES, ROOT

README = (POLICIES / "README.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")


def test_the_schema_files_are_generated_from_the_model() -> None:
    on_disk = json.loads((POLICIES / "policy.schema.json").read_text(encoding="utf-8"))
    assert on_disk == policy_schema(), "run: gateway policy schema --output policies/policy.schema.json"
    tests_on_disk = json.loads((POLICIES / "tests.schema.json").read_text(encoding="utf-8"))
    assert tests_on_disk == case_file_schema(), "run: gateway policy schema --tests --output policies/tests.schema.json"


@pytest.mark.parametrize(
    "model", [When, Route, RouteCache, Target, Pricing, Classification, RecognizerSpec, Budget, TestCase, TestExpect]
)
def test_every_field_is_documented(model: type[BaseModel]) -> None:
    for name in model.model_fields:
        assert f"`{name}" in REFERENCE, f"docs/policy.md does not mention {model.__name__}.{name}"


def test_every_condition_and_expectation_is_in_the_officers_guide() -> None:
    for name in [*When.model_fields, *TestExpect.model_fields, "deny", "targets", "cache", "deadline_s"]:
        assert f"`{name}" in README, f"policies/README.md does not mention {name}"


def test_every_schema_field_has_a_description() -> None:
    schema = policy_schema()
    for definition, body in [("Policy", schema), *schema["$defs"].items()]:
        for name, prop in body.get("properties", {}).items():
            assert prop.get("description"), f"{definition}.{name} has no description"


def test_every_entity_type_the_classifier_knows_is_in_the_officers_guide() -> None:
    classify = pytest.importorskip("gateway.classify", reason="gateway.classify is not available yet")
    for entity in sorted(classify.KNOWN_ENTITIES):
        assert f"`{entity}`" in README, f"policies/README.md does not list {entity}"


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_files_point_editors_at_their_schema(path: object) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]  # type: ignore[attr-defined]
    schema = "tests.schema.json" if path.name.endswith(".tests.yaml") else "policy.schema.json"  # type: ignore[attr-defined]
    assert first == f"# yaml-language-server: $schema={schema}"
