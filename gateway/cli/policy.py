"""``gateway policy validate|test|explain|schema|new|replay``: the compliance officer's tools.

Each command returns an exit code and prints problems as ``file:line:col:
message``; none of them prints a traceback for a bad file. ``validate`` and
``schema`` need no classifier; ``test`` and ``explain`` build the real one
once; ``replay`` reads the ledger's recorded facts, never prompts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from gateway.classify.base import Classifier
from gateway.cli.common import config_from, moment_arg
from gateway.cli.policy_replay import replay_command
from gateway.config import ClassifierSettings, Config, load_config
from gateway.policy.checks import capability_notes, check, check_cases, check_partial, errors
from gateway.policy.loader import LoadedPolicy, PolicyError, Problem, load_file
from gateway.policy.schema import with_modeline, write_schemas
from gateway.policy.testing import (
    case_file_problems,
    case_files,
    case_files_beside,
    is_tests_file,
    load_cases,
    policy_for_tests_file,
    run_files,
)

Handler = Callable[[argparse.Namespace], int]

TEMPLATE = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
"""The policy ``gateway policy new`` copies unless told otherwise: the one the gateway ships."""


def register(sub: Any) -> None:
    """Add the ``policy`` command group to the root parser's subparsers."""
    group = sub.add_parser("policy", help="validate, test, explain and replay routing policies")
    commands = group.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check policy files; exit 1 on any error")
    validate.add_argument("files", nargs="+", metavar="FILE", help="policy files (or *.tests.yaml files)")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    validate.set_defaults(handler=lambda a: validate_command(a.files, strict=a.strict))

    test = commands.add_parser("test", help="run the policies' test cases; exit 1 on any failure")
    test.add_argument("files", nargs="+", metavar="FILE")
    test.add_argument("--config", help="operator configuration file, for its NER model (or GATEWAY_CONFIG)")
    test.set_defaults(handler=lambda a: run_policy_tests(a.files, config_file=a.config))

    explain = commands.add_parser("explain", help="print the decision trace for one request as JSON")
    explain.add_argument("--policy", required=True, metavar="FILE")
    given = explain.add_mutually_exclusive_group(required=True)
    given.add_argument("--request", metavar="REQ.json", help="a Chat Completions request body ('-': stdin)")
    given.add_argument("--text", help="a user's message")
    explain.add_argument(
        "--api",
        choices=["chat", "embeddings"],
        default="chat",
        help="for --text: sent as a chat message or as an embeddings input (a --request's shape says it itself)",
    )
    explain.add_argument("--team", help="the team of the API key")
    explain.add_argument("--model", help="the virtual model (default: the request's, else the policy's first)")
    explain.add_argument("--unavailable", action="append", default=[], metavar="TARGET", help="treat as down")
    explain.add_argument("--over-budget", action="store_true", help="the team's budget is spent")
    explain.add_argument(
        "--live",
        action="store_true",
        help="also treat targets whose circuit breaker is open now as down (read from the redis_url of --config "
        "or REDIS_URL, which the gateway replicas share)",
    )
    explain.add_argument(
        "--config", help="operator configuration file, for its NER model and --live (or GATEWAY_CONFIG)"
    )
    explain.set_defaults(handler=explain_command)

    schema = commands.add_parser("schema", help="print the JSON Schema of policy files, for editors")
    schema.add_argument("--tests", action="store_true", help="the schema of *.tests.yaml files instead")
    schema.add_argument("--output", metavar="FILE", help="write it to FILE instead of standard output")
    schema.set_defaults(handler=lambda a: schema_command(a.tests, a.output))

    new = commands.add_parser("new", help="start a policy from a template, its schema beside it for editors")
    new.add_argument("file", metavar="FILE", help="the policy to write, e.g. acme.yaml")
    new.add_argument("--from", dest="template", metavar="POLICY", help=f"the policy to copy (default: {TEMPLATE})")
    new.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    new.set_defaults(handler=lambda a: new_command(a.file, a.template, force=a.force))

    replay = commands.add_parser("replay", help="re-decide recorded traffic under a policy: what would change")
    replay.add_argument("--policy", required=True, metavar="FILE")
    replay.add_argument("--from", dest="since", type=moment_arg(end=False), metavar="D", help="YYYY-MM-DD or ISO time")
    replay.add_argument("--to", dest="until", type=moment_arg(end=True), metavar="D", help="inclusive day, or ISO time")
    replay.add_argument("--config", help="operator configuration file (or GATEWAY_CONFIG)")
    replay.add_argument("--database-url", help="the ledger database (or DATABASE_URL)")
    replay.add_argument("--format", choices=["table", "json"], default="table")
    replay.set_defaults(handler=partial(replay_command, load_valid=_load_valid, known=known_entities))


