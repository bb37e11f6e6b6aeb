"""Properties that must hold for every policy and every request, checked on random ones."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy.coverage import analyse
from gateway.policy.engine import Facts, decide, level_for, permitted
from gateway.policy.loader import load_file
from gateway.policy.model import Policy, reference_problems
from tests.policy.conftest import POLICIES

LEVELS = ["public", "internal", "confidential", "restricted"]
ENTITIES = ["CREDIT_CARD", "PERSON", "EMAIL_ADDRESS", "LOCATION", "IBAN_CODE"]
TEAMS = ["research", "ops", "payments"]
SHIPPED = [load_file(p).policy for p in sorted(POLICIES.glob("*.yaml")) if not p.name.endswith(".tests.yaml")]

levels = st.sampled_from(LEVELS)


def when_groups(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {
        "level_at_least": levels,
        "level_at_most": levels,
        "entities_any": st.lists(st.sampled_from(ENTITIES), min_size=1, max_size=2, unique=True),
        "team": st.lists(st.sampled_from(TEAMS), min_size=1, max_size=2, unique=True),
        "tier": st.lists(st.sampled_from(["standard", "premium"]), min_size=1, max_size=1),
        "model": st.lists(st.sampled_from(["m1", "m2", "m3"]), min_size=1, max_size=2, unique=True),
        "estimated_input_tokens_over": st.integers(0, 300),
        "estimated_input_tokens_under": st.integers(1, 300),
    }
    if depth > 0:
        fields["any_of"] = st.lists(when_groups(depth - 1), min_size=1, max_size=2)
    return st.fixed_dictionaries({}, optional=fields)  # type: ignore[arg-type]


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    target_names = [f"t{i}" for i in range(draw(st.integers(1, 4)))]
    targets = {
        name: {
            "kind": "transformers",
            "model": "m",
            "residency": draw(st.sampled_from(["on_prem", "external"])),
            **({"max_level": draw(levels)} if draw(st.booleans()) else {}),
        }
        for name in target_names
    }
    routes = []
    for i in range(draw(st.integers(1, 5))):
        route: dict[str, Any] = {"name": f"r{i}", "when": draw(when_groups(1))}
        if draw(st.integers(0, 4)) == 0:
            route["deny"] = "no"
        else:
            route["targets"] = draw(st.lists(st.sampled_from(target_names), min_size=1, max_size=3, unique=True))
        routes.append(route)
    data = {
        "version": 1,
        "name": "random",
        "levels": LEVELS,
        "classification": {
            "default_level": draw(levels),
            "on_error": draw(levels),
            "entities": draw(st.dictionaries(st.sampled_from(ENTITIES), levels, max_size=5)),
        },
        "targets": targets,
        "models": {"m1": {"tier": "standard"}, "m2": {"tier": "premium"}, "m3": {"tier": "premium"}},
        "routes": routes,
        "budgets": [
            {"team": team, "monthly_usd": 1, "on_exceed": draw(st.sampled_from(["block", "on_prem_only"]))}
            for team in draw(st.lists(st.sampled_from(TEAMS), max_size=2, unique=True))
        ],
    }
    policy = Policy.model_validate(data)
    assert reference_problems(policy) == []
    return policy


@st.composite
def facts_for(draw: st.DrawFn, policy: Policy) -> Facts:
    return Facts(
        model=draw(st.sampled_from(sorted(policy.models))),
        entity_types=frozenset(
            draw(st.lists(st.sampled_from([*ENTITIES, "UNMAPPED", *policy.classification.entities])))
        ),
        classifier_error=draw(st.sampled_from([None, None, None, "timeout"])),
        team=draw(st.sampled_from(["", "other", *TEAMS])),
        estimated_input_tokens=draw(st.integers(0, 400)),
        unavailable={t: "down" for t in draw(st.lists(st.sampled_from(sorted(policy.targets)), unique=True))},
        over_budget=draw(st.booleans()),
    )


@st.composite
def policy_and_facts(draw: st.DrawFn) -> tuple[Policy, Facts]:
    policy = draw(st.one_of(policies(), st.sampled_from(SHIPPED)))
    return policy, draw(facts_for(policy))


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(policy_and_facts(), st.lists(st.sampled_from([*ENTITIES, "SWIFT_CODE", "UNMAPPED"])))
def test_more_entity_types_never_lower_the_level(case: tuple[Policy, Facts], more: list[str]) -> None:
    policy, facts = case
    before, _ = level_for(policy, facts)
    after, _ = level_for(policy, Facts(**{**_fields(facts), "entity_types": facts.entity_types | set(more)}))
    assert policy.rank(after) >= policy.rank(before)
    assert policy.rank(before) >= policy.rank(policy.classification.default_level) or facts.classifier_error


@PROPERTY
@given(policy_and_facts())
def test_chosen_targets_are_always_permitted_for_the_level(case: tuple[Policy, Facts]) -> None:
    policy, facts = case
    decision = decide(policy, facts)
    for name in decision.targets:
        assert permitted(policy, policy.targets[name], decision.level)
        assert name not in facts.unavailable
        if facts.over_budget and any(b.team == facts.team for b in policy.budgets):
            assert policy.targets[name].residency == "on_prem"
    route = next((r for r in policy.routes if r.name == decision.route), None)
    if route is not None and route.targets is not None and decision.deny is None:
        # every target of the route is either chosen or excluded with a reason
        assert sorted([*decision.targets, *(e.target for e in decision.excluded)]) == sorted(route.targets)


@PROPERTY
@given(policy_and_facts())
def test_a_deny_never_yields_a_target(case: tuple[Policy, Facts]) -> None:
    policy, facts = case
    decision = decide(policy, facts)
    if decision.deny is not None:
        assert decision.targets == () and decision.deny_code in {"policy_denied", "budget_exceeded"}
    route = next((r for r in policy.routes if r.name == decision.route), None)
    if route is not None and route.deny is not None:
        assert decision.deny == route.deny and decision.targets == ()


@PROPERTY
@given(policy_and_facts())
def test_the_static_analysis_agrees_with_decide(case: tuple[Policy, Facts]) -> None:
    """What ``checks`` calls unreachable or uncovered, ``decide`` never reaches."""
    policy, facts = case
    coverage = analyse(policy)
    decision = decide(policy, facts)
    assert decision.level in coverage.levels
    if decision.route is None:
        assert decision.level in coverage.unmatched
    else:
        index = [r.name for r in policy.routes].index(decision.route)
        assert coverage.matches_alone[index]
        assert decision.level in coverage.first_levels[index]
        assert index in coverage.routes_at_level[decision.level]


def _fields(facts: Facts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in Facts.__dataclass_fields__}
