"""OpenAI Responses <-> chat: the request, the answer and the stream, in-process.

Answers and events are checked against OpenAI's pinned spec and strictly
against the openai SDK's own types (``tests/apis/wire_checks.py``); the stream
is written by ``ResponsesWire`` with its methods called in the path's order.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.base import Completion, Usage
from gateway.apis.responses import parse, to_chat
from gateway.apis.responses_answer import ResponsesWire
from gateway.apis.responses_wire import ResponsesRequest
from gateway.errors import InvalidRequest, StreamInterrupted
from tests.apis.wire_checks import check_response, check_response_events, drive, sse_events, stream_deltas

BASE: dict[str, Any] = {"model": "bank-standard"}


def request_of(body: dict[str, Any]) -> ResponsesRequest:
    return parse(orjson.dumps({**BASE, **body}))


def chat_of(body: dict[str, Any]) -> dict[str, Any]:
    return to_chat(request_of(body)).model_dump(exclude_none=True, by_alias=True)


def refused(body: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        chat_of(body)
    return caught.value


def test_a_string_input_with_instructions() -> None:
    chat = chat_of({"input": "Summarise the memo.", "instructions": "Be brief.", "max_output_tokens": 100,
                    "temperature": 0.3, "top_p": 0.5, "user": "u-1", "reasoning": {"effort": "low"}})  # fmt: skip
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Summarise the memo."},
    ]
    assert (chat["max_tokens"], chat["temperature"], chat["top_p"]) == (100, 0.3, 0.5)
    assert (chat["user"], chat["reasoning_effort"], chat["stream"]) == ("u-1", "low", False)


def test_items_function_calls_and_outputs() -> None:
    chat = chat_of(
        {
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Balance?"}]},
                {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                 "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
                {"type": "function_call", "call_id": "call_1", "name": "balance", "arguments": '{"a": 1}',
                 "id": "fc_1"},
                {"type": "function_call", "call_id": "call_2", "name": "balance", "arguments": '{"a": 2}'},
                {"type": "function_call_output", "call_id": "call_1", "output": "12.50"},
                {"type": "function_call_output", "call_id": "call_2",
                 "output": [{"type": "input_text", "text": "3.00"}]},
            ],
            "tools": [{"type": "function", "name": "balance", "parameters": {"type": "object"}, "strict": True}],
            "tool_choice": {"type": "function", "name": "balance"},
            "parallel_tool_calls": False,
            "stream": True,
        }
    )  # fmt: skip
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "balance", "arguments": '{"a": 1}'}},
        {"id": "call_2", "type": "function", "function": {"name": "balance", "arguments": '{"a": 2}'}},
    ]
    assert chat["messages"] == [
        {"role": "user", "content": "Balance?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "12.50"},
        {"role": "tool", "tool_call_id": "call_2", "content": "3.00"},
    ]
    assert chat["tools"] == [{"type": "function", "function": {"name": "balance", "parameters": {"type": "object"},
                                                               "strict": True}}]  # fmt: skip
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "balance"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["stream_options"] == {"include_usage": True}


def test_json_schema_text_format_is_the_response_format() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    chat = chat_of({"input": "x", "text": {"format": {"type": "json_schema", "name": "verdict", "schema": schema,
                                                      "strict": True}}})  # fmt: skip
    expected = {"name": "verdict", "schema": schema, "strict": True}
    assert chat["response_format"] == {"type": "json_schema", "json_schema": expected}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"previous_response_id": "resp_1"}, "keeps no responses"),
        ({"conversation": "conv_1"}, "keeps no conversation state"),
        ({"background": True}, "'background' is not supported"),
        ({"tools": [{"type": "web_search"}]}, "Built-in tool 'web_search' is not supported"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "Item references"),
        ({"include": ["reasoning.encrypted_content"]}, "'include' is not supported"),
        ({"truncation": "auto"}, "never drops input"),
        ({"verbosity": "low"}, "Unknown field 'verbosity'"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
         "the gateway keeps no files"),
        ({"input": [{"type": "function_call_output", "call_id": "c",
                     "output": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}, "function call's output"),
    ],
)  # fmt: skip
def test_what_cannot_be_served_is_refused_with_its_reason(body: dict[str, Any], words: str) -> None:
    error = refused({"input": "Card 4111 1111 1111 1111", **body})
    assert words in error.message
    assert "4111" not in error.message


def test_images_and_files_become_the_chat_paths_image_and_file_parts() -> None:
    content = [
        {"type": "input_text", "text": "Compare."},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0x", "filename": "q3.pdf"},
    ]
    [message] = chat_of({"input": [{"role": "user", "content": content}]})["messages"]
    assert message["content"] == [
        {"type": "text", "text": "Compare."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "q3.pdf"}},
    ]


def test_store_is_accepted_and_answered_false() -> None:
    body = wire(request_of({"input": "x", "store": True, "metadata": {"desk": "fx"}})).body(
        Completion("ok", "stop", Usage(1, 1))
    )
    assert body["store"] is False and body["metadata"] == {"desk": "fx"}
    assert "metadata" not in chat_of({"input": "x", "metadata": {"desk": "fx"}})


# -- the answer ----------------------------------------------------------------------


def wire(request: ResponsesRequest) -> ResponsesWire:
    return ResponsesWire("abc123", request)


def test_a_text_answer_is_a_response() -> None:
    request = request_of({"input": "x", "instructions": "Be brief.", "temperature": 0.5})
    response = check_response(wire(request).body(Completion("Hello", "stop", Usage(20, 5, 4))))
    assert response.id == "resp_abc123" and response.status == "completed" and response.output_text == "Hello"
    assert response.instructions == "Be brief." and response.temperature == 0.5
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (20, 5, 25)
    assert response.usage.input_tokens_details.cached_tokens == 4


def test_tool_calls_are_function_call_items() -> None:
    calls = [{"id": "call_9", "type": "function", "function": {"name": "balance", "arguments": '{"a": 1}'}}]
    request = request_of({"input": "x", "tools": [{"type": "function", "name": "balance", "parameters": {}}]})
    response = check_response(wire(request).body(Completion(None, "tool_calls", Usage(1, 1), calls)))
    item = response.output[0]
    assert (item.type, item.call_id, item.name, item.arguments) == ("function_call", "call_9", "balance", '{"a": 1}')  # type: ignore[union-attr]


def test_a_length_finish_is_incomplete() -> None:
    response = check_response(wire(request_of({"input": "x"})).body(Completion("Hel", "length", Usage(1, 1))))
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"


# -- the stream ----------------------------------------------------------------------


def test_a_streamed_answer_is_the_responses_event_sequence() -> None:
    calls = [{"id": "call_1", "name": "balance", "arguments": '{"a": 1}'}]
    request = request_of({"input": "x", "tools": [{"type": "function", "name": "balance", "parameters": {}}]})
    body = drive(wire(request), stream_deltas(["Let me ", "check."], calls), "tool_calls", Usage(20, 7))
    events = sse_events(body)
    check_response_events(events)
    assert [name for name, _ in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    final = check_response(events[-1][1]["response"])
    assert final.output_text == "Let me check."
    assert final.output[1].arguments == '{"a": 1}'  # type: ignore[union-attr]
    assert final.usage is not None and final.usage.output_tokens == 7


def test_a_length_cut_stream_ends_incomplete() -> None:
    events = sse_events(drive(wire(request_of({"input": "x"})), stream_deltas(["Hel"], []), "length", Usage(1, 1)))
    check_response_events(events)
    assert events[-1][0] == "response.incomplete"


def test_an_error_mid_stream_is_an_error_event_then_failed() -> None:
    writer = wire(request_of({"input": "x"}))
    events = sse_events(writer.opening() + writer.delta("partial", None) + writer.error(StreamInterrupted("cut")))
    check_response_events(events)
    assert [name for name, _ in events[-2:]] == ["error", "response.failed"]
    assert events[-2][1]["code"] == "stream_interrupted"
