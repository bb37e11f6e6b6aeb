"""OpenAI Chat Completions wire shapes shared by the adapters that speak them.

Pure functions and small parsers, no I/O: which parameters go upstream, how a
``Retry-After`` reads, how SSE lines become events and chunk events become
``Chunk`` values, how a completion body becomes a ``Completion``. Parsers raise
``ValueError``, ``LookupError`` or ``TypeError`` on a shape they cannot read; the
adapter that called them turns that into ``gateway.errors``.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from adapters.base import Chunk, Completion, Usage

CHAT_PARAMS: Final = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "user",
    }
)
"""OpenAI parameters forwarded to upstreams. Everything else in ``ModelCall.params``
is dropped: ``n`` (the gateway refuses ``n > 1`` before any adapter), ``stream``
and ``model`` (the adapter's own), ``logprobs`` (``Chunk`` has no place for them)."""


def chat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``CHAT_PARAMS`` that ``params`` sets, without ``None`` values."""
    return {name: value for name, value in params.items() if name in CHAT_PARAMS and value is not None}


def retry_after_seconds(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    with suppress(ValueError):
        if "retry-after-ms" in lowered:
            return max(float(lowered["retry-after-ms"]) / 1000, 0.0)
    value = lowered.get("retry-after", "").strip()
    if not value:
        return None
    with suppress(ValueError):
        return max(float(value), 0.0)
    with suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
    return None


def is_retryable_status(status: int) -> bool:
    """Statuses worth another attempt: timeouts, conflicts, rate limits, server errors."""
    return status in (408, 409, 429) or status >= 500


class SSEDecoder:
    """Server-sent events, fed line by line (line ends already stripped).

    Follows the WHATWG rules that matter for completions: ``data`` fields of one
    event are joined with newlines, a blank line ends the event, lines starting
    with ``:`` are comments, other fields (``event``, ``id``, ``retry``) are ignored.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line; return an event's data when ``line`` completes one."""
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None

    def flush(self) -> str | None:
        """The pending event's data, if any (at a blank line or the end of the body)."""
        if not self._data:
            return None
        data, self._data = "\n".join(self._data), []
        return data


class StreamAssembler:
    """Turns completion chunk events into ``Chunk`` values.

    The chunk with ``finish_reason`` is held back until the stream ends, so that
    the usage event OpenAI sends after it can ride on the last ``Chunk``.
    """

    def __init__(self) -> None:
        self.final: Chunk | None = None
        """The held-back chunk with ``finish_reason``, once seen."""
        self.usage: Usage | None = None
        self.response_id: str | None = None
        self.response_model: str | None = None

    def feed(self, event: Mapping[str, Any]) -> Chunk | None:
        if self.response_id is None:
            self.response_id, self.response_model = _text(event.get("id")), _text(event.get("model"))
        usage = parse_usage(event.get("usage"))
        if usage is not None:
            self.usage = usage
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise ValueError("chunk without choices")
        choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
        if choice is None:
            return None
        delta = choice.get("delta") or {}
        content = delta.get("content")
        tool_calls = delta.get("tool_calls") or None
        if not isinstance(content, str | None) or not isinstance(tool_calls, list | None):
            raise ValueError("malformed delta")
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            self.final = Chunk(content=content or None, tool_calls=tool_calls, finish_reason=str(finish_reason))
            return None
        if content or tool_calls:
            return Chunk(content=content or None, tool_calls=tool_calls)
        return None

    def finish(self) -> Chunk:
        final = self.final or Chunk(finish_reason="stop")
        return replace(final, usage=self.usage, response_id=self.response_id, response_model=self.response_model)


def parse_usage(value: object) -> Usage | None:
    """``Usage`` from an OpenAI ``usage`` object; ``None`` when there is none."""
    if not isinstance(value, dict):
        return None
    details = value.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=_count(value.get("prompt_tokens")),
        completion_tokens=_count(value.get("completion_tokens")),
        cached_prompt_tokens=_count(cached),
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def parse_completion(data: Mapping[str, Any]) -> Completion:
    """A ``Completion`` from a non-streamed ``chat.completion`` object."""
    choice = data["choices"][0]
    message = choice["message"]
    content = message.get("content")
    tool_calls = message.get("tool_calls") or None
    if not isinstance(content, str | None) or not isinstance(tool_calls, list | None):
        raise ValueError("malformed message")
    return Completion(
        content=content,
        finish_reason=str(choice.get("finish_reason") or "stop"),
        usage=parse_usage(data.get("usage")) or Usage(),
        tool_calls=tool_calls,
        response_id=_text(data.get("id")),
        response_model=_text(data.get("model")),
    )


def _text(value: object) -> str | None:
    return value[:256] if isinstance(value, str) and value else None
