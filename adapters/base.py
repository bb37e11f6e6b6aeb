"""The one extension point for talking to models.

An adapter turns a ``ModelCall`` into chunks of an answer. It knows nothing of
policies, levels or tenants: the gateway decides *whether* a target may receive
a call (``gateway/dispatch.py``) before any adapter sees it.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One request to one upstream model, already in OpenAI's message shape.

    ``messages`` are OpenAI chat messages as plain dicts. ``params`` holds the
    sampling and tool parameters the client set (``temperature``, ``top_p``,
    ``max_tokens``, ``stop``, ``seed``, ``tools``, ``tool_choice``,
    ``response_format``...), never routing parameters.
    ``deadline_s`` bounds the whole call, first token to last.
    """

    messages: list[dict[str, Any]]
    params: Mapping[str, Any] = field(default_factory=dict)
    deadline_s: float = 120.0
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    """What one upstream answer may cost the gateway, in bytes (the policy target's ``limits``).

    ``max_response_bytes``: a non-streamed body; ``max_stream_bytes``: a stream, all of it;
    ``max_header_bytes`` and ``max_headers``: the response's headers. An adapter that finds
    an answer over a limit stops reading it, closes its connection and raises
    ``gateway.errors.UpstreamTooLarge``.
    """

    max_response_bytes: int = 8 << 20
    max_stream_bytes: int = 32 << 20
    max_header_bytes: int = 64 << 10
    max_headers: int = 100


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class AnswerExtras:
    """The parts of an answer beside its text and tool calls, passed back as the upstream sent them.

    ``refusal``: the model's safety refusal (``message.refusal``); ``reasoning_content``: a
    reasoning model's thinking (vLLM, DeepSeek); ``annotations``: citations; ``logprobs``: the
    choice's ``logprobs`` object (``{"content": [...], "refusal": ...}``); ``system_fingerprint``:
    the upstream's backend configuration. In a stream each chunk carries its own piece.
    """

    refusal: str | None = None
    reasoning_content: str | None = None
    annotations: list[dict[str, Any]] | None = None
    logprobs: dict[str, Any] | None = None
    system_fingerprint: str | None = None

    def __bool__(self) -> bool:
        return any(
            v is not None
            for v in (self.refusal, self.reasoning_content, self.annotations, self.logprobs, self.system_fingerprint)
        )


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a streamed answer.

    ``content`` is new text; ``tool_calls`` are OpenAI delta tool calls. The last
    chunk of a stream carries ``finish_reason`` and, when known, ``usage``.
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    response_id: str | None = None  # the upstream's id and model for this answer (the last chunk), for traces
    response_model: str | None = None
    extras: AnswerExtras | None = None
    """What else the upstream said in this piece (refusal, reasoning, log probabilities...)."""


@dataclass(frozen=True, slots=True)
class Completion:
    content: str | None
    finish_reason: str
    usage: Usage
    tool_calls: list[dict[str, Any]] | None = None
    response_id: str | None = None  # the upstream's id and model for this answer, for traces
    response_model: str | None = None
    extras: AnswerExtras | None = None


