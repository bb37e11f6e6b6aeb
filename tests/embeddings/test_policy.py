"""The policy and the kind of call: targets' ``task``, routes' ``when.api``, ``GET /v1/models``' ``apis``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from gateway.apis.models import models_list
from gateway.errors import InvalidRequest
from gateway.keys import Principal
from gateway.policy.checks import check
from gateway.policy.coverage import analyse
from gateway.policy.engine import Facts, decide
from gateway.policy.explain import explain
from gateway.policy.loader import load_text
from gateway.policy.model import Policy, TestCase
from gateway.policy.replay import RecordedFacts
from gateway.policy.testing import run_case
from tests.policy.conftest import BASE, KeywordClassifier

EMBED_TARGETS: dict[str, Any] = {
    "embed-onprem": {"kind": "transformers", "task": "embeddings", "model": "all-minilm-l6-v2", "residency": "on_prem"},
    "embed-external": {"kind": "litellm", "task": "embeddings", "model": "openai/text-embedding-3-small",
                       "residency": "external", "max_level": "internal"},
}  # fmt: skip


def policy(**changes: Any) -> Policy:
    data = copy.deepcopy(BASE)
    data["targets"] |= copy.deepcopy(EMBED_TARGETS)
    data.update(changes)
    return Policy.model_validate(data)


def routes(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [*extra, *copy.deepcopy(BASE["routes"])]


def test_a_chat_target_is_never_a_candidate_for_embeddings_nor_an_embedding_model_for_chat() -> None:
    mixed = policy(routes=[{"name": "all", "targets": ["external", "embed-external", "onprem", "embed-onprem"]}])
    for_embeddings = decide(mixed, Facts(model="standard", api="embeddings"))
    assert for_embeddings.targets == ("embed-external", "embed-onprem")
    assert {(e.target, e.reason) for e in for_embeddings.excluded} == {("external", "api"), ("onprem", "api")}
    for_chat = decide(mixed, Facts(model="standard"))
    assert for_chat.targets == ("external", "onprem")
    for api in ("responses", "messages"):
        assert decide(mixed, Facts(model="standard", api=api)).targets == ("external", "onprem")


def test_the_invariant_still_holds_for_embeddings() -> None:
    mixed = policy(routes=[{"name": "all", "targets": ["embed-external", "embed-onprem"]}])
    decision = decide(mixed, Facts(model="standard", entity_types=frozenset({"CREDIT_CARD"}), api="embeddings"))
    assert decision.level == "restricted" and decision.targets == ("embed-onprem",)
    assert [(e.target, e.reason) for e in decision.excluded] == [("embed-external", "invariant")]


def test_a_route_can_match_on_the_api_and_a_route_without_api_matches_every_api() -> None:
    p = policy(routes=routes({"name": "embeddings", "when": {"api": "embeddings"}, "targets": ["embed-onprem"]}))
    assert decide(p, Facts(model="premium", api="embeddings")).route == "embeddings"
    chat = decide(p, Facts(model="premium"))
    assert chat.route == "premium"
    assert chat.trace[0].reasons == ("api 'chat' is not in ['embeddings']",)
    assert decide(p, Facts(model="premium", api="messages")).route == "premium"


def test_api_values_are_validated() -> None:
    with pytest.raises(ValidationError):
        policy(routes=[{"name": "x", "when": {"api": ["images"]}, "targets": ["onprem"]}])
    with pytest.raises(ValidationError):
        policy(targets={"t": {"kind": "litellm", "task": "images", "model": "m", "residency": "on_prem"}})


def test_the_route_checks_see_the_api_dimension() -> None:
    p = policy(routes=routes({"name": "embeddings", "when": {"api": "embeddings"}, "targets": ["embed-onprem"]}))
    assert all(analyse(p).first_levels)  # every route is the first match of some request: none unreachable
    everything = policy(routes=[{"name": "all", "targets": ["onprem"]}, *BASE["routes"]])
    assert not any(analyse(everything).first_levels[1:])


def test_models_lists_the_apis_each_model_can_reach() -> None:
    p = policy(
        routes=routes({"name": "embeddings", "when": {"api": "embeddings", "tier": "premium"},
                       "targets": ["embed-onprem"]})
    )  # fmt: skip
    everyone = Principal(key_id="k", team="t", roles=frozenset({"user"}))
    listed = {m["id"]: m["apis"] for m in models_list(p, everyone)["data"]}
    assert listed == {
        "standard": ["chat", "responses", "messages"],
        "premium": ["chat", "embeddings", "responses", "messages"],
    }
    assert [m["id"] for m in models_list(p, everyone, "embeddings")["data"]] == ["premium"]
    with pytest.raises(InvalidRequest):
        models_list(p, everyone, "images")
    shadowed = policy(routes=[{"name": "all", "targets": ["onprem"]}, {"name": "e", "targets": ["embed-onprem"]}])
    assert all("embeddings" not in m["apis"] for m in models_list(shadowed, everyone)["data"])


async def test_explain_and_test_cases_take_embeddings_requests() -> None:
    text = yaml.safe_dump({**copy.deepcopy(BASE), "targets": {**BASE["targets"], **EMBED_TARGETS},
                           "routes": routes({"name": "embeddings", "when": {"api": "embeddings"},
                                             "targets": ["embed-external", "embed-onprem"]})})  # fmt: skip
    loaded = load_text(text, "test.yaml")
    classifier = KeywordClassifier()
    traced = await explain(loaded, "Card 4111 1111 1111 1111", None, "standard", classifier, api="embeddings")
    assert traced["request"]["api"] == "embeddings" and traced["decision"]["route"] == "embeddings"
    assert [t["target"] for t in traced["decision"]["targets"]] == ["embed-onprem"]
    assert traced["excluded"] == [
        {"target": "embed-external", "reason": "invariant", "detail": "max_level internal is below restricted"}
    ]
    body = {"model": "standard", "input": ["plain", "jane.doe@example.com"]}  # a request body says its API itself
    traced = await explain(loaded, body, None, None, classifier)
    assert traced["level"]["level"] == "confidential" and traced["decision"]["route"] == "embeddings"
    assert classifier.calls[-1][:2] == ["plain", "jane.doe@example.com"]  # each input is its own text
    refused = await explain(loaded, {"model": "standard", "input": []}, None, None, classifier)
    assert refused["decision"]["outcome"] == "invalid_request"
    case = TestCase.model_validate({"name": "c", "text": "hello", "api": "embeddings",
                                    "expect": {"route": "embeddings", "target": "embed-external"}})  # fmt: skip
    assert await run_case(loaded, case, classifier) == []


def test_validate_warns_of_a_route_that_takes_embeddings_with_no_embedding_model() -> None:
    def warnings(route_list: list[dict[str, Any]]) -> list[str]:
        data = {**copy.deepcopy(BASE), "targets": {**BASE["targets"], **EMBED_TARGETS}, "routes": route_list}
        return [p.message for p in check(load_text(yaml.safe_dump(data), "p.yaml"), None)]

    embeddings_route = {"name": "embeddings", "when": {"api": "embeddings"}, "targets": ["embed-onprem"]}
    late = warnings([*copy.deepcopy(BASE["routes"])[:1], embeddings_route, *copy.deepcopy(BASE["routes"])[1:]])
    assert [m for m in late if "model_not_supported" in m] == [
        "route 'sensitive' is the first match of embeddings requests, but none of its targets is an embedding "
        "model (task: embeddings): they would be refused with 400 model_not_supported (add one, or a route with "
        "`when: {api: [embeddings]}` above it)"
    ]
    assert not [m for m in warnings(routes(embeddings_route)) if "model_not_supported" in m]
    only_embed = warnings([{"name": "all", "targets": ["embed-onprem"]}])
    assert any("first match of chat requests" in m for m in only_embed)


def test_replay_decides_recorded_embeddings_as_embeddings() -> None:
    row = {"model": "standard", "level": "internal", "api": "embeddings", "entity_types": "", "route": "embeddings"}
    recorded = RecordedFacts.from_row(row)
    p = policy(routes=routes({"name": "embeddings", "when": {"api": "embeddings"}, "targets": ["embed-onprem"]}))
    assert decide(p, recorded.facts()).route == "embeddings"
    assert RecordedFacts.from_row({**row, "api": None}).facts().api == "chat"  # rows from before the column
