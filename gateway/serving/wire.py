"""How an answer is written on an API's wire: the one thing a new front door supplies to the path.

The path (``path.py``) produces completions and chunks (``adapters.base``);
a ``Wire`` turns them into the API's JSON body or its stream of SSE lines.
``ChatWire`` is OpenAI Chat Completions'. A Responses or Messages front door
gives its own ``WireFor`` to ``ChatService.serve`` and gets its own shapes,
with the same headers, record and accounting.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from adapters.base import AnswerExtras, Completion, Usage
from gateway.errors import GatewayError
from gateway.protocol import ChatCompletionRequest, chunk_body, completion_body


@dataclass(slots=True)
class Outcome:
    """What the HTTP edge sends: a JSON body, or a stream of SSE lines; plus headers."""

    headers: dict[str, str]
    body: dict[str, Any] | None = None
    stream: AsyncIterator[bytes] | None = None


class Wire(Protocol):
    """One request's answer in one API's shape. Stream methods return whole SSE lines
    (``b""`` for nothing); each is called in the order listed, ``error`` instead of the
    rest when a stream breaks."""

    def body(self, completion: Completion) -> dict[str, Any]:
        """The non-streaming answer."""
        ...

    def opening(self) -> bytes: ...

    def delta(
        self, content: str | None, tool_calls: list[dict[str, Any]] | None, extras: AnswerExtras | None = None
    ) -> bytes:
        """A piece of the answer; ``extras``: the upstream's refusal, reasoning, log probabilities... in it."""
        ...

    def finish(self, reason: str) -> bytes: ...

    def usage(self, usage: Usage) -> bytes:
        """After the finish: the usage, where the client asked for it."""
        ...

    def done(self) -> bytes: ...

    def error(self, error: GatewayError) -> bytes: ...


WireFor = Callable[[str, ChatCompletionRequest], Wire]
"""Builds a request's ``Wire`` from its request id and its (translated) chat request."""


class ChatWire:
    """OpenAI Chat Completions: ``chat.completion`` bodies, ``chat.completion.chunk`` lines, ``[DONE]``."""

    def __init__(self, request_id: str, request: ChatCompletionRequest) -> None:
        self._id, self._model, self._created = request_id, request.model, int(time.time())
        self._include_usage = bool(request.stream_options and request.stream_options.include_usage)
        self._legacy = request.legacy_functions  # answered as ``function_call``

    def body(self, completion: Completion) -> dict[str, Any]:
        return completion_body(self._id, self._model, completion, legacy_functions=self._legacy)

    def opening(self) -> bytes:
        return sse_line(chunk_body(self._id, self._model, self._created, delta={"role": "assistant", "content": ""}))

    def delta(
        self, content: str | None, tool_calls: list[dict[str, Any]] | None, extras: AnswerExtras | None = None
    ) -> bytes:
        delta: dict[str, Any] = {}
        if content:
            delta["content"] = content
        if tool_calls:
            delta["tool_calls"] = tool_calls
        return sse_line(
            chunk_body(self._id, self._model, self._created, delta=delta, extras=extras, legacy_functions=self._legacy)
        )

    def finish(self, reason: str) -> bytes:
        return sse_line(
            chunk_body(self._id, self._model, self._created, finish_reason=reason, legacy_functions=self._legacy)
        )

    def usage(self, usage: Usage) -> bytes:
        if not self._include_usage:
            return b""
        return sse_line(chunk_body(self._id, self._model, self._created, usage=usage, with_choice=False))

    def done(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error(self, error: GatewayError) -> bytes:
        return sse_line(error.body())


def sse_line(body: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"
