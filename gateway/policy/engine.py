"""Policy evaluation: a pure function from facts to a decision, with its reasons.

No I/O here. Everything the decision depends on arrives in ``Facts``: what the
classifier found, who asks, which targets are down, whether the team is over
budget. The same facts and policy always give the same ``Decision``, which is
what makes ``policy explain``, ``policy test`` and ``policy replay`` honest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from gateway.classify.entities import UNDECODABLE_CONTENT
from gateway.policy.capabilities import missing, unserved_message
from gateway.policy.model import TASK_OF_API, Policy, Route, RouteCache, Target, When

DEFAULT_CACHE_MAX_LEVEL = "internal"
CHARS_PER_TOKEN = 4


def estimate_input_tokens(messages: Any) -> int:
    """A request's input size before any tokenizer sees it: about 4 characters a token.

    ``messages`` are the request's OpenAI messages, measured as compact JSON.
    This is the one estimate behind ``estimated_input_tokens_over/_under``: the
    server, ``policy explain`` and ``policy test`` must all use it.
    """
    return (len(orjson.dumps(messages).decode()) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about a request when it is decided.

    ``entity_types``: types the classifier found (no values).
    ``classifier_error``: set when classification failed: the level is ``on_error``.
    ``unavailable``: target name -> why it cannot be used now (breaker open, key
    not configured...). ``over_budget``: the team's monthly budget is spent.
    ``api``: the kind of call (``chat``, ``embeddings``, ``responses``, ``messages``):
    routes may match on it, and only targets whose ``task`` serves it are candidates.
    ``residual_types`` / ``residual_error``: what the classifier found in the
    request once pseudonymised by the matched route's transform (``None``: not
    pseudonymised); a target the level excludes may receive that content when
    its level is within the target's ``max_level``.
    """

    model: str
    entity_types: frozenset[str] = frozenset()
    classifier_error: str | None = None
    team: str = ""
    estimated_input_tokens: int = 0
    unavailable: Mapping[str, str] = field(default_factory=dict)
    over_budget: bool = False
    residual_types: frozenset[str] | None = None
    residual_error: str | None = None
    needs: frozenset[str] = frozenset()
    """What the request asks of a target (``gateway/policy/capabilities.py``: tools, images...)."""
    api: str = "chat"


@dataclass(frozen=True, slots=True)
class RouteCheck:
    """Why one route did or did not match."""

    route: str
    matched: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Exclusion:
    target: str
    reason: str  # "api", "invariant", "budget", "capability" or "unavailable"
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request, and why.

    ``targets`` are the permitted targets in the order to try; empty with
    ``deny is None`` means nothing that may receive the request is available
    (503, nothing sent). ``deny_code`` is ``policy_denied`` or
    ``budget_exceeded``. ``transformed``: those of ``targets`` that receive the
    pseudonymised content (at ``residual_level``); ``transform_types``: what
    the route's transform replaces; ``transform_wanted``: the route has a
    transform and some target was excluded only by the level, so pseudonymising
    could reach it (decide again with ``Facts.residual_types``).
    """

    level: str
    level_reasons: tuple[tuple[str, str], ...]
    route: str | None
    targets: tuple[str, ...]
    excluded: tuple[Exclusion, ...]
    trace: tuple[RouteCheck, ...]
    deny: str | None = None
    deny_code: str | None = None
    cache: RouteCache | None = None
    cache_allowed: bool = False
    deadline_s: float | None = None
    tier: str | None = None
    transform_types: frozenset[str] = frozenset()
    transformed: tuple[str, ...] = ()
    residual_level: str | None = None
    transform_wanted: bool = False
    unserved: str | None = None
    """Set when every target the level and budget permit lacks what the request asks (tools,
    images...): the client's error (400), with this message; nothing is sent."""


class UnknownModel(Exception):
    """``Facts.model`` is not one of the policy's virtual models."""


def level_for(policy: Policy, facts: Facts) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The request's level, with the (entity type, level) pairs that raised it."""
    c = policy.classification
    if facts.classifier_error:
        return c.on_error, (("classifier_error", c.on_error),)
    rank = policy.rank(c.default_level)
    reasons: list[tuple[str, str]] = []
    for entity in sorted(facts.entity_types):
        mapped = c.entities.get(entity)
        if entity == UNDECODABLE_CONTENT and c.on_undecodable == "on_error":
            mapped = c.on_error if mapped is None else policy.levels[max(policy.rank(mapped), policy.rank(c.on_error))]
        if mapped is None:
            continue
        reasons.append((entity, mapped))
        rank = max(rank, policy.rank(mapped))
    return policy.levels[rank], tuple(reasons)


