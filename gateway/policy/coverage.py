"""Which requests reach which route: the analysis behind the route checks.

Requests are grouped into the kinds a policy can tell apart. A kind is one
value in each of four dimensions: what was detected (an entity-type set, or a
classifier error, which fixes the level), the virtual model (which fixes the
tier) with the API the request came through (each API a route names, plus
one that none names), the team (each team a route names, plus "any other team"), and the
estimated input size (one value per interval between token thresholds).

Each field of ``when`` concerns one dimension, so a group of conditions
matches a box: the product of the values it accepts in each dimension. Those
per-dimension verdicts come from ``engine.match_reasons`` itself, asked about
the group's conditions on that dimension alone, so the analysis cannot drift
from ``decide``. ``any_of`` makes a union of boxes. Boxes are kept as bitsets
(Python integers) over all kinds; first-match-wins is then set arithmetic.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

from gateway.policy.engine import Facts, level_for, match_reasons
from gateway.policy.model import TASK_OF_API, Api, Policy, When, condition_groups

APIS: tuple[str, ...] = get_args(Api)

OTHER_TEAM = ""  # a team no route names
MAX_ENTITY_STATES = 1024

Mask = tuple[bool, ...]
Box = tuple[Mask, Mask, Mask, Mask]  # detected, model, team, size


@dataclass(frozen=True, slots=True)
class RequestKind:
    """One kind of request, as the facts ``decide`` sees."""

    facts: Facts
    level: str
    tier: str

    def describe(self) -> str:
        team = repr(self.facts.team) if self.facts.team else "a team no route names"
        detected = ", ".join(sorted(self.facts.entity_types)) or "nothing"
        if self.facts.classifier_error:
            detected = "a classifier error"
        api = f" through the {self.facts.api} API" if self.facts.api != "chat" else ""
        return (
            f"level {self.level}, model {self.facts.model!r}{api}, {team}, "
            f"about {self.facts.estimated_input_tokens} input tokens, {detected} detected"
        )


@dataclass(frozen=True, slots=True)
class Space:
    """The kinds of request: every combination of the four dimensions' values."""

    states: tuple[tuple[frozenset[str], bool, str], ...]  # entity types, classifier error, level
    models: tuple[tuple[str, str], ...]  # (virtual model, api)
    teams: tuple[str, ...]
    sizes: tuple[int, ...]
    # (facts, level, tier) to ask ``match_reasons`` about, per dimension
    cases: tuple[tuple[tuple[Facts, str, str], ...], ...] = ()

    def kind(self, policy: Policy, index: int) -> RequestKind:
        index, k = divmod(index, len(self.sizes))
        index, t = divmod(index, len(self.teams))
        s, m = divmod(index, len(self.models))
        entities, error, level = self.states[s]
        model, api = self.models[m]
        facts = Facts(
            model=model,
            api=api,
            entity_types=entities,
            classifier_error="classifier error" if error else None,
            team=self.teams[t],
            estimated_input_tokens=self.sizes[k],
        )
        return RequestKind(facts, level, policy.models[model].tier)

    def bits(self, box: Box) -> int:
        """The kinds inside a box, as a bitset."""
        detected, models, teams, sizes = box
        block = _spread(sizes, 1)
        block *= _spread(teams, len(self.sizes))
        width = len(self.sizes) * len(self.teams)
        block *= _spread(models, width)
        width *= len(self.models)
        return block * _spread(detected, width)


