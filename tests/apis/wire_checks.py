"""Checks shared by the API tests: SSE bodies read back into events, and each event or body
validated against OpenAI's pinned spec and strictly against the official SDKs' own types."""

from __future__ import annotations

from typing import Any

import orjson
from anthropic.types import Message, RawMessageStreamEvent
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from tests.upstreams.openapi_schema import check

RESPONSE_EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "error": "ResponseErrorEvent",
}

_RESPONSE_EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
_ANTHROPIC_EVENTS: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def sse_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` for each event of an SSE body; every event must carry both."""
    out = []
    for block in body.split(b"\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(b": ", 1) for line in block.split(b"\n"))
        out.append((fields[b"event"].decode(), orjson.loads(fields[b"data"])))
    return out


def check_response(body: dict[str, Any]) -> Response:
    check("Response", body)
    return Response.model_validate(body, strict=True)


def check_response_events(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Each event: named as its type, valid under its spec schema and the SDK's type; numbered 0, 1, 2..."""
    for position, (name, data) in enumerate(events):
        assert data["type"] == name
        assert data["sequence_number"] == position
        check(RESPONSE_EVENT_SCHEMAS[name], data)
        _RESPONSE_EVENTS.validate_python(data, strict=True)


def check_message(body: dict[str, Any]) -> Message:
    return Message.model_validate(body, strict=True)


def check_anthropic_events(events: list[tuple[str, dict[str, Any]]]) -> None:
    for name, data in events:
        assert data["type"] == name
        if name not in ("error", "ping"):  # neither is a RawMessageStreamEvent; the SDK handles both apart
            _ANTHROPIC_EVENTS.validate_python(data, strict=True)


def stream_deltas(text: list[str], calls: list[dict[str, Any]]) -> list[tuple[str | None, list[dict[str, Any]] | None]]:
    """The ``(content, tool_calls)`` pieces an upstream streams: text, then each call's head and
    its arguments in two halves (OpenAI's delta shape)."""
    out: list[tuple[str | None, list[dict[str, Any]] | None]] = [(piece, None) for piece in text]
    for index, call in enumerate(calls):
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": ""},
        }
        out.append((None, [head]))
        for part in (call["arguments"][:5], call["arguments"][5:]):
            out.append((None, [{"index": index, "function": {"arguments": part}}]))
    return out


def drive(wire: Any, deltas: list[tuple[str | None, list[dict[str, Any]] | None]], finish: str, usage: Any) -> bytes:
    """A whole stream written by ``wire``, its methods called in the path's order
    (``gateway.serving.streaming.relay``)."""
    parts = [wire.opening()] + [wire.delta(content, calls) for content, calls in deltas]
    return b"".join([*parts, wire.finish(finish), wire.usage(usage), wire.done()])
