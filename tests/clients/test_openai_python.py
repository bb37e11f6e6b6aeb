"""The ``openai`` Python SDK, unmodified, against the gateway: chat, streaming, tools, and errors it must not retry."""

from __future__ import annotations

import openai
import pytest

from tests.clients.conftest import TOOL_CALL
from tests.upstreams.gateway_between import RunningGateway

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_rate",
            "description": "An exchange rate.",
            "parameters": {"type": "object", "properties": {"currency": {"type": "string"}}, "required": ["currency"]},
        },
    }
]
CARD = "4539 1488 0343 6467"


def _client(gw: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, timeout=60)


@pytest.mark.parametrize("model", ["bank-standard", "bank-premium"])
def test_chat_with_the_sdks_own_types(gateway: RunningGateway, model: str) -> None:
    raw = _client(gateway).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "What is a basis point?"}]
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello from upstream"
    assert reply.choices[0].message.refusal is None and reply.choices[0].finish_reason == "stop"
    assert reply.object == "chat.completion" and reply.model == model and reply.usage is not None
    assert raw.headers["x-gateway-route"] == ("premium" if model == "bank-premium" else "default")


@pytest.mark.parametrize("model", ["bank-standard", "bank-premium"])
def test_streaming_with_usage(gateway: RunningGateway, model: str) -> None:
    chunks = list(_client(gateway).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello."}], stream=True,
        stream_options={"include_usage": True},
    ))  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from upstream"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


@pytest.mark.parametrize("model", ["bank-standard", "bank-premium"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_tools(gateway: RunningGateway, model: str, stream: bool) -> None:
    upstream = gateway.external if model == "bank-premium" else gateway.onprem
    upstream.set_reply("", tool_calls=[TOOL_CALL])
    client = _client(gateway)
    messages = [{"role": "user", "content": "Rate for EUR?"}]
    if not stream:
        reply = client.chat.completions.create(model=model, messages=messages, tools=TOOLS, tool_choice="required")
        [call] = reply.choices[0].message.tool_calls or []
        assert reply.choices[0].finish_reason == "tool_calls"
    else:
        with client.chat.completions.stream(model=model, messages=messages, tools=TOOLS) as events:
            final = events.get_final_completion()
        [call] = final.choices[0].message.tool_calls or []
    assert (call.id, call.function.name, call.function.arguments) == ("call_7", "get_rate", '{"currency": "EUR"}')
    assert upstream.chat_requests[-1].body["tools"] == TOOLS


def test_a_request_the_model_refuses_is_a_400_the_sdk_does_not_retry(gateway: RunningGateway) -> None:
    gateway.onprem.fail_next(400, times=None, code="context_length_exceeded")
    with pytest.raises(openai.BadRequestError) as caught:
        _client(gateway).chat.completions.create(model="bank-standard", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "upstream_rejected" and "context_length_exceeded" in caught.value.message
    assert len(gateway.onprem.chat_requests) == 1  # one request, not three


def test_a_card_number_never_reaches_the_external_upstream(gateway: RunningGateway) -> None:
    reply = _client(gateway).chat.completions.create(
        model="bank-premium", messages=[{"role": "user", "content": f"Card {CARD} was declined"}]
    )
    assert reply.choices[0].message.content == "Hello from upstream"
    assert not gateway.external.chat_requests and len(gateway.onprem.chat_requests) == 1