def main(argv: Sequence[str] | None = None) -> int:
    """``gateway policy ...`` on its own: ``main(["policy", "validate", "policies/default.yaml"])``."""
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


# -- validate -------------------------------------------------------------------------------


def known_entities() -> frozenset[str] | None:
    """The entity types the built-in classifier detects, or ``None`` if it is not installed."""
    try:
        from gateway.classify import KNOWN_ENTITIES
    except ImportError:
        print("note: entity names are not checked: gateway.classify.KNOWN_ENTITIES is not available", file=sys.stderr)
        return None
    return frozenset(KNOWN_ENTITIES)


def problems_of(file: str, known: frozenset[str] | None) -> list[Problem]:
    """Every error and warning for one policy file, or one test file, with its test files."""
    if is_tests_file(file):
        return _tests_file_problems(file, known)
    try:
        loaded = load_file(file)
    except PolicyError as exc:
        problems = sorted(exc.problems + check_partial(exc, file, known), key=lambda p: (p.line, p.column))
        return problems + _beside_partial(exc, file, known)
    files, problems = case_files(loaded)
    found = sorted(check(loaded, known) + capability_notes(loaded), key=lambda p: (p.line, p.column))
    return found + problems + case_file_problems(loaded, files, known)


def _beside_partial(error: PolicyError, file: str, known: frozenset[str] | None) -> list[Problem]:
    """The test files beside a policy with errors, checked against what of it validated."""
    if error.partial is None:
        return []
    problems: list[Problem] = []
    for path in case_files_beside(file):
        try:
            cases = load_cases(path)
        except PolicyError as exc:
            problems += exc.problems
            continue
        problems += check_cases(error.partial.policy, cases.cases, cases.positions, cases.file, (), known)
    return problems


def _tests_file_problems(file: str, known: frozenset[str] | None) -> list[Problem]:
    policy_path = policy_for_tests_file(file)
    try:
        cases = load_cases(file)
        loaded = load_file(policy_path)
    except PolicyError as exc:
        if exc.problems and exc.problems[0].file == file:
            return exc.problems
        return [Problem(file, 1, 1, f"cannot check the cases: their policy {policy_path} is not valid")]
    return check_cases(loaded.policy, cases.cases, cases.positions, file, (), known)


def validate_command(files: Sequence[str], *, strict: bool = False) -> int:
    known = known_entities()
    failed = False
    for file in files:
        problems = _guarded(file, partial(problems_of, file, known))
        for problem in problems:
            print(problem)
        n_errors = len(errors(problems))
        n_warnings = sum(p.severity == "warning" for p in problems)  # notes explain, they do not warn
        failed |= n_errors > 0 or (strict and n_warnings > 0)
        verdict = f"{n_errors} error(s)" if n_errors else "valid"
        print(f"{file}: {verdict}, {n_warnings} warning(s)")
    return 1 if failed else 0


def _guarded(file: str, work: Callable[[], list[Problem]]) -> list[Problem]:
    """Run ``work``; a bug in it becomes a problem line, never a traceback."""
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - the contract: file:line:col, never a traceback
        return [Problem(file, 1, 1, f"internal error while checking this file ({type(exc).__name__}: {exc})")]


def _load_valid(file: str, known: frozenset[str] | None) -> LoadedPolicy | None:
    """The policy if it has no errors; otherwise print them and return ``None``."""
    problems = _guarded(file, partial(problems_of, file, known))
    if errors(problems):
        for problem in problems:
            print(problem)
        return None
    return load_file(file)


# -- test -----------------------------------------------------------------------------------


def build_classifier(settings: ClassifierSettings | None = None) -> Classifier:
    """The real classifier, loaded once, with the NER model the operator configured
    (``classifier.ner_model`` and ``compiled_ner``): a test or an explanation sees what the
    gateway would."""
    from gateway.classify import PresidioClassifier

    settings = settings or ClassifierSettings()
    classifier = PresidioClassifier(
        ner_model=settings.ner_model, ner_models=settings.ner_models, compiled_ner=settings.compiled_ner
    )
    load = getattr(classifier, "load", None)
    if callable(load):
        load()
    return classifier