class Adapter(abc.ABC):
    """Talks to one model.

    Contract of ``stream``: yields ``Chunk`` values as the model produces them
    and ends after a chunk with ``finish_reason``. It raises only errors from
    ``gateway.errors`` (``UpstreamError``, ``UpstreamTimeout``, ``Overloaded``);
    vendor exceptions are translated inside the adapter. Cancelling the
    iteration (``aclose`` or task cancellation) must stop the upstream work.

    ``complete`` has a default built on ``stream``; adapters whose upstream has
    a cheaper non-streaming call override it.
    """

    @abc.abstractmethod
    def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        """Yield the answer to ``call`` chunk by chunk."""

    async def complete(self, call: ModelCall) -> Completion:
        parts: list[str] = []
        tool_calls: dict[int, dict[str, Any]] = {}
        finish_reason = "stop"
        usage: Usage | None = None
        extras: list[AnswerExtras] = []
        async for chunk in self.stream(call):
            if chunk.extras:
                extras.append(chunk.extras)
            if chunk.content:
                parts.append(chunk.content)
            for delta in chunk.tool_calls or ():
                merge_tool_call_delta(tool_calls, delta)
            if chunk.finish_reason:
                finish_reason = chunk.finish_reason
            if chunk.usage is not None:
                usage = chunk.usage
        return Completion(
            content="".join(parts) if parts or not tool_calls else None,
            finish_reason=finish_reason,
            usage=usage or Usage(),
            tool_calls=[tool_calls[i] for i in sorted(tool_calls)] or None,
            extras=join_extras(extras),
        )

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load weights, open pools. Called once before serving."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``start`` acquired."""

    async def ready(self) -> bool:
        """Whether the adapter can take calls now (for ``/readyz``)."""
        return True


def join_extras(pieces: list[AnswerExtras]) -> AnswerExtras | None:
    """A stream's extras as one answer's: texts joined, lists and log probabilities concatenated."""
    if not pieces:
        return None

    def text(name: str) -> str | None:
        parts = [getattr(p, name) for p in pieces if getattr(p, name) is not None]
        return "".join(parts) if parts else None

    annotations = [a for p in pieces for a in p.annotations or ()]
    logprobs: dict[str, Any] | None = None
    for piece in pieces:
        if piece.logprobs is None:
            continue
        logprobs = logprobs or {"content": None, "refusal": None}
        for key in ("content", "refusal"):
            more = piece.logprobs.get(key)
            if isinstance(more, list):
                logprobs[key] = [*(logprobs[key] or []), *more]
    fingerprint = next((p.system_fingerprint for p in reversed(pieces) if p.system_fingerprint), None)
    return AnswerExtras(text("refusal"), text("reasoning_content"), annotations or None, logprobs, fingerprint)


def merge_tool_call_delta(acc: dict[int, dict[str, Any]], delta: Mapping[str, Any]) -> None:
    """Fold one streamed tool-call delta into complete tool calls by index."""
    index = int(delta.get("index", 0))
    call = acc.setdefault(index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    if delta.get("id"):
        call["id"] = delta["id"]
    function = delta.get("function") or {}
    if function.get("name"):
        call["function"]["name"] += function["name"]
    if function.get("arguments"):
        call["function"]["arguments"] += function["arguments"]


class ToolCallParts:
    """Streamed tool-call deltas folded into whole calls, in time linear in their size.

    ``merge_tool_call_delta`` extends strings as deltas come, which costs the square
    of a call's length when an upstream sends it in tiny pieces; this keeps the
    pieces and joins them once, in ``calls()`` (the same shape).
    """

    def __init__(self) -> None:
        self._calls: dict[int, tuple[dict[str, Any], list[str], list[str]]] = {}

    def add(self, delta: Mapping[str, Any]) -> None:
        index = int(delta.get("index", 0))
        call, names, arguments = self._calls.setdefault(index, ({"id": "", "type": "function"}, [], []))
        if delta.get("id"):
            call["id"] = delta["id"]
        function = delta.get("function") or {}
        if function.get("name"):
            names.append(function["name"])
        if function.get("arguments"):
            arguments.append(function["arguments"])

    def calls(self) -> list[dict[str, Any]]:
        return [
            {**call, "function": {"name": "".join(names), "arguments": "".join(arguments)}}
            for _, (call, names, arguments) in sorted(self._calls.items())
        ]

    def __bool__(self) -> bool:
        return bool(self._calls)


def tool_call_text(delta: Mapping[str, Any]) -> str:
    """The text a tool-call delta adds (its function's name and arguments), for counting."""
    function = delta.get("function") or {}
    return str(function.get("name") or "") + str(function.get("arguments") or "")