def _spread(selected: Mask, width: int) -> int:
    """Bit ``i * width`` set for each selected ``i``: multiplying a block narrower than
    ``width`` bits by it repeats the block at those places (no carries can meet)."""
    buffer = bytearray((len(selected) * width + 7) // 8)
    for i, inside in enumerate(selected):
        if inside:
            position = i * width
            buffer[position >> 3] |= 1 << (position & 7)
    return int.from_bytes(buffer, "little")


@dataclass(slots=True)
class Coverage:
    """Where each kind of request goes, first match wins."""

    levels: list[str]  # levels a request can have, low to high
    matches_alone: list[bool]  # route i's own conditions hold for some request
    first_levels: list[set[str]]  # levels at which route i is the first match
    shadowed_by: list[set[int]]  # earlier routes that take the requests route i matches
    routes_at_level: dict[str, set[int]] = field(default_factory=dict)
    first_apis: list[set[str]] = field(default_factory=list)  # APIs of the requests route i is the first match of
    # level -> (whether no request at that level matches any route, an example that matches none)
    unmatched: dict[str, tuple[bool, RequestKind]] = field(default_factory=dict)


def space_of(policy: Policy) -> Space:
    whens = [group for route in policy.routes for group in condition_groups(route.when)]
    teams = (*sorted({t for w in whens for t in w.team or ()}), OTHER_TEAM)
    starts = {0}
    for w in whens:
        if w.estimated_input_tokens_over is not None:
            starts.add(w.estimated_input_tokens_over + 1)
        if w.estimated_input_tokens_under is not None:
            starts.add(w.estimated_input_tokens_under)
    states = _entity_states(policy, whens)
    sizes = tuple(sorted(starts))
    named = sorted({a for w in whens for a in w.api or ()})
    # Each API a route names, and for each task some target has (chat models, embedding models) one API
    # of that task that no route names: it stands for all of them (they meet the same routes and targets).
    tasks = {"chat"} | {t.task for t in policy.targets.values()}
    unnamed = {TASK_OF_API[a]: a for a in reversed(APIS) if a not in named and TASK_OF_API[a] in tasks}
    apis = (*named, *sorted(unnamed.values(), key=APIS.index))
    pairs = tuple((m, a) for m in policy.models for a in apis)
    bottom = policy.levels[0]
    cases = (
        tuple(
            (Facts(model="", entity_types=entities, classifier_error="error" if error else None), level, "")
            for entities, error, level in states
        ),
        tuple((Facts(model=m, api=a), bottom, policy.models[m].tier) for m, a in pairs),
        tuple((Facts(model="", team=t), bottom, "") for t in teams),
        tuple((Facts(model="", estimated_input_tokens=n), bottom, "") for n in sizes),
    )
    return Space(states, pairs, teams, sizes, cases)


def _entity_states(policy: Policy, whens: Sequence[When]) -> tuple[tuple[frozenset[str], bool, str], ...]:
    """Entity-type sets that differ in level or in which ``entities_any`` they meet.

    Entity types that routes ask about alike (same level, same routes) are
    interchangeable, so one stands for all. Beyond ``MAX_ENTITY_STATES`` only
    smaller combinations are kept: each route still meets every entity type
    it asks about, alone.
    """
    mapped = policy.classification.entities
    mentioned = {e for w in whens for e in w.entities_any or ()}
    signatures: dict[tuple[str | None, tuple[int, ...]], str] = {}
    for entity in sorted(mentioned):
        asked_by = tuple(i for i, w in enumerate(whens) if entity in (w.entities_any or ()))
        signatures.setdefault((mapped.get(entity), asked_by), entity)
    representatives = sorted(signatures.values())
    # Entity types no route asks about matter only through the level they give.
    raisers = {level: e for e, level in sorted(mapped.items(), reverse=True) if e not in mentioned}
    states: dict[tuple[frozenset[str], bool], None] = {}
    for size in range(len(representatives) + 1):
        for subset in itertools.combinations(representatives, size):
            if size > 1 and len(states) >= MAX_ENTITY_STATES:
                break
            states[(frozenset(subset), True)] = None
            for raiser in [None, *raisers.values()]:
                states[(frozenset(subset) | ({raiser} if raiser else set()), False)] = None
    out = []
    for entities, error in states:
        facts = Facts(model="", entity_types=entities, classifier_error="error" if error else None)
        out.append((entities, error, level_for(policy, facts)[0]))
    return tuple(out)


def boxes(policy: Policy, when: When, space: Space) -> list[Box]:
    """The boxes a ``when`` matches: one, or one per ``any_of`` alternative."""

    def verdicts(part: When, dimension: int) -> Mask:
        cases = space.cases[dimension]
        if part == When():
            return (True,) * len(cases)
        return tuple(not match_reasons(policy, part, facts, level, tier) for facts, level, tier in cases)

    base: Box = (
        verdicts(
            When(level_at_least=when.level_at_least, level_at_most=when.level_at_most, entities_any=when.entities_any),
            0,
        ),
        verdicts(When(model=when.model, tier=when.tier, api=when.api), 1),
        verdicts(When(team=when.team), 2),
        verdicts(
            When(
                estimated_input_tokens_over=when.estimated_input_tokens_over,
                estimated_input_tokens_under=when.estimated_input_tokens_under,
            ),
            3,
        ),
    )
    if when.any_of is None:
        return [base]
    return [_meet(base, alternative) for group in when.any_of for alternative in boxes(policy, group, space)]


def _meet(a: Box, b: Box) -> Box:
    d, m, t, s = (tuple(x and y for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True))
    return d, m, t, s


def analyse(policy: Policy) -> Coverage:
    """Put every kind of request through the routes, first match wins."""
    space = space_of(policy)
    n = len(policy.routes)
    coverage = Coverage([], [False] * n, [set() for _ in range(n)], [set() for _ in range(n)])
    block = len(space.models) * len(space.teams) * len(space.sizes)
    ones = (1 << block) - 1
    at_level = {
        level: ones * _spread(tuple(state[2] == level for state in space.states), block)
        for level in {state[2] for state in space.states}
    }
    coverage.levels = [level for level in policy.levels if level in at_level]
    everything = tuple(True for _ in space.states), tuple(True for _ in space.teams), tuple(True for _ in space.sizes)
    at_api = {
        api: space.bits((everything[0], tuple(a == api for _, a in space.models), everything[1], everything[2]))
        for api in {a for _, a in space.models}
    }
    coverage.first_apis = [set() for _ in range(n)]
    taken = 0
    firsts: list[int] = []
    for i, route in enumerate(policy.routes):
        matched = 0
        for box in boxes(policy, route.when, space):
            matched |= space.bits(box)
        first = matched & ~taken
        firsts.append(first)
        coverage.matches_alone[i] = matched != 0
        coverage.shadowed_by[i] = {j for j in range(i) if matched & firsts[j]}
        for level, kinds in at_level.items():
            if first & kinds:
                coverage.first_levels[i].add(level)
                coverage.routes_at_level.setdefault(level, set()).add(i)
        coverage.first_apis[i] = {api for api, kinds in at_api.items() if first & kinds}
        taken |= matched
    for level in coverage.levels:
        missed = at_level[level] & ~taken
        if missed:
            lowest = (missed & -missed).bit_length() - 1
            coverage.unmatched[level] = (missed == at_level[level], space.kind(policy, lowest))
    return coverage