def level_is_final(policy: Policy, entity_types: frozenset[str]) -> bool:
    """Whether finding more entity types could no longer change the decision.

    True when the types found already give the highest level and no route
    looks at which entities were found (``entities_any``): the classifier may
    then skip its slower passes (NER) for this request.
    """
    level, _ = level_for(policy, Facts(model="", entity_types=entity_types))
    if level != policy.levels[-1]:
        return False
    return not any(_mentions_entities(route.when) for route in policy.routes)


def detected_entities(policy: Policy) -> frozenset[str]:
    """The entity types this policy can use: the classifier looks for these and no others.

    A type counts when ``classification.entities`` maps it to a level (even
    the default level: its findings are evidence in the record), when a route
    tests it (``entities_any``), or when one of the policy's own recognizers
    reports it; and ``UNDECODABLE_CONTENT`` when the policy reads content and
    ``on_undecodable`` is ``on_error``. Detectors of other types would only
    spend time: nothing in this policy reads what they find. (``policy replay`` cannot know whether
    recorded requests held a type their policy did not look for.)
    """
    c = policy.classification
    found = set(c.entities) | {r.entity for r in c.recognizers}
    for route in policy.routes:
        found.update(_entities_tested(route.when))
    if found and c.on_undecodable == "on_error":  # a policy that reads content reads encoded content too
        found.add(UNDECODABLE_CONTENT)
    return frozenset(found)


def reads_content(policy: Policy) -> bool:
    """Whether what a request says can change anything this policy decides or records.

    False only for a policy that uses no entity type at all (``detected_entities``
    is empty): every request then gets ``default_level`` whatever it carries,
    so the gateway does not classify it.
    """
    return bool(detected_entities(policy))


def _entities_tested(when: When) -> set[str]:
    found = set(when.entities_any or ())
    for group in when.any_of or ():
        found |= _entities_tested(group)
    return found


def _mentions_entities(when: When) -> bool:
    return when.entities_any is not None or any(_mentions_entities(g) for g in when.any_of or ())


def serves(target: Target, api: str) -> bool:
    """Whether ``target`` can answer a call of ``api`` (its ``task``: chat models chat, embedding models embed)."""
    return TASK_OF_API.get(api) == target.task


def permitted(policy: Policy, target: Target, level: str) -> bool:
    """The invariant: a target never receives a level above its ``max_level``."""
    return policy.rank(level) <= policy.rank(policy.max_level_of(target))


def decide(policy: Policy, facts: Facts) -> Decision:
    virtual = policy.models.get(facts.model)
    if virtual is None:
        raise UnknownModel(facts.model)
    level, level_reasons = level_for(policy, facts)
    budget = next((b for b in policy.budgets if b.team == facts.team), None)
    over_budget = facts.over_budget and budget is not None
    trace: list[RouteCheck] = []
    for route in policy.routes:
        reasons = match_reasons(policy, route.when, facts, level, virtual.tier)
        matched = not reasons
        trace.append(RouteCheck(route.name, matched, tuple(reasons) or ("all conditions hold",)))
        if not matched:
            continue
        outcome = partial(
            Decision, level=level, level_reasons=level_reasons, route=route.name, trace=tuple(trace), tier=virtual.tier
        )
        if route.deny is not None:
            return outcome(targets=(), excluded=(), deny=route.deny, deny_code="policy_denied")
        if over_budget and budget is not None and budget.on_exceed == "block":
            deny = f"The monthly budget of team {facts.team!r} ({budget.monthly_usd:g} USD) is spent."
            return outcome(targets=(), excluded=(), deny=deny, deny_code="budget_exceeded")
        types = policy.pseudonymized_types(route)
        residual = None
        if types and facts.residual_types is not None:
            residual, _ = level_for(policy, Facts(facts.model, facts.residual_types, facts.residual_error))
        targets, transformed, excluded = _targets(policy, route, facts, level, over_budget, residual)
        excluded_for = {e.reason for e in excluded}
        unserved = None
        if not targets and "capability" in excluded_for and "unavailable" not in excluded_for:
            unserved = unserved_message(facts.needs)
        return outcome(
            targets=targets,
            excluded=excluded,
            cache=route.cache,
            cache_allowed=_cacheable(policy, route, level),
            deadline_s=route.deadline_s,
            transform_types=types,
            transformed=transformed,
            residual_level=residual,
            transform_wanted=bool(types) and any(e.reason == "invariant" for e in excluded) and residual is None,
            unserved=unserved,
        )
    return Decision(
        level=level,
        level_reasons=level_reasons,
        route=None,
        targets=(),
        excluded=(),
        trace=tuple(trace),
        tier=virtual.tier,
    )


