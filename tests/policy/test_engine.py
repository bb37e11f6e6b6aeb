"""``decide`` as a pure function: one table row per condition and effect."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.policy.engine import Facts, UnknownModel, decide, estimate_input_tokens, level_for, permitted
from tests.policy.conftest import BASE, make_policy


def routes_policy(*routes: dict[str, Any], **changes: Any) -> Any:
    return make_policy(routes=[*routes, {"name": "fallback", "targets": ["onprem"]}], **changes).policy


def facts(**kw: Any) -> Facts:
    return Facts(**{"model": "standard", **kw})


# Each row: a route's ``when``, facts that must match it, facts that must not.
CONDITIONS = [
    ("level_at_least", {"level_at_least": "confidential"}, {"entity_types": frozenset({"PERSON"})}, {}),
    ("level_at_most", {"level_at_most": "internal"}, {}, {"entity_types": frozenset({"PERSON"})}),
    (
        "entities_any",
        {"entities_any": ["EMAIL_ADDRESS", "PERSON"]},
        {"entity_types": frozenset({"PERSON", "LOCATION"})},
        {"entity_types": frozenset({"CREDIT_CARD"})},
    ),
    ("entities_any one string", {"entities_any": "PERSON"}, {"entity_types": frozenset({"PERSON"})}, {}),
    ("team", {"team": ["research", "quant"]}, {"team": "quant"}, {"team": "marketing"}),
    ("team one string", {"team": "research"}, {"team": "research"}, {"team": ""}),
    ("tier", {"tier": ["premium"]}, {"model": "premium"}, {"model": "standard"}),
    ("model", {"model": ["standard"]}, {"model": "standard"}, {"model": "premium"}),
    (
        "tokens over",
        {"estimated_input_tokens_over": 100},
        {"estimated_input_tokens": 101},
        {"estimated_input_tokens": 100},
    ),
    (
        "tokens under",
        {"estimated_input_tokens_under": 100},
        {"estimated_input_tokens": 99},
        {"estimated_input_tokens": 100},
    ),
    (
        "all conditions must hold",
        {"team": ["research"], "tier": ["premium"]},
        {"team": "research", "model": "premium"},
        {"team": "research", "model": "standard"},
    ),
    (
        "any_of: one group suffices",
        {"any_of": [{"team": ["research"]}, {"level_at_least": "restricted"}]},
        {"entity_types": frozenset({"CREDIT_CARD"}), "team": "ops"},
        {"team": "ops"},
    ),
    (
        "any_of groups need all their conditions",
        {"any_of": [{"team": ["research"], "tier": ["premium"]}]},
        {"team": "research", "model": "premium"},
        {"team": "research", "model": "standard"},
    ),
    (
        "any_of beside other conditions",
        {"model": ["premium"], "any_of": [{"team": ["a"]}, {"team": ["b"]}]},
        {"model": "premium", "team": "b"},
        {"model": "standard", "team": "b"},
    ),
    ("no conditions", {}, {}, None),
]


@pytest.mark.parametrize(("when", "hit", "miss"), [row[1:] for row in CONDITIONS], ids=[row[0] for row in CONDITIONS])
def test_each_condition(when: dict[str, Any], hit: dict[str, Any], miss: dict[str, Any] | None) -> None:
    policy = routes_policy({"name": "rule", "when": when, "targets": ["onprem"]})
    decision = decide(policy, facts(**hit))
    assert decision.route == "rule"
    assert decision.trace[0].matched and decision.trace[0].reasons == ("all conditions hold",)
    if miss is not None:
        missed = decide(policy, facts(**miss))
        assert missed.route == "fallback"
        assert not missed.trace[0].matched and missed.trace[0].reasons  # says why


def test_first_matching_route_wins() -> None:
    policy = make_policy().policy
    decision = decide(policy, facts(model="premium", entity_types=frozenset({"EMAIL_ADDRESS"})))
    assert decision.route == "sensitive"
    assert [c.route for c in decision.trace] == ["sensitive"]
    plain = decide(policy, facts(model="premium"))
    assert plain.route == "premium"
    assert [(c.route, c.matched) for c in plain.trace] == [("sensitive", False), ("premium", True)]
    assert plain.trace[0].reasons == ("level internal is below confidential",)


@pytest.mark.parametrize(
    ("entities", "error", "level", "raised_by"),
    [
        (set(), None, "internal", ()),
        ({"LOCATION"}, None, "internal", (("LOCATION", "public"),)),  # never below default_level
        ({"PERSON", "CREDIT_CARD"}, None, "restricted", (("CREDIT_CARD", "restricted"), ("PERSON", "confidential"))),
        ({"UNMAPPED"}, None, "internal", ()),
        ({"LOCATION"}, "timeout", "restricted", (("classifier_error", "restricted"),)),  # fail closed
    ],
)
def test_level(entities: set[str], error: str | None, level: str, raised_by: tuple[tuple[str, str], ...]) -> None:
    policy = make_policy().policy
    assert level_for(policy, facts(entity_types=frozenset(entities), classifier_error=error)) == (level, raised_by)


def test_targets_in_order_skipping_what_the_invariant_forbids() -> None:
    policy = routes_policy({"name": "both", "targets": ["external", "onprem"]})
    assert decide(policy, facts()).targets == ("external", "onprem")
    decision = decide(policy, facts(entity_types=frozenset({"PERSON"})))
    assert decision.targets == ("onprem",)
    assert [(e.target, e.reason) for e in decision.excluded] == [("external", "invariant")]
    assert "max_level internal is below confidential" in decision.excluded[0].detail


def test_unavailable_targets_are_excluded_with_their_reason() -> None:
    policy = routes_policy({"name": "both", "targets": ["external", "onprem"]})
    decision = decide(policy, facts(unavailable={"external": "circuit open"}))
    assert decision.targets == ("onprem",)
    assert [(e.target, e.reason, e.detail) for e in decision.excluded] == [("external", "unavailable", "circuit open")]


def test_nothing_permitted_and_up_gives_no_targets_and_no_deny() -> None:
    policy = routes_policy({"name": "ext", "targets": ["external"]})
    decision = decide(policy, facts(entity_types=frozenset({"CREDIT_CARD"})))
    assert decision.route == "ext" and decision.targets == () and decision.deny is None


def test_deny_effect() -> None:
    policy = routes_policy({"name": "no", "when": {"team": ["contractors"]}, "deny": "Not for contractors."})
    decision = decide(policy, facts(team="contractors"))
    assert (decision.route, decision.deny, decision.deny_code, decision.targets) == (
        "no",
        "Not for contractors.",
        "policy_denied",
        (),
    )


@pytest.mark.parametrize(
    ("on_exceed", "over", "targets", "deny_code"),
    [
        ("on_prem_only", True, ("onprem",), None),
        ("on_prem_only", False, ("external", "onprem"), None),
        ("block", True, (), "budget_exceeded"),
    ],
)
def test_budget_effect(on_exceed: str, over: bool, targets: tuple[str, ...], deny_code: str | None) -> None:
    policy = routes_policy(
        {"name": "both", "targets": ["external", "onprem"]},
        budgets=[{"team": "research", "monthly_usd": 10, "on_exceed": on_exceed}],
    )
    decision = decide(policy, facts(team="research", over_budget=over))
    assert decision.targets == targets and decision.deny_code == deny_code
    if over and on_exceed == "on_prem_only":
        assert [(e.target, e.reason) for e in decision.excluded] == [("external", "budget")]


def test_over_budget_without_a_budget_changes_nothing() -> None:
    policy = routes_policy({"name": "both", "targets": ["external", "onprem"]})
    assert decide(policy, facts(team="other", over_budget=True)).targets == ("external", "onprem")


@pytest.mark.parametrize(
    ("cache", "entities", "allowed"),
    [
        ({"ttl_s": 60}, set(), True),  # default ceiling: internal
        ({"ttl_s": 60}, {"PERSON"}, False),
        ({"ttl_s": 60, "max_level": "confidential"}, {"PERSON"}, True),
        ({"ttl_s": 60, "max_level": "public"}, set(), False),
    ],
)
def test_cache_effect(cache: dict[str, Any], entities: set[str], allowed: bool) -> None:
    policy = routes_policy({"name": "cached", "targets": ["onprem"], "cache": cache, "deadline_s": 30})
    decision = decide(policy, facts(entity_types=frozenset(entities)))
    assert decision.cache is not None and decision.cache.ttl_s == 60
    assert decision.cache_allowed is allowed
    assert decision.deadline_s == 30


def test_no_route_matches() -> None:
    policy = make_policy(routes=[{"name": "only-research", "when": {"team": "research"}, "targets": ["onprem"]}])
    decision = decide(policy.policy, facts(team="ops"))
    assert decision.route is None and decision.targets == () and decision.deny is None
    assert len(decision.trace) == 1


def test_unknown_model() -> None:
    with pytest.raises(UnknownModel):
        decide(make_policy().policy, facts(model="nope"))


def test_permitted_defaults() -> None:
    policy = make_policy().policy
    onprem, external = policy.targets["onprem"], policy.targets["external"]
    assert permitted(policy, onprem, "restricted")
    assert permitted(policy, external, "internal") and not permitted(policy, external, "confidential")
    default_external = external.model_copy(update={"max_level": None})
    assert permitted(policy, default_external, "public") and not permitted(policy, default_external, "internal")


def test_estimate_input_tokens() -> None:
    messages = [{"role": "user", "content": "x" * 100}]
    assert estimate_input_tokens(messages) == -(-len('[{"role":"user","content":"' + "x" * 100 + '"}]') // 4)
    assert estimate_input_tokens([]) == 1


def test_base_is_untouched() -> None:
    make_policy(routes=[{"name": "x", "targets": ["onprem"]}])
    assert BASE["routes"][0]["name"] == "sensitive"
