"""``POST /v1/responses`` end to end: the official openai client, unmodified, against a running
gateway between two recording loopback upstreams (``tests/apis/conftest.py``). Bodies and events
are checked against OpenAI's pinned spec and strictly against the SDK's types."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from tests.apis.conftest import CARD, recorded_api
from tests.apis.wire_checks import check_response, check_response_events, sse_events
from tests.upstreams.gateway_between import RunningGateway

TOOL = {
    "type": "function",
    "name": "balance",
    "description": "The balance of an account.",
    "parameters": {"type": "object", "properties": {"account": {"type": "string"}}, "required": ["account"]},
    "strict": True,
}
CALL = {"id": "call_7", "type": "function", "function": {"name": "balance", "arguments": '{"account": "A-1"}'}}


def client(gw: RunningGateway, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(api_key=key or gw.key, base_url=f"{gw.url}/v1", max_retries=0)


def post(gw: RunningGateway, body: Any) -> Any:
    return gw.http.post("/v1/responses", content=orjson.dumps(body))


def test_responses_create(gw: RunningGateway) -> None:
    gw.external.set_reply("Your statement is ready.", prompt_tokens=21, completion_tokens=5)
    raw = client(gw).responses.with_raw_response.create(
        model="bank-standard",
        instructions="You help bank staff.",
        input="Is my statement ready?",
        max_output_tokens=100,
        temperature=0.2,
        store=False,
        metadata={"desk": "retail"},
    )
    response = raw.parse()
    check_response(orjson.loads(raw.http_response.content))
    assert response.output_text == "Your statement is ready."
    assert (response.status, response.model, response.metadata) == ("completed", "bank-standard", {"desk": "retail"})
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens) == (21, 5)
    assert raw.headers["x-gateway-residency"] == "external"
    sent = gw.external.chat_requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "You help bank staff."},
        {"role": "user", "content": "Is my statement ready?"},
    ]
    assert (sent["max_tokens"], sent["temperature"]) == (100, 0.2)
    assert "metadata" not in sent and "store" not in sent


def test_responses_create_with_function_tools_round_trip(gw: RunningGateway) -> None:
    gw.external.set_reply("", tool_calls=[CALL])
    api = client(gw)
    first = api.responses.create(
        model="bank-standard",
        input="Balance of A-1?",
        tools=[TOOL],
        tool_choice="required",  # type: ignore[list-item]
    )
    call = first.output[0]
    assert (call.type, call.call_id, call.name, call.arguments) == ("function_call", "call_7", "balance",  # type: ignore[union-attr]
                                                                    '{"account": "A-1"}')  # fmt: skip
    sent = gw.external.chat_requests[-1].body
    assert sent["tools"][0]["function"]["parameters"] == TOOL["parameters"] and sent["tool_choice"] == "required"

    gw.external.set_reply("A-1 holds 12.50.")
    second = api.responses.create(
        model="bank-standard",
        tools=[TOOL],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": "Balance of A-1?"},
            *[item.model_dump(exclude_none=True) for item in first.output],  # type: ignore[misc]
            {"type": "function_call_output", "call_id": "call_7", "output": "12.50"},
        ],
    )
    assert second.output_text == "A-1 holds 12.50."
    messages = gw.external.chat_requests[-1].body["messages"]
    assert messages[1] == {"role": "assistant", "tool_calls": [CALL]}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_7", "content": "12.50"}


def test_responses_stream_text(gw: RunningGateway) -> None:
    gw.external.set_reply("Three words here", prompt_tokens=9, completion_tokens=3)
    stream = client(gw).responses.create(model="bank-standard", input="Say three words.", stream=True)
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Three words here"  # type: ignore[union-attr]
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "Three words here" and final.usage.output_tokens == 3


def test_responses_stream_function_call_with_the_sdk_helper(gw: RunningGateway) -> None:
    gw.external.set_reply("", tool_calls=[CALL])
    with client(gw).responses.stream(
        model="bank-standard",
        input="Balance of A-1?",
        tools=[TOOL],  # type: ignore[list-item]
    ) as stream:
        arguments = "".join(e.delta for e in stream if e.type == "response.function_call_arguments.delta")
        final = stream.get_final_response()
    assert arguments == '{"account": "A-1"}'
    assert final.output[0].type == "function_call" and final.output[0].arguments == arguments  # type: ignore[union-attr]


def test_the_raw_stream_validates_event_by_event(gw: RunningGateway) -> None:
    gw.external.set_reply("Checking.", tool_calls=[CALL])
    response = post(gw, {"model": "bank-standard", "input": "Balance?", "tools": [TOOL], "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.content)
    check_response_events(events)
    check_response(events[-1][1]["response"])
    assert events[-1][0] == "response.completed"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_card_number_never_reaches_the_external_upstream(gw: RunningGateway, stream: bool) -> None:
    gw.onprem.set_reply("Noted.")
    text = {"type": "input_text", "text": f"Card {CARD} was declined"}
    body = {"model": "bank-standard", "stream": stream, "input": [{"role": "user", "content": [text]}]}
    response = post(gw, body)
    assert response.status_code == 200
    assert response.headers["x-gateway-residency"] == "on_prem" and response.headers["x-gateway-level"] == "restricted"
    assert gw.external.requests == []


@pytest.mark.parametrize(
    "body",
    [
        {"input": "Balance?", "instructions": f"The customer's card is {CARD}."},
        {"input": [{"type": "function_call_output", "call_id": "c1", "output": f"card {CARD}"}]},
        {"input": [{"type": "function_call", "call_id": "c1", "name": "balance",
                    "arguments": orjson.dumps({"card": CARD}).decode()}]},
        {"input": "Balance?", "tools": [{**TOOL, "description": f"Charges card {CARD}"}]},
    ],
)  # fmt: skip
def test_a_card_in_any_translated_field_never_reaches_the_external_upstream(gw: RunningGateway, body: Any) -> None:
    response = post(gw, {"model": "bank-standard", **body})
    assert response.status_code == 200 and response.headers["x-gateway-residency"] == "on_prem"
    assert gw.external.requests == []


def _openai_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    return str(error["message"])


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"input": "hi", "previous_response_id": "resp_123"}, 400, "keeps no responses"),
        ({"input": "hi", "tools": [{"type": "web_search"}]}, 400, "Built-in tool 'web_search'"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}, 400,
         "keeps no files"),
        ({"input": []}, 400, "'input'"),
        ({"input": "hi", "model": "no-such-model"}, 404, "model"),
        ({"input": "hi", "temperature": 5}, 400, "'temperature'"),
    ],
)  # fmt: skip
def test_bad_input_gets_openais_error_shape(gw: RunningGateway, body: dict[str, Any], status: int, words: str) -> None:
    assert words in _openai_error(post(gw, {"model": "bank-standard", **body}), status)
    assert gw.external.requests == [] and gw.onprem.requests == []


def test_the_sdk_sees_a_bad_request_and_a_bad_key(gw: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client(gw).responses.create(model="bank-standard", input="hi", previous_response_id="resp_1")
    assert bad.value.code == "invalid_request" and bad.value.param == "body"
    with pytest.raises(openai.AuthenticationError):
        client(gw, key="sk-wrong").responses.create(model="bank-standard", input="hi")
    _openai_error(gw.http.post("/v1/responses", content=b"[1"), 400)


def test_an_upstream_cut_mid_stream_ends_with_an_error_event_and_failed(gw: RunningGateway) -> None:
    gw.external.set_reply("one two three four five six")
    gw.external.reset_mid_stream_next(after_chunks=3)
    events = sse_events(post(gw, {"model": "bank-standard", "input": "Hi", "stream": True}).content)
    check_response_events(events)
    assert [name for name, _ in events[-2:]] == ["error", "response.failed"]
    assert events[-2][1]["code"] == "stream_interrupted"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_ledger_and_the_audit_trail_say_which_api_was_called(gw: RunningGateway, stream: bool) -> None:
    response = post(gw, {"model": "bank-standard", "input": "Hi", "stream": stream})
    assert response.status_code == 200
    assert recorded_api(gw, response.headers["x-request-id"]) == ("responses", "responses")


def test_an_image_is_decided_at_on_error_and_never_reaches_the_external_upstream(gw: RunningGateway) -> None:
    gw.onprem.set_reply("A bar chart.")
    image = {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    response = post(gw, {"model": "bank-standard", "input": [{"role": "user", "content": [image]}]})
    assert gw.external.requests == []
    if response.status_code == 200:  # an on-prem target took it: the classifier could not read the image
        assert response.headers["x-gateway-residency"] == "on_prem"
        assert response.headers["x-gateway-level"] == "restricted"
    else:  # no permitted target declares it reads images
        _openai_error(response, 400)
