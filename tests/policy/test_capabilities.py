"""Target capabilities: the decision only considers targets that can serve the request, and never widens it."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.policy import main
from gateway.policy.capabilities import NEEDS, effective, needs_of
from gateway.policy.checks import capability_notes
from gateway.policy.engine import Facts, decide
from gateway.policy.explain import explain
from gateway.policy.loader import PolicyError
from gateway.policy.model import TestCase
from gateway.policy.testing import run_case
from tests.policy.conftest import BASE, KeywordClassifier, make_policy, policy_text

VLLM = {"kind": "openai_compatible", "api_base": "http://vllm.internal/v1", "model": "llama", "residency": "on_prem"}
TARGETS = {**copy.deepcopy(BASE["targets"]), "vllm": VLLM}
ROUTES = [
    {"name": "sensitive", "when": {"level_at_least": "confidential"}, "targets": ["onprem", "vllm"]},
    {"name": "premium", "when": {"tier": "premium"}, "targets": ["external", "onprem"]},
    {"name": "default", "targets": ["onprem"]},
]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def policy(**target_changes: Any) -> Any:
    targets = copy.deepcopy(TARGETS)
    for name, capabilities in target_changes.items():
        targets[name]["capabilities"] = capabilities
    return make_policy(targets=targets, routes=ROUTES).policy


def test_each_kind_has_its_defaults_and_a_declaration_overrides_them() -> None:
    assert not any(effective("transformers", None).values())
    assert effective("openai_compatible", None) == {
        "tools": True, "json_schema": True, "json_object": True, "images": False, "logprobs": True,
        "vllm_extras": True}  # fmt: skip
    assert all(v for k, v in effective("litellm", None).items() if k != "vllm_extras")
    loaded = policy(onprem={"tools": True}).targets["onprem"]
    assert effective(loaded.kind, loaded.capabilities)["tools"] is True


def test_a_misspelt_capability_is_an_error_with_its_line() -> None:
    with pytest.raises(PolicyError) as caught:
        policy(onprem={"tool": True})
    assert "capabilities" in str(caught.value) and "tool" in str(caught.value)


@pytest.mark.parametrize(
    ("params", "messages", "expected"),
    [
        ({"tools": [TOOL]}, [], {"tools"}),
        ({"tools": [TOOL], "tool_choice": "none"}, [], set()),
        ({"response_format": {"type": "json_object"}}, [], {"json_object"}),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, [], {"json_schema"}),
        ({"response_format": {"type": "text"}}, [], set()),
        ({"logprobs": True, "top_logprobs": 2}, [], {"logprobs"}),
        ({"top_k": 5}, [], {"vllm_extras"}),
        ({}, [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}], {"images"}),
    ],
)
def test_needs_are_read_from_what_is_sent(params: dict[str, Any], messages: list[Any], expected: set[str]) -> None:
    assert needs_of(messages, params) == expected


def test_a_tool_request_skips_a_target_that_cannot_call_tools() -> None:
    decision = decide(policy(), Facts("standard", frozenset({"PERSON"}), needs=frozenset({"tools"})))
    assert decision.targets == ("vllm",) and decision.unserved is None
    [excluded] = decision.excluded
    assert (excluded.target, excluded.reason, excluded.detail) == ("onprem", "capability", "cannot serve tool calling")


def test_when_no_permitted_target_can_serve_it_the_request_is_unserved_not_answered_in_prose() -> None:
    decision = decide(policy(), Facts("standard", needs=frozenset({"tools", "json_schema"})))
    assert decision.targets == () and decision.deny is None
    assert decision.unserved is not None and "tool calling" in decision.unserved and "onprem" not in decision.unserved


def test_a_capable_target_that_is_only_down_gives_503_not_400() -> None:
    facts = Facts("standard", frozenset({"PERSON"}), needs=frozenset({"tools"}), unavailable={"vllm": "breaker open"})
    decision = decide(policy(), facts)
    assert decision.targets == () and decision.unserved is None


def test_the_level_still_rules_a_capable_external_target_never_gets_a_confidential_request() -> None:
    """premium: external (can do tools) then onprem (cannot); a PERSON makes it confidential -> sensitive."""
    facts = Facts("premium", frozenset({"PERSON"}), needs=frozenset({"images"}))
    decision = decide(policy(), facts)
    assert decision.route == "sensitive" and decision.targets == () and decision.unserved is not None


def test_context_tokens_send_long_requests_elsewhere() -> None:
    loaded = policy(vllm={"context_tokens": 100})
    short = decide(loaded, Facts("standard", frozenset({"PERSON"}), estimated_input_tokens=80))
    long = decide(loaded, Facts("standard", frozenset({"PERSON"}), estimated_input_tokens=120))
    assert short.targets == ("onprem", "vllm") and long.targets == ("onprem",)
    assert "120 input tokens" in long.excluded[0].detail


@pytest.mark.parametrize("model", ["standard", "premium"])
@pytest.mark.parametrize("entities", [frozenset(), frozenset({"PERSON"}), frozenset({"CREDIT_CARD"})])
def test_capabilities_only_ever_remove_targets(model: str, entities: frozenset[str]) -> None:
    loaded = policy()
    plain = decide(loaded, Facts(model, entities))
    for size in range(1, len(NEEDS) + 1):
        for needs in itertools.combinations(NEEDS, size):
            narrowed = decide(loaded, Facts(model, entities, needs=frozenset(needs)))
            assert set(narrowed.targets) <= set(plain.targets)
            assert [t for t in plain.targets if t in narrowed.targets] == list(narrowed.targets)
            assert (narrowed.level, narrowed.route) == (plain.level, plain.route)


async def test_explain_shows_needs_capabilities_and_the_400() -> None:
    loaded = make_policy(targets=TARGETS, routes=ROUTES)
    request = {"model": "standard", "messages": [{"role": "user", "content": "hi"}], "tools": [TOOL]}
    result = await explain(loaded, request, None, None, KeywordClassifier())
    assert result["request"]["needs"] == ["tools"]
    decision = result["decision"]
    assert (decision["outcome"], decision["http_status"]) == ("unserved", 400)
    assert result["excluded"] == [{"target": "onprem", "reason": "capability", "detail": "cannot serve tool calling"}]


async def test_a_policy_test_case_can_expect_a_request_to_be_unserved() -> None:
    loaded = make_policy(targets=TARGETS, routes=ROUTES)
    tools = {"model": "standard", "messages": [{"role": "user", "content": "hi"}], "tools": [TOOL]}
    case = TestCase.model_validate({"name": "tools", "request": tools, "expect": {"unserved": True}})
    assert await run_case(loaded, case, KeywordClassifier()) == []
    wrong = TestCase.model_validate({"name": "tools", "request": tools, "expect": {"target": "onprem"}})
    [failure] = await run_case(loaded, wrong, KeywordClassifier())
    assert "none permitted can serve what it asks: onprem cannot serve tool calling" in failure


def test_validate_notes_the_routes_whose_targets_can_serve_none_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "caps.yaml"
    path.write_text(policy_text(targets=TARGETS, routes=ROUTES))
    assert main(["policy", "validate", str(path)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if ": note: " in line]
    sensitive, default = notes  # premium's litellm target can do everything: no note
    assert "route 'sensitive': none of its targets can serve image input;" in sensitive  # vllm: no images
    assert "route 'default': none of its targets can serve tool calling, a JSON schema" in default
    assert capability_notes(make_policy(targets=TARGETS, routes=ROUTES[1:2])) == []
