"""A route's transform in the policy: validated, decided, explained, tested as the server does it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.policy.checks import check
from gateway.policy.engine import Facts, decide
from gateway.policy.explain import explain
from gateway.policy.loader import PolicyError
from gateway.policy.model import TestCase
from gateway.policy.testing import run_case
from tests.policy.conftest import BASE, KNOWN, KeywordClassifier, make_policy

CARD = "4111 1111 1111 1111"


def _routes(transform: Any = "pseudonymize") -> list[dict[str, Any]]:
    return [
        {"name": "drafting", "when": {"level_at_least": "confidential", "tier": "premium"},
         "targets": ["external", "onprem"], "transform": transform},
        *BASE["routes"],
    ]  # fmt: skip


def test_the_default_types_are_those_below_the_highest_level() -> None:
    policy = make_policy(routes=_routes()).policy
    assert policy.pseudonymized_types(policy.routes[0]) == {"EMAIL_ADDRESS", "PERSON", "LOCATION"}
    listed = make_policy(routes=_routes({"pseudonymize": ["PERSON", "CREDIT_CARD"]})).policy
    assert listed.pseudonymized_types(listed.routes[0]) == {"PERSON", "CREDIT_CARD"}


def test_validate_explains_what_goes_where_and_names_every_mistake() -> None:
    notes = [p for p in check(make_policy(routes=_routes()), KNOWN) if p.severity == "note"]
    assert len(notes) == 1 and "only pseudonymised" in notes[0].message and "'external'" in notes[0].message
    named = check(make_policy(routes=_routes({"pseudonymize": ["PERSON", "CREDIT_CARD", "PERSN"]})), KNOWN)
    assert any(p.severity == "error" and "PERSN" in p.message for p in named)
    assert any(p.severity == "warning" and "CREDIT_CARD (restricted) may leave" in p.message for p in named)
    with pytest.raises(PolicyError, match="cannot have 'transform'"):
        make_policy(routes=[{"name": "no", "deny": "no", "transform": "pseudonymize"}, *BASE["routes"]])


def test_the_decision_takes_the_residual_level_for_the_excluded_targets_only() -> None:
    policy = make_policy(routes=_routes()).policy
    first = decide(policy, Facts("premium", frozenset({"PERSON"})))
    assert first.transform_wanted and first.targets == ("onprem",) and first.transformed == ()
    after = decide(policy, Facts("premium", frozenset({"PERSON"}), residual_types=frozenset()))
    assert after.targets == ("external", "onprem") and after.transformed == ("external",)
    assert after.residual_level == "internal" and not after.transform_wanted
    still = decide(policy, Facts("premium", frozenset({"PERSON", "CREDIT_CARD"}),
                                 residual_types=frozenset({"CREDIT_CARD"})))  # fmt: skip
    assert still.targets == ("onprem",) and still.transformed == ()
    assert "pseudonymised, the request is still restricted" in still.excluded[0].detail


async def test_explain_and_test_show_the_transform_by_types_and_counts_never_values() -> None:
    loaded = make_policy(routes=_routes())
    text = "Write to Jane Doe at jane@example.org and again to Jane Doe."
    result = await explain(loaded, text, None, "premium", KeywordClassifier())
    assert result["transform"] == {
        "kind": "pseudonymize", "entity_types": ["EMAIL_ADDRESS", "LOCATION", "PERSON"], "applied": True,
        "replaced": {"EMAIL_ADDRESS": 1, "PERSON": 1}, "residual_entities": [], "residual_level": "internal",
        "targets_receiving_pseudonymised": ["external"],
    }  # fmt: skip
    assert result["decision"]["first_target"] == "external"
    shown = json.dumps(result)
    assert "Jane" not in shown and "jane@" not in shown and "<PERSON" not in shown
    with_card = await explain(loaded, f"{text} Card {CARD}.", None, "premium", KeywordClassifier())
    assert with_card["transform"]["applied"] is False and with_card["decision"]["first_target"] == "onprem"
    case = TestCase.model_validate({"name": "goes out masked", "text": text, "model": "premium",
                                    "expect": {"target": "external", "residency": "external"}})  # fmt: skip
    assert await run_case(loaded, case, KeywordClassifier()) == []


def test_replay_says_the_residual_is_not_knowable() -> None:
    from decimal import Decimal

    from gateway.policy.replay import RecordedFacts, render_table, replay

    policy = make_policy(routes=_routes()).policy
    record = RecordedFacts(model="premium", team="t", entity_types="PERSON", classifier_error=False,
                           estimated_input_tokens=10, tokens_in=10, tokens_out=5, cost_usd=Decimal(0),
                           route="sensitive", target="onprem", residency="on_prem", level="confidential")  # fmt: skip
    report = replay(policy, [record, record])
    assert report.pseudonymizable == {"drafting": 2}
    assert "Would try pseudonymising (drafting: 2)" in render_table(report, "replay")
    assert report.to_json()["not_knowable"]["pseudonymizable_by_route"] == {"drafting": 2}
