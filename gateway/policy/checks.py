"""Static checks: what a valid policy can still get wrong, found before it goes live.

``check`` returns errors and warnings with the file, line and column of what
they are about. Route reachability and coverage are not guessed from the
text: ``coverage.analyse`` puts every kind of request the policy can tell
apart through the routes with the engine's own matching, so a route reported
unreachable is unreachable under ``decide``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway.policy.capabilities import NEEDS, WORDS, effective
from gateway.policy.coverage import APIS, Coverage, analyse
from gateway.policy.engine import permitted, reads_content
from gateway.policy.loader import LoadedPolicy, PolicyError, Problem, position_of
from gateway.policy.model import TASK_OF_API, Path, Policy, Route, TestCase, When, groups_with_paths
from gateway.policy.schema import missing_schema


class Report(Protocol):
    def __call__(self, path: Path, message: str, severity: str = "warning") -> None: ...


def check(loaded: LoadedPolicy, known_entities: frozenset[str] | None) -> list[Problem]:
    """Every error and warning about a loaded policy, in file order.

    ``known_entities``: the entity types the built-in classifier can detect;
    ``None`` skips the check that entity names exist (no classifier at hand).
    """
    problems: list[Problem] = []

    def report(path: Path, message: str, severity: str = "warning") -> None:
        line, col = loaded.where(path)
        problems.append(Problem(loaded.path, line, col, message, severity))

    policy = loaded.policy
    _check_entities(policy, known_entities, report)
    _check_fail_closed(policy, report)
    _check_content_blind(policy, report)
    _check_exposure(policy, report)
    _check_unused_targets(policy, report)
    _check_routes(policy, analyse(policy), report)
    problems.extend(check_cases(policy, policy.tests, loaded.positions, loaded.path, ("tests",), known_entities))
    problems.extend(_check_schema_line(loaded))
    return sorted(problems, key=lambda p: (p.line, p.column))


def capability_notes(loaded: LoadedPolicy) -> list[Problem]:
    """A note per route whose targets, all of them, lack something a request may ask (tool calling,
    JSON output, images, log probabilities): such requests are answered 400 there, whatever their
    level (``gateway/policy/capabilities.py``). Shown by ``policy validate``; not a warning."""
    policy, notes = loaded.policy, []
    for i, route in enumerate(policy.routes):
        can = [effective(policy.targets[name].kind, policy.targets[name].capabilities) for name in route.targets or ()]
        lacking = [WORDS[need] for need in NEEDS if need != "vllm_extras" and not any(c[need] for c in can)]
        if can and lacking:
            line, col = loaded.where(("routes", i, "targets"))
            message = (
                f"route {route.name!r}: none of its targets can serve {', '.join(lacking)}; requests asking "
                "for that are answered 400 here (targets declare 'capabilities')"
            )
            notes.append(Problem(loaded.path, line, col, message, "note"))
    return notes


def check_partial(error: PolicyError, file: str, known_entities: frozenset[str] | None) -> list[Problem]:
    """The errors ``check`` would also find in a policy that failed to load (entity names, test
    cases), in what of it validated; nothing when it did not parse."""
    partial = error.partial
    if partial is None:
        return []
    problems: list[Problem] = []

    def report(path: Path, message: str, severity: str = "warning") -> None:
        line, col = position_of(error.positions, partial.original(path))
        problems.append(Problem(file, line, col, message, severity))

    _check_entities(partial.policy, known_entities, report)
    problems += check_cases(
        partial.policy, partial.policy.tests, error.positions, file, ("tests",), known_entities,
        indices=partial.indices.get("tests"),
    )  # fmt: skip
    return problems


def _check_schema_line(loaded: LoadedPolicy) -> list[Problem]:
    """A schema line naming a file that is not there (a policy copied out of ``policies/``)."""
    if loaded.path.startswith("<") or (missing := missing_schema(loaded.source, loaded.path)) is None:
        return []
    line, col, ref = missing
    return [
        Problem(
            loaded.path, line, col,
            f"the schema line points at {ref!r}, which is not beside this file: editors cannot complete or "
            "check it; write it there with `gateway policy schema --output` (or start policies with "
            "`gateway policy new FILE`)",
            "warning",
        )
    ]  # fmt: skip


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def provided_entities(policy: Policy, known_entities: frozenset[str]) -> frozenset[str]:
    """Entity types something can detect: the classifier's and the policy's own recognizers'."""
    return known_entities | {r.entity for r in policy.classification.recognizers}


def _unknown_entity(name: str, provided: frozenset[str]) -> str | None:
    if name in provided:
        return None
    close = difflib.get_close_matches(name, sorted(provided), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"unknown entity type {name!r}: no recognizer detects it; {hint}"
        "add a recognizer for it under classification.recognizers, or see policies/README.md for the built-in types"
    )


