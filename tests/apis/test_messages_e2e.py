"""``POST /v1/messages`` end to end: the official anthropic client, unmodified, against a running
gateway between two recording loopback upstreams (``tests/apis/conftest.py``)."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from tests.apis.conftest import CARD, recorded_api
from tests.apis.wire_checks import check_anthropic_events, check_message, sse_events
from tests.upstreams.gateway_between import RunningGateway

TOOL = {
    "name": "balance",
    "description": "The balance of an account.",
    "input_schema": {"type": "object", "properties": {"account": {"type": "string"}}, "required": ["account"]},
}
CALL = {"id": "call_7", "type": "function", "function": {"name": "balance", "arguments": '{"account": "A-1"}'}}


def client(gw: RunningGateway, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key or gw.key, base_url=gw.url, max_retries=0)


def post(gw: RunningGateway, body: Any, **headers: str) -> Any:
    return gw.http.post("/v1/messages", content=orjson.dumps(body), headers=headers)


def test_messages_create(gw: RunningGateway) -> None:
    gw.external.set_reply("Your statement is ready.", prompt_tokens=21, completion_tokens=5)
    raw = client(gw).messages.with_raw_response.create(
        model="bank-standard",
        max_tokens=100,
        system="You help bank staff.",
        messages=[{"role": "user", "content": "Is my statement ready?"}],
        stop_sequences=["END"],
        extra_body={"temperature": 0.2},  # older clients send it; this SDK version only via extra_body
    )
    message = raw.parse()
    check_message(orjson.loads(raw.http_response.content))
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Your statement is ready."  # type: ignore[union-attr]
    assert (message.stop_reason, message.model, message.role) == ("end_turn", "bank-standard", "assistant")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (21, 5)
    assert raw.headers["x-gateway-residency"] == "external" and raw.headers["x-gateway-route"] == "default"
    assert raw.request_id == raw.headers["x-request-id"]
    sent = gw.external.chat_requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "You help bank staff."},
        {"role": "user", "content": "Is my statement ready?"},
    ]
    assert (sent["max_tokens"], sent["temperature"], sent["stop"]) == (100, 0.2, ["END"])


def test_messages_create_with_tool_use_and_tool_result(gw: RunningGateway) -> None:
    gw.external.set_reply("", tool_calls=[CALL])
    api = client(gw)
    first = api.messages.create(
        model="bank-standard",
        max_tokens=100,
        tools=[TOOL],  # type: ignore[list-item]
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Balance of A-1?"}],
    )
    assert first.stop_reason == "tool_use"
    use = first.content[0]
    assert (use.type, use.id, use.name, use.input) == ("tool_use", "call_7", "balance", {"account": "A-1"})  # type: ignore[union-attr]
    sent = gw.external.chat_requests[-1].body
    assert sent["tools"][0]["function"]["parameters"] == TOOL["input_schema"]
    assert sent["tool_choice"] == "required"

    gw.external.set_reply("A-1 holds 12.50.")
    second = api.messages.create(
        model="bank-standard",
        max_tokens=100,
        tools=[TOOL],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Balance of A-1?"},
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_7", "content": "12.50"}]},
        ],
    )
    assert second.content[0].text == "A-1 holds 12.50."  # type: ignore[union-attr]
    sent = gw.external.chat_requests[-1].body["messages"]
    assert sent[1]["tool_calls"] == [{**CALL, "function": {"name": "balance", "arguments": '{"account":"A-1"}'}}]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_7", "content": "12.50"}


def test_messages_stream_text(gw: RunningGateway) -> None:
    gw.external.set_reply("Three words here", prompt_tokens=9, completion_tokens=3)
    with client(gw).messages.stream(
        model="bank-standard", max_tokens=50, messages=[{"role": "user", "content": "Say three words."}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Three words here"
    check_message(final.to_dict())
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 3)


def test_messages_stream_tool_use(gw: RunningGateway) -> None:
    gw.external.set_reply("Checking.", tool_calls=[CALL])
    with client(gw).messages.stream(
        model="bank-standard", max_tokens=50, tools=[TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Balance of A-1?"}],
    ) as stream:  # fmt: skip
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"account": "A-1"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"


def test_the_raw_stream_is_anthropics_event_sequence(gw: RunningGateway) -> None:
    gw.external.set_reply("Hello there")
    body = {"model": "bank-standard", "max_tokens": 20, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    response = post(gw, body, **{"anthropic-version": "2023-06-01"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.content)
    check_anthropic_events(events)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_card_number_never_reaches_the_external_upstream(gw: RunningGateway, stream: bool) -> None:
    gw.onprem.set_reply("Noted.")
    body = {
        "model": "bank-standard", "max_tokens": 20, "stream": stream,
        "messages": [{"role": "user", "content": [{"type": "text", "text": f"Card {CARD} was declined"}]}],
    }  # fmt: skip
    response = post(gw, body)
    assert response.status_code == 200
    assert response.headers["x-gateway-residency"] == "on_prem" and response.headers["x-gateway-level"] == "restricted"
    assert gw.external.requests == []
    assert CARD in orjson.dumps(gw.onprem.chat_requests[-1].body).decode()


def test_a_card_in_a_tool_result_or_tool_input_never_reaches_the_external_upstream(gw: RunningGateway) -> None:
    for content in (
        [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": f"card {CARD}"}]}],
        "fine",
    ):
        use = {"type": "tool_use", "id": "t1", "name": "balance", "input": {"card": CARD}}
        body = {
            "model": "bank-standard", "max_tokens": 20, "tools": [TOOL],
            "messages": [{"role": "user", "content": "Balance?"}, {"role": "assistant", "content": [use]},
                         {"role": "user", "content": content}],
        }  # fmt: skip
        response = post(gw, body)
        assert response.status_code == 200 and response.headers["x-gateway-residency"] == "on_prem"
    assert gw.external.requests == []


def _anthropic_error(response: Any, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert set(body["error"]) == {"type", "message"}
    return str(body["error"]["message"])


@pytest.mark.parametrize(
    ("body", "status", "kind", "words"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "invalid_request_error", "'max_tokens'"),
        ({"max_tokens": 5, "top_k": 3, "messages": [{"role": "user", "content": "hi"}]}, 400,
         "invalid_request_error", "top_k"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}]},
         400, "invalid_request_error", "Files API"),
        ({"max_tokens": 5, "messages": []}, 400, "invalid_request_error", "'messages'"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "model": "no-such-model"}, 404,
         "not_found_error", "model"),
    ],
)  # fmt: skip
def test_bad_input_gets_anthropics_error_shape(
    gw: RunningGateway, body: dict[str, Any], status: int, kind: str, words: str
) -> None:
    response = post(gw, {"model": "bank-standard", **body})
    assert words in _anthropic_error(response, status, kind)
    assert gw.external.requests == [] and gw.onprem.requests == []


def test_not_json_is_a_400_in_anthropics_shape(gw: RunningGateway) -> None:
    response = gw.http.post("/v1/messages", content=b"{not json")
    _anthropic_error(response, 400, "invalid_request_error")


def test_keys_in_x_api_key_or_bearer_and_a_bad_key_in_anthropics_shape(gw: RunningGateway) -> None:
    body = {"model": "bank-standard", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client(gw, key="sk-wrong").messages.create(**body)  # type: ignore[arg-type]
    assert caught.value.status_code == 401
    assert caught.value.body == {"type": "error", "error": {"type": "authentication_error",
                                                            "message": "Invalid or revoked API key."},
                                 "request_id": caught.value.response.headers["x-request-id"]}  # fmt: skip
    bare = gw.http.post("/v1/messages", content=orjson.dumps(body), headers={"authorization": ""})
    assert "x-api-key" in _anthropic_error(bare, 401, "authentication_error")
    assert post(gw, body).status_code == 200  # Authorization: Bearer, as the test client sends it


def test_an_upstream_cut_mid_stream_ends_with_anthropics_error_event(gw: RunningGateway) -> None:
    gw.external.set_reply("one two three four five six")
    gw.external.reset_mid_stream_next(after_chunks=3)
    body = {"model": "bank-standard", "max_tokens": 20, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    events = sse_events(post(gw, body).content)
    check_anthropic_events(events)
    name, data = events[-1]
    assert name == "error" and data["error"]["type"] == "api_error"
    assert "message_stop" not in [n for n, _ in events]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_ledger_and_the_audit_trail_say_which_api_was_called(gw: RunningGateway, stream: bool) -> None:
    body = {
        "model": "bank-standard",
        "max_tokens": 20,
        "stream": stream,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    response = post(gw, body)
    assert response.status_code == 200
    assert recorded_api(gw, response.headers["x-request-id"]) == ("messages", "messages")
    chat = gw.chat({"model": "bank-standard", "messages": [{"role": "user", "content": "Hi"}]})
    assert recorded_api(gw, chat.headers["x-request-id"]) == ("chat", "chat")


def test_too_many_messages_is_a_413_in_anthropics_shape(gw: RunningGateway) -> None:
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}] * 251
    response = post(gw, {"model": "bank-standard", "max_tokens": 5, "messages": turns})
    assert "At most 500 messages" in _anthropic_error(response, 413, "request_too_large")
    assert gw.external.requests == []


def test_an_image_is_decided_at_on_error_and_never_reaches_the_external_upstream(gw: RunningGateway) -> None:
    gw.onprem.set_reply("A bar chart.")
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    body = {"model": "bank-standard", "max_tokens": 20,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]}]}  # fmt: skip
    response = post(gw, body)
    assert gw.external.requests == []
    if response.status_code == 200:  # an on-prem target took it: the classifier could not read the image
        assert response.headers["x-gateway-residency"] == "on_prem"
        assert response.headers["x-gateway-level"] == "restricted"
        sent = gw.onprem.chat_requests[-1].body["messages"][0]["content"]
        assert sent[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    else:  # no permitted target declares it reads images
        _anthropic_error(response, 400, "invalid_request_error")
