"""What a policy looks for (``detected_entities``), and a policy that looks at nothing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gateway.policy.engine import Facts, detected_entities, level_for, reads_content
from gateway.policy.explain import explain
from gateway.policy.loader import load_file
from tests.policy.conftest import BASE, KeywordClassifier, make_policy

ROOT = Path(__file__).resolve().parents[2]


def _blind(**classification: Any) -> dict[str, Any]:
    return {**BASE["classification"], "entities": {}, **classification}


def test_mapped_tested_and_own_types_are_looked_for() -> None:
    routes = copy.deepcopy(BASE["routes"])
    routes.insert(0, {"name": "iban", "when": {"any_of": [{"entities_any": ["IBAN_CODE"]}]}, "targets": ["onprem"]})
    classification = {**BASE["classification"],
                      "recognizers": [{"entity": "PROJECT_CODENAME", "words": ["Bluebird"]}]}  # fmt: skip
    loaded = make_policy(routes=routes, classification=classification)
    assert loaded.detects == {"CREDIT_CARD", "EMAIL_ADDRESS", "PERSON", "LOCATION", "IBAN_CODE", "PROJECT_CODENAME",
                              "UNDECODABLE_CONTENT"}  # fmt: skip
    assert loaded.reads_content and reads_content(loaded.policy)
    assert detected_entities(loaded.policy) == loaded.detects


def test_undecodable_content_is_looked_for_unless_ignored() -> None:
    ignoring = make_policy(classification={**BASE["classification"], "on_undecodable": "ignore"})
    assert "UNDECODABLE_CONTENT" not in ignoring.detects
    assert "UNDECODABLE_CONTENT" in make_policy().detects
    assert "UNDECODABLE_CONTENT" not in make_policy(classification=_blind()).detects  # reads nothing at all


def test_the_shipped_policies_look_for_what_they_map() -> None:
    for path in sorted((ROOT / "policies").glob("*.yaml")):
        if path.name.endswith(".tests.yaml"):
            continue
        loaded = load_file(path)
        assert set(loaded.policy.classification.entities) <= loaded.detects, path.name


@pytest.mark.parametrize(
    ("classification", "reads"),
    [
        (_blind(), False),
        (_blind(entities={"PERSON": "internal"}), True),  # mapped to the default level: still evidence
        (_blind(recognizers=[{"entity": "CODENAME", "words": ["Falcon"]}]), True),
    ],
)
def test_a_policy_reads_content_when_anything_can_come_of_it(classification: dict[str, Any], reads: bool) -> None:
    assert make_policy(classification=classification).reads_content is reads


async def test_a_content_blind_policy_classifies_nothing() -> None:
    loaded = make_policy(classification=_blind())
    classifier = KeywordClassifier()
    trace = await explain(loaded, "Card 4111 1111 1111 1111, Jane Doe", None, None, classifier)
    assert classifier.calls == []  # not even asked
    assert trace["level"]["level"] == "internal" and trace["level"]["on_error_applied"] is False
    assert trace["decision"]["route"] == "default"
    assert trace["classification"]["skipped"] and trace["classification"]["looked_for"] == []


def test_validate_says_what_a_content_blind_policy_means_for_on_error() -> None:
    from gateway.policy.checks import check

    problems = check(make_policy(classification=_blind()), None)
    warning = next(p for p in problems if "not classified" in p.message)
    assert warning.severity == "warning" and "on_error ('restricted') never applies" in warning.message
    assert not any("not classified" in p.message for p in check(make_policy(), None))


@pytest.mark.parametrize(
    ("on_undecodable", "mapped", "level"),
    [("on_error", None, "restricted"), ("ignore", None, "internal"), ("ignore", "confidential", "confidential"),
     ("on_error", "confidential", "restricted")],
)  # fmt: skip
def test_undecodable_content_gives_on_error_unless_ignored(on_undecodable: str, mapped: str | None, level: str) -> None:
    entities = {**BASE["classification"]["entities"], **({"UNDECODABLE_CONTENT": mapped} if mapped else {})}
    classification = {**BASE["classification"], "on_undecodable": on_undecodable, "entities": entities}
    policy = make_policy(classification=classification).policy
    assert policy.classification.on_error == "restricted"
    found, _ = level_for(policy, Facts(model="m", entity_types=frozenset({"UNDECODABLE_CONTENT"})))
    assert found == level
