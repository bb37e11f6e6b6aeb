"""OpenAI Chat Completions wire shapes shared by the adapters that speak them.

Pure functions and small parsers, no I/O: which parameters go upstream, how a
``Retry-After`` reads, how SSE lines become events and chunk events become
``Chunk`` values, how a completion body becomes a ``Completion``. Parsers raise
``ValueError``, ``LookupError`` or ``TypeError`` on a shape they cannot read; the
adapter that called them turns that into ``gateway.errors``.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from adapters.base import AnswerExtras, Chunk, Completion, Usage
from gateway.errors import UpstreamRejected
from gateway.protocol import FORWARDED_PARAMS, OPENAI_COMPATIBLE_ONLY

CHAT_PARAMS: Final = frozenset(FORWARDED_PARAMS)
"""Parameters an OpenAI-compatible server is sent: every one the gateway forwards
(``gateway.protocol.FORWARDED_PARAMS``, derived from the wire model), vLLM's extras included."""

CLOSED_API_PARAMS: Final = CHAT_PARAMS - OPENAI_COMPATIBLE_ONLY
"""Parameters a closed API is sent (through litellm): OpenAI's own, never vLLM's extras
(a request carrying those is decided onto targets that take them, ``Capabilities.vllm_extras``)."""


def chat_params(params: Mapping[str, Any], accepted: frozenset[str] = CHAT_PARAMS) -> dict[str, Any]:
    """The ``accepted`` parameters that ``params`` sets, without ``None`` values.

    Everything else in ``ModelCall.params`` is not sent: ``n`` (the gateway refuses
    ``n > 1`` before any adapter), ``stream`` and ``model`` (the adapter's own)."""
    return {name: value for name, value in params.items() if name in accepted and value is not None}


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


CLIENT_ERROR_STATUSES: Final = frozenset({400, 413, 415, 422})
"""Upstream statuses that say the request itself is wrong: the client's error (``UpstreamRejected``).
Not 401/403/404 (the gateway's key or model name for the target) nor 408/409/429 (retryable)."""

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")


def rejection(status: int | None, error: object = None, *, reason: str = "") -> UpstreamRejected:
    """The ``UpstreamRejected`` for an upstream's refusal of a request: its status and, from its
    ``{"error": {...}}`` object, the ``code``, ``type`` and ``param`` that are plain identifiers
    (words of the API, never the upstream's text, which may quote the prompt). Nothing names the
    target: a client learns where its request went from the headers only."""
    fields = error.get("error", error) if isinstance(error, dict) else None
    words: dict[str, str] = {}
    if isinstance(fields, dict):
        for name in ("code", "type", "param"):
            value = fields.get(name)
            if isinstance(value, str) and _IDENTIFIER.fullmatch(value):
                words[name] = value
    said = ", ".join(f"{name} '{value}'" for name, value in words.items())
    status_text = f"HTTP {status}" if status else "an error"
    detail = "; ".join(part for part in (reason, said) if part)
    return UpstreamRejected(
        f"The model refused the request ({status_text}{': ' + detail if detail else ''}). "
        "The request must change; it was not retried.",
        upstream_status=status,
        param=words.get("param"),
    )


def error_object(body: bytes) -> object:
    """An upstream error body's JSON (``None`` when it is not JSON)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


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
        self.fingerprint: str | None = None

    def feed(self, event: Mapping[str, Any]) -> Chunk | None:
        if self.response_id is None:
            self.response_id, self.response_model = _text(event.get("id")), _text(event.get("model"))
        usage = parse_usage(event.get("usage"))
        if usage is not None:
            self.usage = usage
        self.fingerprint = _text(event.get("system_fingerprint")) or self.fingerprint
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
        tool_calls = [_without_nulls(c) for c in tool_calls] if tool_calls else None
        extras = parse_extras(delta, choice.get("logprobs"))
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            self.final = Chunk(
                content=content or None, tool_calls=tool_calls, finish_reason=str(finish_reason), extras=extras
            )
            return None
        if content or tool_calls or extras:
            return Chunk(content=content or None, tool_calls=tool_calls, extras=extras)
        return None

    def finish(self) -> Chunk:
        final = self.final or Chunk(finish_reason="stop")
        if self.fingerprint:
            final = replace(final, extras=replace(final.extras or AnswerExtras(), system_fingerprint=self.fingerprint))
        return replace(final, usage=self.usage, response_id=self.response_id, response_model=self.response_model)


def parse_extras(message: Mapping[str, Any], logprobs: object, fingerprint: object = None) -> AnswerExtras | None:
    """A message's (or a delta's) refusal, reasoning and annotations, the choice's log probabilities."""
    refusal, reasoning = message.get("refusal"), message.get("reasoning_content")
    vendor = message.get("provider_specific_fields")
    if refusal is None and isinstance(vendor, dict):
        refusal = vendor.get("refusal")  # where litellm keeps a non-streamed refusal
    if reasoning is None:
        reasoning = message.get("reasoning")  # vLLM's newer name for the same text
    annotations = message.get("annotations")
    if not isinstance(refusal, str | None) or not isinstance(reasoning, str | None):
        raise ValueError("malformed refusal or reasoning")
    if isinstance(annotations, list):
        annotations = [a for a in annotations if isinstance(a, dict)] or None
    extras = AnswerExtras(
        refusal=refusal or None,
        reasoning_content=reasoning or None,
        annotations=annotations if isinstance(annotations, list) else None,
        logprobs=_logprobs(logprobs),
        system_fingerprint=_text(fingerprint),
    )
    return extras or None


def _logprobs(value: object) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    content, refusal = value.get("content"), value.get("refusal")
    return {
        "content": content if isinstance(content, list) else None,
        "refusal": refusal if isinstance(refusal, list) else None,
    }


def _without_nulls(delta: object) -> Any:
    """A tool-call delta without its ``null`` fields: litellm fills the ones a piece does not carry
    (``id``, ``type``, ``function.name``) with ``None``, which clients read as values."""
    if not isinstance(delta, dict):
        raise ValueError("malformed tool call delta")
    return {k: _without_nulls(v) if isinstance(v, dict) else v for k, v in delta.items() if v is not None}


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
        extras=parse_extras(message, choice.get("logprobs"), data.get("system_fingerprint")),
    )


def _text(value: object) -> str | None:
    return value[:256] if isinstance(value, str) and value else None