def _targets(
    policy: Policy, route: Route, facts: Facts, level: str, over_budget: bool, residual: str | None
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Exclusion, ...]]:
    """The route's targets in order: permitted as the request is, or (``residual`` given) pseudonymised."""
    chosen: list[str] = []
    transformed: list[str] = []
    excluded: list[Exclusion] = []
    for name in route.targets or ():
        target = policy.targets[name]
        ceiling = policy.max_level_of(target)
        as_is = permitted(policy, target, level)
        if not serves(target, facts.api):
            excluded.append(Exclusion(name, "api", f"a {target.task} model cannot serve {facts.api} requests"))
        elif not as_is and (residual is None or not permitted(policy, target, residual)):
            detail = f"max_level {ceiling} is below {level}"
            if residual is not None:
                detail += f"; pseudonymised, the request is still {residual}"
            excluded.append(Exclusion(name, "invariant", detail))
        elif over_budget and target.residency != "on_prem":
            excluded.append(Exclusion(name, "budget", "team over budget: on-prem targets only"))
        elif lacks := missing(target.kind, target.capabilities, facts.needs, facts.estimated_input_tokens):
            excluded.append(Exclusion(name, "capability", "cannot serve " + ", ".join(lacks)))
        elif name in facts.unavailable:
            excluded.append(Exclusion(name, "unavailable", facts.unavailable[name]))
        else:
            chosen.append(name)
            if not as_is:
                transformed.append(name)
    return tuple(chosen), tuple(transformed), tuple(excluded)


def _cacheable(policy: Policy, route: Route, level: str) -> bool:
    if route.cache is None:
        return False
    ceiling = route.cache.max_level or (
        DEFAULT_CACHE_MAX_LEVEL if DEFAULT_CACHE_MAX_LEVEL in policy.levels else policy.levels[0]
    )
    return policy.rank(level) <= policy.rank(ceiling)


def match_reasons(policy: Policy, when: When, facts: Facts, level: str, tier: str) -> list[str]:
    """Reasons the conditions fail; an empty list means they all hold.

    Public so that static checks (``checks.py``) ask the very same question
    as ``decide`` and cannot drift from it.
    """
    failed: list[str] = []
    rank = policy.rank(level)
    if when.level_at_least is not None and rank < policy.rank(when.level_at_least):
        failed.append(f"level {level} is below {when.level_at_least}")
    if when.level_at_most is not None and rank > policy.rank(when.level_at_most):
        failed.append(f"level {level} is above {when.level_at_most}")
    if when.entities_any is not None and not facts.entity_types.intersection(when.entities_any):
        failed.append(f"none of the entities {sorted(when.entities_any)} was found")
    if when.team is not None and facts.team not in when.team:
        failed.append(f"team {facts.team!r} is not in {when.team}")
    if when.tier is not None and tier not in when.tier:
        failed.append(f"tier {tier!r} is not in {when.tier}")
    if when.model is not None and facts.model not in when.model:
        failed.append(f"model {facts.model!r} is not in {when.model}")
    if when.api is not None and facts.api not in when.api:
        failed.append(f"api {facts.api!r} is not in {when.api}")
    over, under = when.estimated_input_tokens_over, when.estimated_input_tokens_under
    if over is not None and not facts.estimated_input_tokens > over:
        failed.append(f"estimated input tokens {facts.estimated_input_tokens} not over {over}")
    if under is not None and not facts.estimated_input_tokens < under:
        failed.append(f"estimated input tokens {facts.estimated_input_tokens} not under {under}")
    if when.any_of is not None:
        groups = [match_reasons(policy, group, facts, level, tier) for group in when.any_of]
        if all(groups):
            failed.append("no group of any_of holds: " + " | ".join("; ".join(g) for g in groups))
    return failed
