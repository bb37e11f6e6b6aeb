"""The chat path's answer written as Anthropic's Messages API: ``MessagesWire``.

A ``Wire`` (``gateway.serving.wire``): the path hands it the completion, or
the stream's pieces in order (``opening``, ``delta``..., ``finish``, ``usage``,
``done``; ``error`` when the stream breaks), and it writes Anthropic's shapes.

The stream is Anthropic's event sequence: ``message_start``, ``ping``, then per
content block ``content_block_start``, its ``content_block_delta`` events
(``text_delta`` for text, ``input_json_delta`` for a tool call's arguments) and
``content_block_stop``; at the end ``message_delta`` (``stop_reason`` and the
usage) and ``message_stop``. Text opens (or continues) a text block; each new
tool call index opens a ``tool_use`` block. A failure mid-stream is Anthropic's
``error`` event.

Chat's ``finish_reason`` ``stop``/``length``/``tool_calls``/``content_filter``
is ``stop_reason`` ``end_turn``/``max_tokens``/``tool_use``/``refusal``
(a stop sequence also ends as ``end_turn``: chat does not say which one
matched). ``input_tokens`` excludes the prompt tokens read from a cache
(``cache_read_input_tokens``), as Anthropic counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from adapters.base import Completion, Usage
from gateway.apis.anthropic_messages import error_body
from gateway.apis.sse import sse_event
from gateway.errors import GatewayError
from gateway.protocol import ChatCompletionRequest

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish_reason: str | None) -> str:
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic's ``input`` must be. Arguments that are
    not a JSON object (a model's mistake) arrive whole, as ``{"arguments": "<the text>"}``."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"arguments": arguments}


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.prompt_tokens - usage.cached_prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cached_prompt_tokens,
        "cache_creation_input_tokens": 0,
    }


@dataclass(slots=True)
class _Blocks:
    """The content blocks opened so far: which one is open, and where each tool call went."""

    open: int | None = None
    count: int = 0
    text_open: bool = False
    tools: dict[int, int] = field(default_factory=dict)  # chat tool call index -> block index

    def close(self) -> list[bytes]:
        if self.open is None:
            return []
        index, self.open, self.text_open = self.open, None, False
        return [sse_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def start(self, block: dict[str, Any]) -> list[bytes]:
        events = self.close()
        self.open, self.count = self.count, self.count + 1
        start = {"type": "content_block_start", "index": self.open, "content_block": block}
        return [*events, sse_event("content_block_start", start)]


class MessagesWire:
    """One request's answer as an Anthropic ``message``, or as its event stream."""

    def __init__(self, request_id: str, request: ChatCompletionRequest) -> None:
        self._id, self._model = f"msg_{request_id}", request.model
        self._blocks = _Blocks()
        self._finish: str | None = None

    def body(self, completion: Completion) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if completion.content:
            content.append({"type": "text", "text": completion.content})
        for call in completion.tool_calls or ():
            function = call["function"]
            use = {"type": "tool_use", "id": call["id"], "name": function["name"]}
            content.append({**use, "input": tool_input(function["arguments"])})
        return {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": content,
            "stop_reason": stop_reason(completion.finish_reason),
            "stop_sequence": None,
            "usage": usage_body(completion.usage),
        }

    def opening(self) -> bytes:
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},  # the counts come with message_delta
        }
        start = sse_event("message_start", {"type": "message_start", "message": message})
        return start + sse_event("ping", {"type": "ping"})

    def delta(self, content: str | None, tool_calls: list[dict[str, Any]] | None) -> bytes:
        events: list[bytes] = []
        if content:
            events += self._text(content)
        for call in tool_calls or ():
            events += self._tool_call(call)
        return b"".join(events)

    def finish(self, reason: str) -> bytes:
        self._finish = reason
        return b"".join(self._blocks.close())

    def usage(self, usage: Usage) -> bytes:
        end = {"stop_reason": stop_reason(self._finish), "stop_sequence": None}
        return sse_event("message_delta", {"type": "message_delta", "delta": end, "usage": usage_body(usage)})

    def done(self) -> bytes:
        return sse_event("message_stop", {"type": "message_stop"})

    def error(self, error: GatewayError) -> bytes:
        return sse_event("error", error_body(error.status, error.message))

    def _text(self, text: str) -> list[bytes]:
        blocks = self._blocks
        events = [] if blocks.text_open else blocks.start({"type": "text", "text": ""})
        blocks.text_open = True
        delta = {"type": "content_block_delta", "index": blocks.open, "delta": {"type": "text_delta", "text": text}}
        return [*events, sse_event("content_block_delta", delta)]

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        blocks = self._blocks
        position = int(call.get("index") or 0)
        function = call.get("function") or {}
        events: list[bytes] = []
        if position not in blocks.tools:
            call_id = call.get("id") or f"toolu_{self._id.removeprefix('msg_')}_{position}"
            use: dict[str, Any] = {"type": "tool_use", "id": call_id, "name": function.get("name") or "", "input": {}}
            events = blocks.start(use)
            blocks.tools[position] = blocks.count - 1
        arguments = function.get("arguments")
        if arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            body = {"type": "content_block_delta", "index": blocks.tools[position], "delta": delta}
            events.append(sse_event("content_block_delta", body))
        return events
