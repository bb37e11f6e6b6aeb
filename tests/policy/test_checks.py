"""Static checks: warnings and errors a valid policy can still deserve, at their line."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.policy.checks import check
from gateway.policy.loader import LoadedPolicy, Problem, load_file
from tests.policy.conftest import BASE, KNOWN, POLICIES, make_policy

CLASSIFICATION_WITHOUT_PUBLIC = {
    **BASE["classification"],
    "entities": {k: v for k, v in BASE["classification"]["entities"].items() if v != "public"},
}


def loaded_and_problems(known: frozenset[str] | None = KNOWN, **changes: Any) -> tuple[LoadedPolicy, list[Problem]]:
    """The policy and its problems, leaving out "target not used" unless a test asks for it."""
    changes.setdefault("classification", CLASSIFICATION_WITHOUT_PUBLIC)
    loaded = make_policy(**changes)
    return loaded, [p for p in check(loaded, known) if "is not used by any route" not in p.message]


def problems(known: frozenset[str] | None = KNOWN, **changes: Any) -> list[Problem]:
    return loaded_and_problems(known, **changes)[1]


def only(found: list[Problem], fragment: str) -> Problem:
    hits = [p for p in found if fragment in p.message]
    assert len(hits) == 1, "\n".join(map(str, found))
    return hits[0]


def test_the_base_policy_is_clean() -> None:
    assert problems() == []


def test_route_shadowed_by_an_earlier_catch_all() -> None:
    routes = [{"name": "all", "targets": ["onprem"]}, {"name": "late", "when": {"team": "x"}, "targets": ["onprem"]}]
    loaded, found_all = loaded_and_problems(routes=routes)
    found = only(found_all, "'late' is never reached")
    assert found.severity == "warning" and "taken earlier by 'all'" in found.message
    assert (found.line, found.column) == loaded.where(("routes", 1))


def test_route_shadowed_by_a_broader_condition() -> None:
    routes = [
        {"name": "premium", "when": {"tier": "premium"}, "targets": ["onprem"]},
        {"name": "premium-research", "when": {"tier": "premium", "team": "research"}, "targets": ["onprem"]},
        {"name": "default", "targets": ["onprem"]},
    ]
    assert "taken earlier by 'premium'" in only(problems(routes=routes), "'premium-research' is never reached").message


def test_route_shadowed_by_several_earlier_routes_together() -> None:
    routes = [
        {"name": "low", "when": {"level_at_most": "internal"}, "targets": ["onprem"]},
        {"name": "high", "when": {"level_at_least": "confidential"}, "targets": ["onprem"]},
        {"name": "never", "when": {"team": "x"}, "targets": ["onprem"]},
    ]
    assert "by 'low', 'high'" in only(problems(routes=routes), "'never' is never reached").message


def test_a_narrower_route_after_a_broader_one_is_fine_when_it_still_gets_requests() -> None:
    routes = [
        {"name": "research", "when": {"team": "research"}, "targets": ["onprem"]},
        {"name": "premium", "when": {"tier": "premium"}, "targets": ["onprem"]},
        {"name": "default", "targets": ["onprem"]},
    ]
    assert problems(routes=routes) == []


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ({"level_at_least": "restricted", "level_at_most": "internal"}, "level_at_least 'restricted' is above"),
        ({"estimated_input_tokens_over": 500, "estimated_input_tokens_under": 100}, "no request can satisfy"),
        ({"tier": "premium", "model": "standard"}, "no request can satisfy"),
        ({"level_at_most": "public"}, "it needs a level from 'public' to 'public', but requests can only be at"),
    ],
)
def test_route_that_can_never_match(when: dict[str, Any], why: str) -> None:
    routes = [{"name": "odd", "when": when, "targets": ["onprem"]}, {"name": "default", "targets": ["onprem"]}]
    assert why in only(problems(routes=routes), "'odd' can never match").message


def test_targets_that_cannot_receive_any_level_the_route_takes_is_an_error_when_alone() -> None:
    routes = [
        {"name": "sensitive", "when": {"level_at_least": "confidential"}, "targets": ["external"]},
        {"name": "default", "targets": ["onprem"]},
    ]
    loaded, found_all = loaded_and_problems(routes=routes)
    found = only(found_all, "route 'sensitive' takes requests at levels confidential, restricted")
    assert found.severity == "error"
    assert "no other route handles levels confidential, restricted" in found.message
    assert (found.line, found.column) == loaded.where(("routes", 0, "targets"))


def test_targets_that_cannot_receive_is_a_warning_when_other_routes_share_the_level() -> None:
    routes = [
        {"name": "research", "when": {"team": "research"}, "targets": ["external"]},
        {"name": "default", "targets": ["onprem"]},
    ]
    found = only(problems(routes=routes), "route 'research' takes requests at levels confidential, restricted")
    assert found.severity == "warning"


def test_a_target_a_route_never_sends_anything_to() -> None:
    routes = [
        {"name": "sensitive", "when": {"level_at_least": "confidential"}, "targets": ["external", "onprem"]},
        {"name": "default", "targets": ["onprem", "external"]},
    ]
    loaded, found_all = loaded_and_problems(routes=routes)
    found = only(found_all, "target 'external' never receives anything from route 'sensitive'")
    assert found.severity == "warning"
    assert (found.line, found.column) == loaded.where(("routes", 0, "targets", 0))


def test_a_level_no_route_covers_is_an_error() -> None:
    routes = [{"name": "low", "when": {"level_at_most": "internal"}, "targets": ["onprem"]}]
    found = [p for p in problems(routes=routes) if "no route matches requests at level" in p.message]
    assert [(p.severity, p.message.split("'")[1]) for p in found] == [
        ("error", "confidential"),
        ("error", "restricted"),
    ]


def test_a_level_some_requests_miss_is_a_warning_with_an_example() -> None:
    routes = [{"name": "research", "when": {"team": "research"}, "targets": ["onprem"]}]
    found = [p for p in problems(routes=routes) if "match no route" in p.message]
    assert {p.severity for p in found} == {"warning"} and len(found) == 3
    assert "a team no route names" in found[0].message


def test_deny_routes_count_as_covering() -> None:
    routes = [
        {"name": "no-restricted", "when": {"level_at_least": "restricted"}, "deny": "No."},
        {"name": "default", "when": {"level_at_most": "confidential"}, "targets": ["onprem"]},
    ]
    assert problems(routes=routes) == []


def test_only_levels_that_can_occur_need_a_route() -> None:
    # default_level internal and no entity maps to public: nothing is ever public.
    routes = [{"name": "default", "when": {"level_at_least": "internal"}, "targets": ["onprem"]}]
    assert problems(routes=routes) == []


def test_external_target_that_may_receive_detected_entities() -> None:
    found = only(check(make_policy(), KNOWN), "external target 'external' may receive requests containing")
    assert "LOCATION" in found.message and "PERSON" not in found.message
    assert found.severity == "warning"


def test_unknown_entity_types_are_errors_with_a_suggestion() -> None:
    classification = {**CLASSIFICATION_WITHOUT_PUBLIC, "entities": {"CREDIT_CRAD": "restricted"}}
    routes = [{"name": "x", "when": {"entities_any": ["EMAIL_ADRESS"]}, "targets": ["onprem"]}, *BASE["routes"]]
    loaded, found = loaded_and_problems(classification=classification, routes=routes)
    assert "did you mean 'CREDIT_CARD'" in only(found, "'CREDIT_CRAD'").message
    entity = only(found, "'EMAIL_ADRESS'")
    assert entity.severity == "error"
    assert (entity.line, entity.column) == loaded.where(("routes", 0, "when", "entities_any", 0))


def test_policy_recognizers_provide_entity_types() -> None:
    classification = {
        **CLASSIFICATION_WITHOUT_PUBLIC,
        "entities": {"PROJECT_CODENAME": "confidential"},
        "recognizers": [{"entity": "PROJECT_CODENAME", "words": ["Falcon"]}],
    }
    assert problems(classification=classification) == []


def test_entity_names_are_not_checked_without_a_classifier() -> None:
    classification = {**CLASSIFICATION_WITHOUT_PUBLIC, "entities": {"ANYTHING": "restricted"}}
    assert problems(known=None, classification=classification) == []


def test_on_error_below_what_detections_give() -> None:
    classification = {**CLASSIFICATION_WITHOUT_PUBLIC, "on_error": "internal"}
    found = only(problems(classification=classification), "on_error is 'internal'")
    assert "fail closed" in found.message


def test_unused_target() -> None:
    targets = {**BASE["targets"], "spare": {"kind": "transformers", "model": "m", "residency": "on_prem"}}
    found = check(make_policy(targets=targets, classification=CLASSIFICATION_WITHOUT_PUBLIC), KNOWN)
    assert [p.message for p in found] == ["target 'spare' is not used by any route"]


def test_test_cases_naming_things_that_do_not_exist() -> None:
    tests = [
        {"name": "a", "text": "x", "model": "nope", "expect": {"route": "nowhere"}},
        {"name": "a", "text": "x", "unavailable": ["ghost"], "expect": {"target": "ghost", "level": "secret"}},
        {"name": "b", "request": {"model": "gone", "messages": []}, "expect": {"entities": ["CREDIT_CRAD"]}},
    ]
    found = problems(tests=tests)
    assert {p.severity for p in found} == {"error"}
    messages = " | ".join(p.message for p in found)
    for fragment in [
        "unknown model 'nope'",
        "unknown route 'nowhere'",
        "a second test case named 'a'",
        "unknown target 'ghost'",
        "unknown level 'secret'",
        "unknown model 'gone'",
        "did you mean 'CREDIT_CARD'",
    ]:
        assert fragment in messages
    assert len(found) == 8  # 'ghost' twice: unavailable and expect.target


SHIPPED = sorted(p for p in POLICIES.glob("*.yaml") if not p.name.endswith(".tests.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policies_have_no_problems(path: Any) -> None:
    try:
        from gateway.classify import KNOWN_ENTITIES

        known: frozenset[str] | None = frozenset(KNOWN_ENTITIES)
    except ImportError:
        known = None
    assert check(load_file(path), known) == []


def large_policy() -> LoadedPolicy:
    """40 entity types, 30 routes over entity types, teams and sizes: ``bench/policy_checks.py`` times it."""
    entities = {f"E{i}": ["internal", "confidential", "restricted"][i % 3] for i in range(40)}
    routes = [
        {
            "name": f"r{i}",
            "when": {
                "entities_any": [f"E{i}", f"E{(i * 7) % 40}"],
                "team": [f"t{i % 5}"],
                "estimated_input_tokens_over": 100 * i,
            },
            "targets": ["onprem"],
        }
        for i in range(30)
    ] + [{"name": "default", "targets": ["onprem"]}]
    classification = {**CLASSIFICATION_WITHOUT_PUBLIC, "entities": entities}
    return make_policy(classification=classification, routes=routes)


def test_checks_on_a_large_policy_find_exactly_the_shadowed_route() -> None:
    """r25 (E25 or E15, team t0, over 2500 tokens) is covered by r15 (E15 or E25, team t0, over 1500);
    every other route keeps some request of its own. Speed: ``bench/policy_checks.py``."""
    problems = check(large_policy(), None)
    assert [(p.severity, p.message.split(":")[0]) for p in problems] == [
        ("warning", "target 'external' is not used by any route"),
        ("warning", "external target 'external' may receive requests containing E0, E12, E15, E18, E21, E24, E27, "
         "E3, E30, E33, E36, E39, E6, E9"),
        ("warning", "route 'r25' is never reached"),
    ]  # fmt: skip
    assert "taken earlier by 'r0', 'r10', 'r15'" in problems[2].message
