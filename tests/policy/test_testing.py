"""``gateway policy test``: cases from the policy and from ``*.tests.yaml`` files beside it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gateway.cli.policy import main, run_policy_tests
from gateway.policy.loader import PolicyError
from gateway.policy.testing import case_files_beside, load_cases, policy_for_tests_file, run_case
from tests.policy.conftest import POLICIES, KeywordClassifier, make_policy, policy_text

pytest.importorskip("gateway.classify.extract", reason="gateway.classify.extract is not available yet")

Write = Callable[[str, str], Path]

CASES = [
    {"name": "card stays", "text": "card 4111 1111 1111 1111", "model": "premium",
     "expect": {"level": "restricted", "route": "sensitive", "residency": "on_prem", "entities": ["CREDIT_CARD"]}},
    {"name": "plain premium goes out", "text": "What is a bond?", "model": "premium",
     "expect": {"route": "premium", "target": "external", "residency": "external", "denied": False}},
    {"name": "fallback when external is down", "text": "What is a bond?", "model": "premium",
     "unavailable": ["external"], "expect": {"target": "onprem"}},
    {"name": "a full request", "request": {"model": "standard", "messages": [{"role": "user", "content": "hi"}]},
     "expect": {"route": "default", "entities_absent": ["PERSON"]}},
]  # fmt: skip


async def test_passing_cases() -> None:
    loaded = make_policy(tests=CASES)
    for case in loaded.policy.tests:
        assert await run_case(loaded, case, KeywordClassifier()) == [], case.name


@pytest.mark.parametrize(
    ("expect", "extra", "failures"),
    [
        ({"route": "premium"}, {}, ["expected route premium, got sensitive"]),
        ({"level": "internal", "residency": "external"}, {},
         ["expected level internal, got restricted", "expected residency external, got on_prem"]),
        ({"denied": True}, {}, ["expected denied True, got False"]),
        ({"entities": ["PERSON"]}, {}, ["expected PERSON to be detected, found CREDIT_CARD"]),
        ({"entities_absent": ["CREDIT_CARD"]}, {}, ["expected CREDIT_CARD not to be detected"]),
        ({"target": "onprem"}, {"unavailable": ["onprem"]},
         ["expected target onprem, got no target (none permitted or available: onprem: unavailable)"]),
    ],
)  # fmt: skip
async def test_failing_cases_say_what_was_expected_and_what_happened(
    expect: dict[str, object], extra: dict[str, object], failures: list[str]
) -> None:
    case = {"name": "c", "text": "card 4111 1111 1111 1111", "model": "premium", "expect": expect, **extra}
    loaded = make_policy(tests=[case])
    assert await run_case(loaded, loaded.policy.tests[0], KeywordClassifier()) == failures


async def test_a_classifier_failure_is_named_in_the_failure() -> None:
    loaded = make_policy(tests=[{"name": "c", "text": "hello", "model": "standard", "expect": {"level": "internal"}}])
    failures = await run_case(loaded, loaded.policy.tests[0], KeywordClassifier(error="timeout"))
    assert failures == [
        "expected level internal, got restricted",
        "the classifier failed (timeout), so the level is on_error",
    ]


def test_tests_files_beside_the_policy(write: Write) -> None:
    policy = write("acme.yaml", policy_text())
    own = write("acme.tests.yaml", "[]")
    topic = write("acme.cards.tests.yaml", "[]")
    write("other.tests.yaml", "[]")
    write("acmeish.tests.yaml", "[]")
    assert case_files_beside(policy) == [topic, own]
    assert policy_for_tests_file(own) == policy_for_tests_file(topic) == policy


def test_a_broken_tests_file_is_reported_at_its_line(write: Write) -> None:
    path = write("acme.tests.yaml", "- name: x\n  text: hi\n  expect: {levle: internal}\n")
    with pytest.raises(PolicyError) as caught:
        load_cases(path)
    assert str(caught.value.problems[0]) == f"{path}:3:12: [0].expect.levle: unknown field; " + (
        "check the spelling (see `gateway policy schema`)"
    )
    not_a_list = write("b.tests.yaml", "name: x\n")
    with pytest.raises(PolicyError, match="a test file is a list of cases"):
        load_cases(not_a_list)


def test_cli_runs_policy_and_file_cases_with_a_line_each(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write("acme.yaml", policy_text(tests=CASES[:1]))
    write("acme.tests.yaml", yaml.safe_dump(CASES[1:]))
    assert run_policy_tests([str(policy)], classifier=KeywordClassifier()) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{policy} (version ") and out[0].endswith("): 4 case(s)")
    assert out[1:] == [f"PASS {c['name']}" for c in CASES] + ["4 passed, 0 failed"]


def test_cli_exits_1_on_any_failure(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    failing = {**CASES[0], "name": "wrong", "expect": {"route": "premium"}}
    policy = write("acme.yaml", policy_text(tests=[CASES[1], failing]))
    assert run_policy_tests([str(policy)], classifier=KeywordClassifier()) == 1
    out = capsys.readouterr().out
    assert "PASS plain premium goes out\nFAIL wrong: expected route premium, got sensitive\n1 passed, 1 failed" in out


def test_cli_given_a_tests_file_runs_its_policy(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    write("acme.yaml", policy_text())
    cases = write("acme.tests.yaml", yaml.safe_dump(CASES[:2]))
    assert run_policy_tests([str(cases)], classifier=KeywordClassifier()) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out


def test_cli_refuses_to_run_an_invalid_policy(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write("acme.yaml", policy_text(tests=[{**CASES[0], "expect": {"route": "nowhere"}}]))
    assert run_policy_tests([str(policy)], classifier=KeywordClassifier()) == 1
    out = capsys.readouterr().out
    assert "unknown route 'nowhere'" in out and "not tested: the policy has errors" in out


def test_validate_checks_tests_files_too(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write("acme.yaml", policy_text())
    cases = write("acme.tests.yaml", "- name: x\n  text: hi\n  model: nope\n  expect: {route: default}\n")
    assert main(["policy", "validate", str(policy)]) == 1
    assert f"{cases}:3:10: unknown model 'nope'" in capsys.readouterr().out
    assert main(["policy", "validate", str(cases)]) == 1
    assert f"{cases}:3:10: unknown model 'nope'" in capsys.readouterr().out


@pytest.fixture(scope="module")
def real_classifier() -> object:
    classify = pytest.importorskip("gateway.classify", reason="the Presidio classifier is not available yet")
    if not hasattr(classify, "PresidioClassifier"):
        pytest.skip("gateway.classify does not export PresidioClassifier yet")
    classifier = classify.PresidioClassifier()
    classifier.load()
    return classifier


SHIPPED = sorted(p for p in POLICIES.glob("*.yaml") if not p.name.endswith(".tests.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_policy_passes_its_tests_with_the_real_classifier(
    path: Path, real_classifier: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_policy_tests([str(path)], classifier=real_classifier)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out and " 0 failed" in out


def test_cli_uses_the_ner_model_the_operator_configured(write: Write, capsys: pytest.CaptureFixture[str]) -> None:
    """``policy test --config`` and ``policy explain --config`` load the configuration's NER model:
    a model that is not installed is named (exit 2), not silently replaced by the default."""
    policy = write("acme.yaml", policy_text(tests=CASES[:1]))
    config = write("gateway.yaml", "classifier:\n  ner_model: no_such_model_here\n  compiled_ner: false\n")
    assert main(["policy", "test", "--config", str(config), str(policy)]) == 2
    assert "no_such_model_here" in capsys.readouterr().err
    explained = ["policy", "explain", "--policy", str(policy), "--text", "hello", "--config", str(config)]
    assert main(explained) == 2
    assert "no_such_model_here" in capsys.readouterr().err
