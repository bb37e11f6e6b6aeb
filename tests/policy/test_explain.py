"""``explain``: the full decision trace for one request, never a detected value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.policy.engine import estimate_input_tokens
from gateway.policy.explain import explain
from tests.policy.conftest import BASE, KeywordClassifier, make_policy

pytest.importorskip("gateway.classify.extract", reason="gateway.classify.extract is not available yet")

CARD = "4111 1111 1111 1111"


async def trace(
    text_or_request: str | dict[str, Any], *, model: str | None = "premium", team: str | None = None, **kw: Any
) -> dict[str, Any]:
    loaded = kw.pop("loaded", None) or make_policy()
    classifier = kw.pop("classifier", None) or KeywordClassifier()
    return await explain(loaded, text_or_request, team, model, classifier, **kw)


async def test_a_card_number_is_traced_by_type_and_level_never_by_value() -> None:
    result = await trace(f"My card {CARD} was declined")
    assert CARD not in json.dumps(result) and "4111" not in json.dumps(result)
    assert result["classification"]["entities"] == [
        {"type": "CREDIT_CARD", "level": "restricted", "score": 0.9, "effect": "raises the level to restricted"}
    ]
    assert result["level"] == {
        "level": "restricted",
        "default_level": "internal",
        "raised_by": [{"entity": "CREDIT_CARD", "level": "restricted"}],
        "on_error_applied": False,
    }
    assert [(r["route"], r["evaluated"], r["matched"]) for r in result["routes"]] == [
        ("sensitive", True, True),
        ("premium", False, False),
        ("default", False, False),
    ]
    assert result["routes"][1]["reasons"] == ["not evaluated: route 'sensitive' matched first"]
    decision = result["decision"]
    assert (decision["outcome"], decision["http_status"], decision["route"]) == ("targets", 200, "sensitive")
    assert decision["targets"] == [
        {"target": "onprem", "model": "m", "residency": "on_prem", "max_level": "restricted", "capabilities": {
            "tools": False, "json_schema": False, "json_object": False, "images": False, "logprobs": False,
            "vllm_extras": False, "context_tokens": None}}
    ]
    assert (decision["first_target"], decision["residency"]) == ("onprem", "on_prem")


async def test_every_route_considered_says_why_it_did_not_match() -> None:
    result = await trace("What is a bond?")
    assert result["routes"][0] == {
        "route": "sensitive",
        "line": make_policy().where(("routes", 0))[0],
        "evaluated": True,
        "matched": False,
        "reasons": ["level internal is below confidential"],
    }
    assert result["routes"][1]["matched"] and result["decision"]["route"] == "premium"
    assert [t["target"] for t in result["decision"]["targets"]] == ["external", "onprem"]
    assert result["request"] == {
        "model": "premium",
        "api": "chat",
        "tier": "premium",
        "team": None,
        "estimated_input_tokens": estimate_input_tokens([{"role": "user", "content": "What is a bond?"}]),
        "needs": [],
        "over_budget": False,
        "unavailable": {},
    }


async def test_excluded_targets_carry_their_reason() -> None:
    routes = [{"name": "any", "targets": ["external", "onprem"]}]
    budgets = [{"team": "research", "monthly_usd": 5, "on_exceed": "on_prem_only"}]
    loaded = make_policy(routes=routes, budgets=budgets)
    invariant = await trace("Ask Jane Doe", loaded=loaded)
    assert invariant["excluded"] == [
        {"target": "external", "reason": "invariant", "detail": "max_level internal is below confidential"}
    ]
    budget = await trace("hello", loaded=loaded, team="research", over_budget=True)
    assert [(e["target"], e["reason"]) for e in budget["excluded"]] == [("external", "budget")]
    health = await trace("hello", loaded=loaded, unavailable={"external": "circuit open"})
    assert health["excluded"] == [{"target": "external", "reason": "unavailable", "detail": "circuit open"}]
    nothing = await trace("hello", loaded=loaded, unavailable={"external": "down", "onprem": "down"})
    assert nothing["decision"]["outcome"] == "no_target_available" and nothing["decision"]["http_status"] == 503


async def test_denied_no_route_and_unknown_model() -> None:
    deny = make_policy(routes=[{"name": "no", "when": {"team": "contractors"}, "deny": "Not you."}])
    denied = await trace("hello", loaded=deny, team="contractors")
    expected = {
        "outcome": "denied",
        "http_status": 403,
        "deny": "Not you.",
        "deny_code": "policy_denied",
        "targets": [],
    }
    assert {key: denied["decision"][key] for key in expected} == expected
    unmatched = await trace("hello", loaded=deny, team="ops")
    assert (unmatched["decision"]["outcome"], unmatched["decision"]["route"]) == ("no_route", None)
    unknown = await trace("hello", model="gpt-5")
    assert unknown["decision"]["outcome"] == "model_not_found" and unknown["routes"] == []


@pytest.mark.parametrize(
    ("classifier", "request_body", "error"),
    [
        (KeywordClassifier(error="timeout"), None, "timeout"),
        (KeywordClassifier(raises=True), None, "exception"),
        (
            KeywordClassifier(),
            {"model": "premium", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
            "unscannable_content",
        ),
    ],
)
async def test_classifier_failures_fail_closed(
    classifier: KeywordClassifier, request_body: dict[str, Any] | None, error: str
) -> None:
    result = await trace(request_body or "hello", classifier=classifier, model=None if request_body else "premium")
    assert result["classification"]["error"] == error
    assert result["level"]["level"] == BASE["classification"]["on_error"]
    assert result["level"]["on_error_applied"] is True
    assert result["decision"]["route"] == "sensitive"


async def test_a_request_body_every_text_is_classified_and_model_can_be_overridden() -> None:
    classifier = KeywordClassifier()
    body = {
        "model": "standard",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "write to jane.doe@example.com"}]},
        ],
    }
    result = await trace(body, model=None, classifier=classifier)
    assert result["request"]["model"] == "standard"
    assert result["level"]["level"] == "confidential"
    assert classifier.calls == [["Be brief.", "write to jane.doe@example.com"]]
    overridden = await trace(body, model="premium")
    assert overridden["request"]["model"] == "premium"


async def test_a_text_without_a_model_uses_the_first_virtual_model() -> None:
    result = await trace("hello", model=None)
    assert result["request"]["model"] == next(iter(BASE["models"]))