def run_policy_tests(
    files: Sequence[str], classifier: Classifier | None = None, *, config_file: str | None = None
) -> int:
    known = known_entities()
    policies = list(dict.fromkeys(str(policy_for_tests_file(f)) if is_tests_file(f) else f for f in files))
    passed = failed = 0
    runs = []
    for file in policies:
        loaded = _load_valid(file, known)
        if loaded is None:
            print(f"{file}: not tested: the policy has errors")
            failed += 1
            continue
        runs.append((loaded, case_files(loaded)[0]))
    if runs and any(f.cases for _, cfs in runs for f in cfs) and classifier is None:
        try:
            classifier = build_classifier(load_config(config_file).classifier)
        except Exception as exc:  # noqa: BLE001 - a missing or broken classifier is reported, not raised
            print(f"error: the classifier could not be started: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    for loaded, cfs in runs:
        count = sum(len(f.cases) for f in cfs)
        print(f"{loaded.path} (version {loaded.version}): {count} case(s)")
        if count == 0:
            print("  no test cases: add some under 'tests:' (see policies/README.md)")
            continue
        assert classifier is not None
        for result in asyncio.run(run_files(loaded, cfs, classifier)):
            print(result)
            passed += result.passed
            failed += not result.passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


# -- explain --------------------------------------------------------------------------------


def explain_command(args: argparse.Namespace, classifier: Classifier | None = None) -> int:
    from gateway.policy.explain import explain

    loaded = _load_valid(args.policy, known_entities())
    if loaded is None:
        return 1
    request: dict[str, Any] | str = args.text if args.text is not None else ""
    if args.request is not None:
        try:
            raw = sys.stdin.read() if args.request == "-" else Path(args.request).read_text(encoding="utf-8")
            request = json.loads(raw)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            print(f"{args.request}:1:1: cannot read the request: {exc}")
            return 1
        if not isinstance(request, dict):
            print(f"{args.request}:1:1: a request is a JSON object with 'model' and 'messages'")
            return 1
    unknown = [t for t in args.unavailable if t not in loaded.policy.targets]
    if unknown:
        print(f"error: unknown target(s) {unknown}; the targets are {sorted(loaded.policy.targets)}", file=sys.stderr)
        return 1
    live = getattr(args, "live", False)
    config = config_from(args) if classifier is None or live else None  # the NER model; Redis for --live
    if classifier is None:
        assert config is not None
        try:
            classifier = build_classifier(config.classifier)
        except Exception as exc:  # noqa: BLE001 - as in ``test``: reported, not raised
            print(f"error: the classifier could not be started: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    unavailable = dict.fromkeys(args.unavailable, "marked unavailable on the command line")
    if live:
        assert config is not None
        circuits = _live_circuits(config, loaded.policy.targets)
        if circuits is None:
            return 1
        unavailable = {**circuits, **unavailable}
    api = getattr(args, "api", "chat")  # callers that build their own arguments: chat
    result = asyncio.run(
        explain(loaded, request, args.team, args.model, classifier, unavailable, args.over_budget, api)
    )
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def _live_circuits(config: Config, targets: Iterable[str]) -> dict[str, str] | None:
    """Open circuits from the replicas' Redis, or ``None`` (an error printed) when they cannot be read."""
    from gateway.resilience import SharedStateUnavailable, open_circuits

    if not config.redis_url:
        print(
            "error: --live reads circuit breakers from Redis: set redis_url (--config) or REDIS_URL; without "
            "Redis each gateway keeps its own, shown by its /readyz",
            file=sys.stderr,
        )
        return None
    try:
        return asyncio.run(open_circuits(config.redis_url, config.resilience, list(targets)))
    except SharedStateUnavailable as exc:
        print(f"error: cannot read the circuit breakers: {exc}", file=sys.stderr)
        return None


# -- schema ---------------------------------------------------------------------------------


def schema_command(tests: bool = False, output: str | None = None) -> int:
    from gateway.policy.schema import case_file_schema, policy_schema

    text = json.dumps(case_file_schema() if tests else policy_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
    return 0


def new_command(file: str, template: str | None = None, *, force: bool = False) -> int:
    """Copy a policy to ``file`` with a schema line that works where it is: ``policy.schema.json``
    (and ``tests.schema.json``) are written beside it, so the folder carries its own schema."""
    source, target = Path(template or TEMPLATE), Path(file)
    if target.exists() and not force:
        print(f"error: {target} exists; choose another name or give --force", file=sys.stderr)
        return 1
    try:
        text = source.read_text(encoding="utf-8")
        target.write_text(with_modeline(text), encoding="utf-8")
        schemas = write_schemas(target.parent)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {target} (a copy of {source}) and, beside it for editors, {', '.join(p.name for p in schemas)}")
    print(f"next: edit it, then `gateway policy validate {target}` and `gateway policy test {target}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
