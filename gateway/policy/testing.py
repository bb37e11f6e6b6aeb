"""``gateway policy test``: prove what a policy does before it goes live.

A case is a request (or just a user's text) and what must happen to it. Cases
come from the policy's own ``tests:`` and from test files beside it: for
``policies/acme.yaml``, ``policies/acme.tests.yaml`` and any
``policies/acme.<topic>.tests.yaml``, each a YAML list of cases of the same
shape. Every case goes through the real path up to the decision (extract the
texts, classify with the real classifier, ``decide``) and nothing is sent to
any model. Targets count as available unless a case lists them under
``unavailable``; ``requires_env`` is ignored, so a test means the same on
every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from gateway.classify.base import Classification, Classifier
from gateway.policy.checks import check_cases
from gateway.policy.engine import Decision
from gateway.policy.explain import InvalidRequestBody, as_request, decide_request
from gateway.policy.loader import LoadedPolicy, PolicyError, Problem, parse, position_of, validation_problems
from gateway.policy.model import Path as FieldPath
from gateway.policy.model import TestCase

TESTS_SUFFIX = ".tests.yaml"
_CASES = TypeAdapter(list[TestCase])


@dataclass(frozen=True, slots=True)
class CaseFile:
    """Test cases with where they were written."""

    file: str
    cases: list[TestCase]
    positions: dict[FieldPath, tuple[int, int]]
    prefix: FieldPath = ()  # path of the case list inside the file

    def line_of(self, index: int) -> int:
        return position_of(self.positions, (*self.prefix, index))[0]


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    file: str
    line: int
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        return f"PASS {self.name}" if self.passed else f"FAIL {self.name}: {'; '.join(self.failures)}"


def is_tests_file(path: str | Path) -> bool:
    return Path(path).name.endswith(TESTS_SUFFIX)


def case_files_beside(policy_path: str | Path) -> list[Path]:
    """Test files beside a policy: ``<name>.tests.yaml`` and ``<name>.<topic>.tests.yaml``."""
    path = Path(policy_path)
    folder, stem = path.parent, path.name.removesuffix(".yaml").removesuffix(".yml")
    found = {folder / f"{stem}{TESTS_SUFFIX}", *folder.glob(f"{stem}.*{TESTS_SUFFIX}")}
    return sorted(p for p in found if p.is_file())


def policy_for_tests_file(path: str | Path) -> Path:
    """The policy a test file belongs to: ``acme.tests.yaml`` and ``acme.cards.tests.yaml`` -> ``acme.yaml``."""
    path = Path(path)
    stem = path.name.removesuffix(TESTS_SUFFIX).split(".")[0]
    return path.parent / f"{stem}.yaml"


def load_cases(path: str | Path) -> CaseFile:
    """Read a test file (a YAML list of cases); raise ``PolicyError`` with line and column."""
    file = str(path)
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(file, 1, 1, f"cannot read the file: {exc}")]) from None
    data, positions = parse(source, file)
    if not isinstance(data, list):
        raise PolicyError([Problem(file, 1, 1, "a test file is a list of cases, each starting with '- name:'")])
    try:
        cases = _CASES.validate_python(data)
    except ValidationError as exc:
        raise PolicyError(validation_problems(exc, positions, file)) from None
    return CaseFile(file, cases, positions)


def case_files(loaded: LoadedPolicy) -> tuple[list[CaseFile], list[Problem]]:
    """The policy's own cases and those of the test files beside it, with the problems reading them."""
    files = [CaseFile(loaded.path, list(loaded.policy.tests), loaded.positions, ("tests",))]
    problems: list[Problem] = []
    if loaded.path.startswith("<"):
        return files, problems
    for path in case_files_beside(loaded.path):
        try:
            files.append(load_cases(path))
        except PolicyError as exc:
            problems.extend(exc.problems)
    return files, problems


def case_file_problems(
    loaded: LoadedPolicy, files: Sequence[CaseFile], known_entities: frozenset[str] | None
) -> list[Problem]:
    """Names in the cases that the policy does not have (the policy's own cases are covered by ``check``)."""
    problems: list[Problem] = []
    for case_file in files:
        if case_file.file != loaded.path:
            problems += check_cases(
                loaded.policy, case_file.cases, case_file.positions, case_file.file, case_file.prefix, known_entities
            )
    return problems


async def run_case(loaded: LoadedPolicy, case: TestCase, classifier: Classifier) -> list[str]:
    """The ways the case fails; an empty list means it passes."""
    policy = loaded.policy
    source: dict[str, Any] | str = case.request.model_dump(exclude_none=True) if case.request else (case.text or "")
    request = as_request(source, case.model, policy, case.api)
    if request["model"] not in policy.models:
        return [f"model {request['model']!r} is not in the policy"]
    unavailable = dict.fromkeys(case.unavailable, "unavailable in this test")
    try:
        decided = await decide_request(loaded, classifier, request, case.team, unavailable, case.over_budget)
    except InvalidRequestBody as invalid:
        return [f"the request would be refused (400): {invalid}"]
    assert decided.decision is not None  # the model was checked above
    return compare(loaded, case, decided.classification, decided.decision)


def compare(loaded: LoadedPolicy, case: TestCase, classification: Classification, decision: Decision) -> list[str]:
    expect, policy = case.expect, loaded.policy
    first = decision.targets[0] if decision.targets else None
    residency = policy.targets[first].residency if first else None
    found = classification.entity_types
    failures: list[str] = []

    def differs(what: str, expected: object, got: object, shown: str | None = None) -> None:
        if expected is not None and expected != got:
            failures.append(f"expected {what} {expected}, got {shown or got}")

    differs("level", expect.level, decision.level)
    differs("route", expect.route, decision.route, None if decision.route else "no route")
    differs("target", expect.target, first, None if first else _no_target(decision))
    differs("residency", expect.residency, residency, None if residency else _no_target(decision))
    differs("denied", expect.denied, decision.deny is not None)
    differs("unserved", expect.unserved, decision.unserved is not None)
    missing = sorted(set(expect.entities or ()) - found)
    if missing:
        failures.append(f"expected {', '.join(missing)} to be detected, found {', '.join(sorted(found)) or 'nothing'}")
    unwanted = sorted(set(expect.entities_absent or ()) & found)
    if unwanted:
        failures.append(f"expected {', '.join(unwanted)} not to be detected")
    if failures and classification.error:
        failures.append(f"the classifier failed ({classification.error}), so the level is on_error")
    return failures


def _no_target(decision: Decision) -> str:
    if decision.deny is not None:
        return f"no target (denied by route {decision.route!r}: {decision.deny_code})"
    if decision.route is None:
        return "no target (no route matched)"
    if decision.unserved is not None:
        lacking = "; ".join(f"{e.target} {e.detail}" for e in decision.excluded if e.reason == "capability")
        return f"no target (none permitted can serve what it asks: {lacking})"
    excluded = ", ".join(f"{e.target}: {e.reason}" for e in decision.excluded)
    return f"no target (none permitted or available: {excluded})"


async def run_files(loaded: LoadedPolicy, files: Sequence[CaseFile], classifier: Classifier) -> list[CaseResult]:
    results = []
    for case_file in files:
        for i, case in enumerate(case_file.cases):
            failures = await run_case(loaded, case, classifier)
            results.append(CaseResult(case.name, case_file.file, case_file.line_of(i), tuple(failures)))
    return results
