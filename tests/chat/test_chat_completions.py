"""Chat Completions to the letter, through a running gateway between two real loopback upstreams.

Every answer, streamed or not, validates against OpenAI's published schema (the
pinned copy, ``tests/upstreams/openapi_schema.py``); what the upstream says beside
the text (refusal, reasoning, annotations, log probabilities, system fingerprint)
comes back; each request field of the spec is honoured, translated (legacy
``functions``), passed to the targets that take it (vLLM's extras to
``openai_compatible`` only) or refused with a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.classify.engine import DetectionEngine
from tests.upstreams.gateway_between import RunningGateway, gateway_between
from tests.upstreams.openapi_schema import check

POLICY = """
version: 1
name: chat-api
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted}}
targets:
  compat:
    kind: openai_compatible
    api_base: {external}
    model: m-compat
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
  lite:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {external}
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
  plain:
    kind: openai_compatible
    api_base: {onprem}
    model: m-plain
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
    capabilities: {{tools: false, json_schema: false, json_object: false}}
models:
  compat: {{tier: compat}}
  lite: {{tier: lite}}
  plain: {{tier: plain}}
  cached: {{tier: cached}}
routes:
  - {{name: compat, when: {{tier: compat}}, targets: [compat]}}
  - {{name: cached, when: {{tier: cached}}, targets: [compat], cache: {{ttl_s: 600, max_level: internal}}}}
  - {{name: lite, when: {{tier: lite}}, targets: [lite]}}
  - {{name: plain, targets: [plain]}}