def _check_entities(policy: Policy, known: frozenset[str] | None, report: Report) -> None:
    if known is None:
        return
    provided = provided_entities(policy, known)
    for name in policy.classification.entities:
        if message := _unknown_entity(name, provided):
            report(("classification", "entities", name, "__key__"), message, "error")
    for i, route in enumerate(policy.routes):
        for path, group in groups_with_paths(route.when, ("routes", i, "when")):
            for k, name in enumerate(group.entities_any or ()):
                if message := _unknown_entity(name, provided):
                    report((*path, "entities_any", k), message, "error")
        if route.transform is not None and not isinstance(route.transform, str):
            for k, name in enumerate(route.transform.pseudonymize or ()):
                if message := _unknown_entity(name, provided):
                    report(("routes", i, "transform", "pseudonymize", k), message, "error")


def _check_fail_closed(policy: Policy, report: Report) -> None:
    c = policy.classification
    highest = max((policy.rank(level) for level in c.entities.values()), default=-1)
    if policy.rank(c.on_error) < highest:
        report(
            ("classification", "on_error"),
            f"on_error is {c.on_error!r}, below {policy.levels[highest]!r} that detections can give: "
            "a classifier failure would be treated as less sensitive than a finding (fail closed instead)",
        )


def _check_content_blind(policy: Policy, report: Report) -> None:
    """A policy that uses no entity type is not classified: say what that means for ``on_error``."""
    c = policy.classification
    if reads_content(policy) or c.on_error == c.default_level:
        return
    report(
        ("classification", "entities"),
        f"this policy uses no entity type, so requests are not classified: every request gets "
        f"{c.default_level!r} and on_error ({c.on_error!r}) never applies, not even to content that cannot "
        "be scanned (images, files)",
    )


def _check_exposure(policy: Policy, report: Report) -> None:
    mapped = policy.classification.entities
    if not mapped:
        return
    lowest = min(policy.rank(level) for level in mapped.values())
    for name, target in policy.targets.items():
        ceiling = policy.max_level_of(target)
        if target.residency != "external" or policy.rank(ceiling) < lowest:
            continue
        exposed = sorted(e for e, level in mapped.items() if policy.rank(level) <= policy.rank(ceiling))
        path: Path = ("targets", name, "max_level") if target.max_level else ("targets", name)
        report(
            path,
            f"external target {name!r} may receive requests containing {', '.join(exposed)}: "
            f"their level is at or below its max_level {ceiling!r}",
        )


def _check_unused_targets(policy: Policy, report: Report) -> None:
    used = {t for route in policy.routes for t in route.targets or ()}
    for name in policy.targets:
        if name not in used:
            report(("targets", name, "__key__"), f"target {name!r} is not used by any route")


# -- routes ---------------------------------------------------------------------------------


def _check_routes(policy: Policy, coverage: Coverage, report: Report) -> None:
    for i, route in enumerate(policy.routes):
        where: Path = ("routes", i)
        if not coverage.matches_alone[i]:
            report(where, f"route {route.name!r} can never match: {_never_because(policy, route.when, coverage)}")
        elif not coverage.first_levels[i]:
            earlier = ", ".join(repr(policy.routes[j].name) for j in sorted(coverage.shadowed_by[i]))
            report(
                where,
                f"route {route.name!r} is never reached: every request it matches is taken "
                f"earlier by {earlier} (first match wins; move it up or narrow the earlier route)",
            )
        elif route.targets is not None:
            _check_route_targets(policy, i, coverage, report)
            _check_route_apis(policy, i, coverage, report)
    for level, (entirely, example) in coverage.unmatched.items():
        if entirely:
            report(
                ("routes",),
                f"no route matches requests at level {level!r}: they would be refused with "
                "503 no_target_available (add a route for them, or one without 'when' at the end)",
                "error",
            )
        else:
            report(
                ("routes",),
                f"some requests at level {level!r} match no route and would be refused with 503 "
                f"no_target_available, e.g. {example.describe()} (add a route without 'when' at the end)",
            )


def _check_route_apis(policy: Policy, i: int, coverage: Coverage, report: Report) -> None:
    """A route that is the first match of some API's requests, with no target that serves that API."""
    route = policy.routes[i]
    served = {policy.targets[name].task for name in route.targets or ()}
    for api in sorted(coverage.first_apis[i], key=APIS.index):
        task = TASK_OF_API[api]
        if task not in served:
            report(
                ("routes", i, "targets"),
                f"route {route.name!r} is the first match of {api} requests, but none of its targets is "
                f"{'an embedding' if task == 'embeddings' else 'a chat'} model (task: {task}): they would be "
                f"refused with 400 model_not_supported (add one, or a route with `when: {{api: [{api}]}}` above it)",
            )


