"""What the loopback upstream answers: OpenAI Chat Completions bodies and SSE frames."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response

CREATED = 1_700_000_000
MALFORMED_BODY = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"ind'


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server answers. ``tool_calls`` turns the answer into tool calls."""

    text: str = "Hello from upstream"
    prompt_tokens: int = 11
    completion_tokens: int = 3
    cached_tokens: int = 0
    tool_calls: tuple[dict[str, Any], ...] = ()
    extras: dict[str, Any] | None = None
    """More of the message (``refusal``, ``reasoning_content``, ``annotations``), the choice's
    ``logprobs`` and the body's ``system_fingerprint``: ``{"message": {...}, "logprobs": {...},
    "system_fingerprint": "..."}``; streamed as one delta before the last chunk."""


def error_response(
    status: int, message: str, code: str | int | None = None, headers: dict[str, str] | None = None
) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "code": code or status, "param": None}}
    return JSONResponse(body, status_code=status, headers=headers)


def usage_body(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }


def completion_body(model: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = list(reply.tool_calls)
    extras = reply.extras or {}
    message.update(extras.get("message", {}))
    body = {
        "id": "chatcmpl-upstream",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": extras.get("logprobs"),
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": usage_body(reply),
    }
    if "system_fingerprint" in extras:
        body["system_fingerprint"] = extras["system_fingerprint"]
    return body


def sse_frames(model: str, reply: Reply, include_usage: bool, *, chunk_chars: int = 0) -> list[bytes]:
    """The SSE events of a streamed reply, one ``bytes`` per event: the text word by word, or in
    pieces of ``chunk_chars`` characters."""

    def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": "chatcmpl-upstream",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": choices,
        }
        if reply.extras and "system_fingerprint" in reply.extras:
            data["system_fingerprint"] = reply.extras["system_fingerprint"]
        if include_usage:
            data["usage"] = usage
        return b"data: " + orjson.dumps(data) + b"\n\n"

    def delta(content: dict[str, Any], finish_reason: str | None = None, logprobs: Any = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": content, "logprobs": logprobs, "finish_reason": finish_reason}]

    frames = [b": upstream keep-alive\n\n" + chunk(delta({"role": "assistant", "content": ""}))]
    pieces = (
        [reply.text[i : i + chunk_chars] for i in range(0, len(reply.text), chunk_chars)]
        if chunk_chars
        else re.findall(r"\s*\S+\s*", reply.text)
    )
    frames += [chunk(delta({"content": piece})) for piece in pieces]
    for index, call in enumerate(reply.tool_calls):
        function = call.get("function", {})
        arguments = str(function.get("arguments", ""))
        head = {"index": index, "id": call.get("id", f"call_{index}"), "type": "function"}
        head["function"] = {"name": function.get("name", ""), "arguments": ""}
        frames.append(chunk(delta({"tool_calls": [head]})))
        for part in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
            frames.append(chunk(delta({"tool_calls": [{"index": index, "function": {"arguments": part}}]})))
    if reply.extras:
        frames.append(chunk(delta(dict(reply.extras.get("message", {})), None, reply.extras.get("logprobs"))))
    frames.append(chunk(delta({}, "tool_calls" if reply.tool_calls else "stop")))
    if include_usage:
        frames.append(chunk([], usage_body(reply)))
    frames.append(b"data: [DONE]\n\n")
    return frames