"""

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look up an order.",
        "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    },
}
CALL = {"id": "call_abc", "type": "function", "function": {"name": "lookup", "arguments": '{"order": "A-17"}'}}
TOP = {
    "token": "Hi",
    "logprob": -0.1,
    "bytes": [72, 105],
    "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}],
}
EXTRAS = {
    "message": {
        "refusal": "I cannot help with that.",
        "reasoning_content": "The user asks for...",
        "annotations": [
            {
                "type": "url_citation",
                "url_citation": {"url": "https://example.com/a", "title": "A", "start_index": 0, "end_index": 1},
            }
        ],
    },
    "logprobs": {"content": [TOP], "refusal": None},
    "system_fingerprint": "fp_loopback",
}
HELLO = [{"role": "user", "content": "What is the status of order A-17?"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, detection_engine: DetectionEngine) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("chat-api"), POLICY, engine=detection_engine) as gw:
        yield gw


@pytest.fixture(autouse=True)
def _fresh(gateway: RunningGateway) -> None:
    for upstream in (gateway.external, gateway.onprem):
        upstream.reset()
        upstream.set_reply("Hello from upstream")


def _stream(gw: RunningGateway, body: dict[str, Any]) -> tuple[httpx.Response, list[dict[str, Any]]]:
    with gw.http.stream("POST", "/v1/chat/completions", content=orjson.dumps({**body, "stream": True})) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines and lines[-1] == "data: [DONE]", lines
    return response, [orjson.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def _ask(gw: RunningGateway, model: str, stream: bool, **fields: Any) -> tuple[httpx.Response, Any]:
    body = {"model": model, "messages": HELLO, **fields}
    if stream:
        return _stream(gw, {**body, "stream_options": {"include_usage": True}})
    response = gw.chat(body)
    return response, response.json()


REPLIES = {
    "text": {},
    "tools": {"tool_calls": [CALL]},
    "extras": {"extras": EXTRAS},
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model", ["compat", "lite"])
@pytest.mark.parametrize("reply", sorted(REPLIES))
def test_answers_validate_against_openais_published_schema(
    gateway: RunningGateway, model: str, stream: bool, reply: str
) -> None:
    gateway.external.set_reply("Hello from upstream", **REPLIES[reply])
    tools = {"tools": [TOOL]} if reply == "tools" else {}
    response, answer = _ask(gateway, model, stream, **tools)
    assert response.status_code == 200, answer
    if not stream:
        check("CreateChatCompletionResponse", answer)
        message = answer["choices"][0]["message"]
        assert "refusal" in message and "logprobs" in answer["choices"][0]
        return
    for chunk in answer:
        check("CreateChatCompletionStreamResponse", chunk)
    assert answer[-1]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("model", ["compat", "lite"])
def test_refusal_reasoning_annotations_logprobs_and_fingerprint_come_back(gateway: RunningGateway, model: str) -> None:
    gateway.external.set_reply("", extras=EXTRAS)
    response, answer = _ask(gateway, model, False, logprobs=True, top_logprobs=1)
    assert response.status_code == 200, answer
    message, choice = answer["choices"][0]["message"], answer["choices"][0]
    assert message["refusal"] == "I cannot help with that." and message["content"] is None
    assert message["reasoning_content"] == "The user asks for..."
    assert message["annotations"] == EXTRAS["message"]["annotations"]
    assert choice["logprobs"]["content"][0]["token"] == "Hi"
    assert answer["system_fingerprint"] == "fp_loopback"
    sent = gateway.external.chat_requests[-1].body
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 1)

    _, chunks = _ask(gateway, model, True, logprobs=True)
    deltas = [c["choices"][0] for c in chunks if c["choices"]]
    assert "".join(d["delta"].get("refusal") or "" for d in deltas) == "I cannot help with that."
    assert "".join(d["delta"].get("reasoning_content") or "" for d in deltas) == "The user asks for..."
    assert any(d["logprobs"] and d["logprobs"]["content"][0]["token"] == "Hi" for d in deltas)
    assert any(c.get("system_fingerprint") == "fp_loopback" for c in chunks)


@pytest.mark.parametrize("model", ["compat", "lite"])
def test_streamed_tool_calls_carry_their_id_and_name(gateway: RunningGateway, model: str) -> None:
    gateway.external.set_reply("", tool_calls=[CALL])
    _, chunks = _ask(gateway, model, True, tools=[TOOL])
    calls = [call for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0]["id"] == "call_abc" and calls[0]["function"]["name"] == "lookup"
    assert all(v is not None for call in calls for v in (*call.values(), *call.get("function", {}).values()))
    assert "".join(c["function"].get("arguments", "") for c in calls) == CALL["function"]["arguments"]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_legacy_functions_go_out_as_tools_and_come_back_as_function_call(gateway: RunningGateway, stream: bool) -> None:
    gateway.external.set_reply("", tool_calls=[CALL])
    legacy = {"functions": [TOOL["function"]], "function_call": {"name": "lookup"}}
    response, answer = _ask(gateway, "compat", stream, **legacy)
    assert response.status_code == 200
    sent = gateway.external.chat_requests[-1].body
    assert sent["tools"] == [TOOL] and sent["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert "functions" not in sent and "function_call" not in sent
    if not stream:
        check("CreateChatCompletionResponse", answer)
        choice = answer["choices"][0]
        assert choice["finish_reason"] == "function_call" and "tool_calls" not in choice["message"]
        assert choice["message"]["function_call"] == CALL["function"]
        return
    for chunk in answer:
        check("CreateChatCompletionStreamResponse", chunk)
    pieces = [c["choices"][0]["delta"].get("function_call") for c in answer if c["choices"]]
    assert "".join(p.get("arguments", "") for p in pieces if p) == CALL["function"]["arguments"]
    assert [c["choices"][0]["finish_reason"] for c in answer if c["choices"]][-1] == "function_call"


FORWARDED = {
    "reasoning_effort": "low",
    "safety_identifier": "u-hash",
    "prompt_cache_key": "pk-1",
    "verbosity": "low",
    "logprobs": True,
    "top_logprobs": 2,
    "seed": 3,
}
VLLM_EXTRAS = {
    "top_k": 20,
    "min_p": 0.05,
    "repetition_penalty": 1.1,
    "chat_template_kwargs": {"enable_thinking": False},
    "guided_choice": ["yes", "no"],
}


@pytest.mark.parametrize("model", ["compat", "lite"])
def test_openais_parameters_reach_the_upstream(gateway: RunningGateway, model: str) -> None:
    response, _ = _ask(gateway, model, False, **FORWARDED, store=False, metadata={"ticket": "T-1"}, service_tier="auto")
    assert response.status_code == 200
    sent = gateway.external.chat_requests[-1].body
    if model == "compat":  # litellm passes on what its provider takes; the loopback speaks OpenAI
        assert {k: sent.get(k) for k in FORWARDED} == FORWARDED
    else:
        assert {k: sent.get(k) for k in ("logprobs", "top_logprobs", "seed")} == {
            "logprobs": True,
            "top_logprobs": 2,
            "seed": 3,
        }
    assert not {"metadata", "store", "service_tier"} & sent.keys()  # the gateway's own: never sent


def test_vllm_extras_go_to_openai_compatible_targets_only(gateway: RunningGateway) -> None:
    response, _ = _ask(gateway, "compat", False, **VLLM_EXTRAS)
    assert response.status_code == 200
    sent = gateway.external.chat_requests[-1].body
    assert {k: sent[k] for k in VLLM_EXTRAS} == VLLM_EXTRAS
    gateway.external.reset()
    refused, error = _ask(gateway, "lite", False, top_k=20)
    assert refused.status_code == 400 and "vLLM's extra parameters" in error["error"]["message"]
    assert not gateway.external.chat_requests


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"store": True}, "store"),
        ({"service_tier": "priority"}, "service_tier"),
        ({"prompt_cache_retention": "24h"}, "prompt_cache_retention"),
        ({"stream_options": {"include_obfuscation": True}}, "stream_options.include_obfuscation"),
        ({"functions": [TOOL["function"]], "tools": [TOOL]}, "functions"),
    ],
)
def test_what_is_not_served_is_refused_with_a_400_that_says_so(
    gateway: RunningGateway, fields: dict[str, Any], param: str
) -> None:
    response, answer = _ask(gateway, "compat", False, **fields)
    assert response.status_code == 400
    error = answer["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert "is not supported here" in error["message"]
    assert not gateway.external.chat_requests


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    "fields",
    [{"tools": [TOOL], "tool_choice": "required"}, {"response_format": {"type": "json_object"}}],
    ids=["tools", "json"],
)
def test_a_target_that_cannot_do_tools_or_json_is_never_sent_them(
    gateway: RunningGateway, fields: dict[str, Any], stream: bool
) -> None:
    response = gateway.chat({"model": "plain", "messages": HELLO, "stream": stream, **fields})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "No target this request may be sent to" in error["message"]
    assert not gateway.onprem.chat_requests
    ok = gateway.chat({"model": "plain", "messages": HELLO, "tools": [TOOL], "tool_choice": "none"})
    assert ok.status_code == 200  # tools it may not call need no tool calling


def test_a_streamed_refusal_is_cached_as_a_refusal(gateway: RunningGateway) -> None:
    gateway.external.set_reply("", extras=EXTRAS)
    _, chunks = _ask(gateway, "cached", True, temperature=0)
    assert "".join(c["choices"][0]["delta"].get("refusal") or "" for c in chunks if c["choices"]) == (
        "I cannot help with that."
    )
    response, answer = _ask(gateway, "cached", False, temperature=0)
    assert response.headers["x-gateway-cache"] == "hit" and len(gateway.external.chat_requests) == 1
    check("CreateChatCompletionResponse", answer)
    assert answer["choices"][0]["message"]["refusal"] == "I cannot help with that."
    assert answer["choices"][0]["message"]["reasoning_content"] == "The user asks for..."
