"""Anthropic Messages <-> chat: the request, the answer, the stream and errors, in-process.

The stream is written by ``MessagesWire`` with its methods called in the
path's order and read back by the anthropic SDK's own accumulator.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from adapters.base import Completion, Usage
from gateway.apis.anthropic_answer import MessagesWire
from gateway.apis.anthropic_messages import error_answer, parse, to_chat
from gateway.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NoTargetAvailable,
    PolicyDenied,
    StreamInterrupted,
    UpstreamError,
)
from gateway.protocol import ChatCompletionRequest
from tests.apis.wire_checks import check_anthropic_events, check_message, drive, sse_events, stream_deltas

BASE: dict[str, Any] = {"model": "bank-standard", "max_tokens": 64}


def chat_of(body: dict[str, Any]) -> dict[str, Any]:
    return to_chat(parse(orjson.dumps({**BASE, **body}))).model_dump(exclude_none=True, by_alias=True)


def refused(body: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        chat_of(body)
    return caught.value


def test_system_text_and_sampling_become_the_chat_request() -> None:
    chat = chat_of(
        {
            "system": [{"type": "text", "text": "You help bank staff.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]}
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "teller-7"},
        }
    )
    assert chat["messages"] == [
        {"role": "system", "content": "You help bank staff."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
    ]
    assert (chat["max_tokens"], chat["temperature"], chat["top_p"]) == (64, 0.2, 0.9)
    assert (chat["stop"], chat["user"], chat["stream"]) == (["END"], "teller-7", False)


def test_tool_use_and_tool_result_become_tool_calls_and_tool_messages() -> None:
    chat = chat_of(
        {
            "messages": [
                {"role": "user", "content": "Balance of account 1?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Looking it up."},
                        {"type": "tool_use", "id": "toolu_1", "name": "balance", "input": {"account": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "and be brief"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "12.50"}],
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": "no such account",
                            "is_error": True,
                        },
                    ],
                },
            ],
            "tools": [{"name": "balance", "description": "Account balance", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "balance", "disable_parallel_tool_use": True},
            "stream": True,
        }
    )
    call = {"id": "toolu_1", "type": "function", "function": {"name": "balance", "arguments": '{"account":1}'}}
    assert chat["messages"][1:] == [
        {"role": "assistant", "content": "Looking it up.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "12.50"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no such account"},
        {"role": "user", "content": "and be brief"},
    ]
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "balance", "description": "Account balance",
                                          "parameters": {"type": "object"}}}
    ]  # fmt: skip
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "balance"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("choice", "expected"), [("auto", "auto"), ("any", "required"), ("none", "none")])
def test_tool_choice_kinds(choice: str, expected: str) -> None:
    assert (
        chat_of({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": choice}})["tool_choice"]
        == expected
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"top_k": 5}, "'top_k' is not supported"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "extended thinking"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "Server tool 'web_search_20250305'"),
        ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "'stop_sequences'"),
        ({"max_tokens": None}, "'max_tokens'"),
        ({"temperature": 1.5}, "'temperature'"),
        ({"prompt_cache_key": "x"}, "Unknown field 'prompt_cache_key'"),
    ],
)
def test_what_cannot_be_served_is_refused_with_its_reason(body: dict[str, Any], words: str) -> None:
    error = refused({"messages": [{"role": "user", "content": "Card 4111 1111 1111 1111"}], **body})
    assert words in error.message
    assert "4111" not in error.message


def test_missing_max_tokens_is_named() -> None:
    with pytest.raises(InvalidRequest, match="Missing required field 'max_tokens'"):
        parse(orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}))


def test_disabled_thinking_is_accepted() -> None:
    assert chat_of({"messages": [{"role": "user", "content": "x"}], "thinking": {"type": "disabled"}})["messages"]


def test_images_and_documents_become_the_chat_paths_image_file_and_text_parts() -> None:
    png = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    content = [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": png},
        {"type": "image", "source": {"type": "url", "url": "https://intranet.bank/chart.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
         "title": "Q3 report"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Plain memo."},
         "context": "From the risk desk"},
    ]  # fmt: skip
    [message] = chat_of({"messages": [{"role": "user", "content": content}]})["messages"]
    assert message["content"] == [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://intranet.bank/chart.png"}},
        {"type": "text", "text": "Q3 report"},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "Q3 report"}},
        {"type": "text", "text": "From the risk desk"},
        {"type": "text", "text": "Plain memo."},
    ]


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ({"type": "image", "source": {"type": "file", "file_id": "file_1"}}, "Files API"),
        ({"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}}, "send a PDF (base64) or text"),
        ({"type": "image", "source": {"type": "base64", "media_type": "text/html", "data": "PGI+"}}, "image type"),
        ({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"},
          "citations": {"enabled": True}}, "Citations"),
    ],
)  # fmt: skip
def test_media_without_a_chat_part_is_refused_by_position(block: dict[str, Any], words: str) -> None:
    error = refused({"messages": [{"role": "user", "content": [{"type": "text", "text": "See."}, block]}]})
    assert words in error.message and (error.param or "").startswith("messages.0.content.1")


def test_media_in_a_tool_result_is_refused() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    result = {"type": "tool_result", "tool_use_id": "t1", "content": [image]}
    error = refused({"messages": [{"role": "user", "content": [result]}]})
    assert "tool result" in error.message and error.param == "messages.0.content.0.content.0"


def test_an_unknown_key_inside_free_text_positions_is_not_echoed() -> None:
    error = refused({"messages": [{"role": "user", "content": "x", "IBAN DE89370400440532013000": 1}]})
    assert "DE89" not in error.message and "<key 2>" in error.message


def test_not_json_and_not_an_object_are_400() -> None:
    for raw in (b"{", b"[]"):
        with pytest.raises(InvalidRequest):
            parse(raw)


# -- the answer ----------------------------------------------------------------------

CHAT_REQUEST = ChatCompletionRequest(model="bank-standard", messages=[{"role": "user", "content": "x"}])  # type: ignore[list-item]


def wire() -> MessagesWire:
    return MessagesWire("abc123", CHAT_REQUEST)


def test_a_text_answer_is_an_anthropic_message() -> None:
    body = wire().body(Completion("Hello", "length", Usage(20, 5, 4)))
    message = check_message(body)
    assert message.id == "msg_abc123" and message.model == "bank-standard"
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "Hello"  # type: ignore[union-attr]
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        16,
        4,
        5,
    )


def test_tool_calls_are_tool_use_blocks() -> None:
    calls = [{"id": "call_9", "type": "function", "function": {"name": "balance", "arguments": '{"account": 1}'}}]
    message = check_message(wire().body(Completion(None, "tool_calls", Usage(1, 1), calls)))
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert (block.type, block.id, block.name, block.input) == ("tool_use", "call_9", "balance", {"account": 1})  # type: ignore[union-attr]


def test_tool_arguments_that_are_not_an_object_arrive_whole() -> None:
    calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1, 2"}}]
    message = check_message(wire().body(Completion(None, "tool_calls", Usage(1, 1), calls)))
    assert message.content[0].input == {"arguments": "[1, 2"}  # type: ignore[union-attr]


# -- the stream ----------------------------------------------------------------------


def test_a_streamed_answer_is_anthropics_event_sequence() -> None:
    calls = [{"id": "call_1", "name": "balance", "arguments": '{"account": 1}'}]
    events = sse_events(drive(wire(), stream_deltas(["Let me ", "check."], calls), "tool_calls", Usage(20, 7)))
    check_anthropic_events(events)
    assert [name for name, _ in events] == [
        "message_start", "ping",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    snapshot = None
    buffers: dict[int, bytes] = {}
    for name, data in events:
        if name == "ping":
            continue
        snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=buffers)  # type: ignore[arg-type]
    assert snapshot is not None
    message = check_message(snapshot.to_dict())
    assert message.content[0].text == "Let me check."  # type: ignore[union-attr]
    assert message.content[1].input == {"account": 1}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 7)


def test_an_error_mid_stream_is_anthropics_error_event() -> None:
    writer = wire()
    body = writer.opening() + writer.delta("partial", None) + writer.error(StreamInterrupted("The upstream failed."))
    events = sse_events(body)
    error = {"type": "api_error", "message": "The upstream failed."}
    assert events[-1] == ("error", {"type": "error", "error": error})
    assert "message_stop" not in [name for name, _ in events]


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest("bad"), 400, "invalid_request_error"),
        (AuthenticationFailed("no key"), 401, "authentication_error"),
        (PolicyDenied("no"), 403, "permission_error"),
        (NoTargetAvailable("none"), 503, "overloaded_error"),
        (UpstreamError("boom"), 502, "api_error"),
    ],
)
def test_errors_have_anthropics_shape(error: Any, status: int, kind: str) -> None:
    error.headers["x-request-id"] = "req-1"
    got_status, body, headers = error_answer(error)
    assert got_status == status
    assert body == {"type": "error", "error": {"type": kind, "message": error.message}, "request_id": "req-1"}
    assert headers["request-id"] == "req-1"


def test_output_config_effort_and_json_schema_format() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    config = {"effort": "low", "format": {"type": "json_schema", "schema": schema}}
    chat = chat_of({"messages": [{"role": "user", "content": "x"}], "output_config": config})
    assert chat["reasoning_effort"] == "low"
    assert chat["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "output", "schema": schema, "strict": True}}  # fmt: skip
    assert "'output_config.effort'" in refused({"messages": [{"role": "user", "content": "x"}],
                                                "output_config": {"effort": "max"}}).message  # fmt: skip
