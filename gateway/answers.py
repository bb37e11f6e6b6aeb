"""The answers the gateway writes: Chat Completions bodies and stream chunks, as plain dicts.

Built to OpenAI's published schema (``CreateChatCompletionResponse``,
``CreateChatCompletionStreamResponse``; the tests validate against a pinned copy):
``message.refusal`` and ``logprobs`` are always present, ``null`` when there is
none; the upstream's ``refusal``, ``reasoning_content``, ``annotations``,
``logprobs`` and ``system_fingerprint`` are passed back as it sent them
(``AnswerExtras``). A request in the older function-calling shape (``functions``)
gets its answer in that shape: the first tool call as ``message.function_call``
and ``finish_reason: "function_call"``.
"""

from __future__ import annotations

import time
from typing import Any

from adapters.base import AnswerExtras, Completion, Usage


def usage_body(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_prompt_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_prompt_tokens}
    return body


def completion_body(
    request_id: str, model: str, completion: Completion, created: int | None = None, *, legacy_functions: bool = False
) -> dict[str, Any]:
    extras = completion.extras or AnswerExtras()
    message: dict[str, Any] = {"role": "assistant", "content": completion.content, "refusal": extras.refusal}
    finish_reason = completion.finish_reason
    if completion.tool_calls and legacy_functions:
        function = completion.tool_calls[0].get("function") or {}
        message["function_call"] = {"name": function.get("name", ""), "arguments": function.get("arguments", "")}
        finish_reason = "function_call" if finish_reason == "tool_calls" else finish_reason
    elif completion.tool_calls:
        message["tool_calls"] = completion.tool_calls
    if extras.reasoning_content is not None:
        message["reasoning_content"] = extras.reasoning_content
    if extras.annotations:
        message["annotations"] = extras.annotations
    body: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": extras.logprobs}],
        "usage": usage_body(completion.usage),
    }
    if extras.system_fingerprint:
        body["system_fingerprint"] = extras.system_fingerprint
    return body


def extras_delta(extras: AnswerExtras | None) -> dict[str, Any]:
    """The delta fields a stream chunk's extras add (its ``logprobs`` go beside the delta)."""
    if extras is None:
        return {}
    delta: dict[str, Any] = {}
    if extras.refusal is not None:
        delta["refusal"] = extras.refusal
    if extras.reasoning_content is not None:
        delta["reasoning_content"] = extras.reasoning_content
    if extras.annotations:
        delta["annotations"] = extras.annotations
    return delta


def legacy_delta(delta: dict[str, Any]) -> dict[str, Any]:
    """A streamed tool-call delta as the older ``function_call`` delta (the first call only)."""
    calls = delta.get("tool_calls")
    if not calls:
        return delta
    out = {k: v for k, v in delta.items() if k != "tool_calls"}
    first = [c for c in calls if int(c.get("index", 0)) == 0]
    if first:
        function = first[0].get("function") or {}
        out["function_call"] = {k: function[k] for k in ("name", "arguments") if function.get(k) is not None}
    return out


def chunk_body(
    request_id: str,
    model: str,
    created: int,
    *,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
    with_choice: bool = True,
    extras: AnswerExtras | None = None,
    legacy_functions: bool = False,
) -> dict[str, Any]:
    """One stream chunk. ``extras``: this piece's refusal, reasoning, annotations, log probabilities
    and the upstream's ``system_fingerprint``; ``legacy_functions``: answer a ``functions`` request."""
    delta = {**(delta or {}), **extras_delta(extras)}
    if legacy_functions:
        delta = legacy_delta(delta)
        finish_reason = "function_call" if finish_reason == "tool_calls" else finish_reason
    logprobs = extras.logprobs if extras is not None else None
    body: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": logprobs}]
        if with_choice
        else [],
    }
    if extras is not None and extras.system_fingerprint:
        body["system_fingerprint"] = extras.system_fingerprint
    if usage is not None:
        body["usage"] = usage_body(usage)
    return body