def _check_route_targets(policy: Policy, i: int, coverage: Coverage, report: Report) -> None:
    route = policy.routes[i]
    levels = [level for level in coverage.levels if level in coverage.first_levels[i]]
    targets = [(name, policy.targets[name]) for name in route.targets or ()]
    pseudonymized = policy.pseudonymized_types(route)
    for j, (name, target) in enumerate(targets):
        above = [level for level in levels if not permitted(policy, target, level)]
        if pseudonymized and above:
            _explain_transform(policy, route, name, above, (("routes", i, "targets", j)), report)
        elif not any(permitted(policy, target, level) for level in levels):
            report(
                ("routes", i, "targets", j),
                f"target {name!r} never receives anything from route {route.name!r}: the route only "
                f"takes requests at {_listed(levels)}, above the target's max_level {policy.max_level_of(target)!r}",
            )
    stranded = [level for level in levels if not any(permitted(policy, t, level) for _, t in targets)]
    if not stranded:
        return
    alone = [level for level in stranded if coverage.routes_at_level.get(level) == {i}]
    ceilings = ", ".join(f"{name}: {policy.max_level_of(t)}" for name, t in targets)
    message = (
        f"route {route.name!r} takes requests at {_listed(stranded)} but none of its targets may receive "
        f"them (max_level {ceilings}): they would be refused with 503 no_target_available"
    )
    if alone:
        message += f"; no other route handles {_listed(alone)} (use 'deny' to refuse on purpose)"
    if pseudonymized:
        message += "; unless pseudonymising brings a request within a target's max_level"
    report(("routes", i, "targets"), message, "error" if alone and not pseudonymized else "warning")


def _explain_transform(
    policy: Policy, route: Route, name: str, above: Sequence[str], path: Path, report: Report
) -> None:
    """What a pseudonymising route can send to a target its levels exclude (docs/pseudonymization.md)."""
    target = policy.targets[name]
    ceiling = policy.max_level_of(target)
    types = policy.pseudonymized_types(route)
    top = [t for t in sorted(types) if policy.classification.entities.get(t) == policy.levels[-1]]
    message = (
        f"route {route.name!r} sends target {name!r} ({target.residency}, max_level {ceiling!r}) its requests "
        f"at {_listed(above)} only pseudonymised: {', '.join(sorted(types))} replaced by placeholders, and only "
        f"when what is left is at most {ceiling!r} (classified again); otherwise the target is skipped"
    )
    if top:
        message += f"; {', '.join(top)} ({policy.levels[-1]}) may leave this way: the route names them"
    report(path, message, "warning" if top else "note")


def _never_because(policy: Policy, when: When, coverage: Coverage) -> str:
    low = policy.rank(when.level_at_least) if when.level_at_least else 0
    high = policy.rank(when.level_at_most) if when.level_at_most else len(policy.levels) - 1
    if low > high:
        return f"level_at_least {when.level_at_least!r} is above level_at_most {when.level_at_most!r}"
    if not any(low <= policy.rank(level) <= high for level in coverage.levels):
        return (
            f"it needs a level from {policy.levels[low]!r} to {policy.levels[high]!r}, "
            f"but requests can only be at {_listed(coverage.levels)}"
        )
    return "no request can satisfy all of its conditions together"


def _listed(levels: Sequence[str]) -> str:
    return ("level " if len(levels) == 1 else "levels ") + ", ".join(levels)


# -- test cases ------------------------------------------------------------------------------


def check_cases(
    policy: Policy,
    cases: Sequence[TestCase],
    positions: dict[Path, tuple[int, int]],
    file: str,
    prefix: Path,
    known_entities: frozenset[str] | None,
    indices: Sequence[int] | None = None,
) -> list[Problem]:
    """Errors in test cases: names of models, routes, targets, levels and entities that do not exist.

    ``indices``: the index in the file of each case, when some were left out (``partial``).
    """
    problems: list[Problem] = []

    def error(path: Path, message: str) -> None:
        index, *rest = path
        at = indices[int(index)] if indices is not None else index
        line, col = position_of(positions, (*prefix, at, *rest))
        problems.append(Problem(file, line, col, message, "error"))

    provided = provided_entities(policy, known_entities) if known_entities is not None else None
    routes = {route.name for route in policy.routes}
    names: set[str] = set()
    for i, case in enumerate(cases):
        if case.name in names:
            error((i, "name"), f"a second test case named {case.name!r}")
        names.add(case.name)
        model_path: Path = (i, "request", "model") if case.request else (i, "model")
        model = case.request.model if case.request else case.model
        if model is not None and model not in policy.models:
            error(model_path, f"unknown model {model!r}; the models are {sorted(policy.models)}")
        for k, name in enumerate(case.unavailable):
            if name not in policy.targets:
                error((i, "unavailable", k), f"unknown target {name!r}; the targets are {sorted(policy.targets)}")
        expect = case.expect
        if expect.route is not None and expect.route not in routes:
            error((i, "expect", "route"), f"unknown route {expect.route!r}; the routes are {sorted(routes)}")
        if expect.target is not None and expect.target not in policy.targets:
            error(
                (i, "expect", "target"), f"unknown target {expect.target!r}; the targets are {sorted(policy.targets)}"
            )
        if expect.level is not None and policy.levels and expect.level not in policy.levels:
            error((i, "expect", "level"), f"unknown level {expect.level!r}; the levels are {policy.levels}")
        for key in ("entities", "entities_absent"):
            for k, name in enumerate(getattr(expect, key) or ()):
                if provided is not None and (message := _unknown_entity(name, provided)):
                    error((i, "expect", key, k), message)
    return problems
