"""Restoring an answer: a completion, or a stream of chunks, text and tool-call arguments.

``AnswerRestorer`` holds one answer's restorers: one for the message text,
one per tool call for its arguments (JSON strings: values are written
JSON-escaped). On the chunk that carries the finish reason, whatever was held
back is released, so the client gets every character.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from adapters.base import Chunk, Completion
from gateway.pseudonymize.placeholders import Vault
from gateway.pseudonymize.restore import StreamRestorer, restore


class AnswerRestorer:
    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._text = StreamRestorer(vault)
        self._arguments: dict[int, StreamRestorer] = {}

    def completion(self, completion: Completion) -> Completion:
        content = restore(completion.content, self._vault) if completion.content else completion.content
        calls = [self._call(call) for call in completion.tool_calls] if completion.tool_calls else None
        return dataclasses.replace(completion, content=content, tool_calls=calls)

    def _call(self, call: dict[str, Any]) -> dict[str, Any]:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            return call
        return {**call, "function": {**function, "arguments": restore(arguments, self._vault, json_string=True)}}

    def chunk(self, chunk: Chunk) -> Chunk:
        content = self._text.feed(chunk.content) if chunk.content else None
        deltas = [self._delta(delta) for delta in chunk.tool_calls] if chunk.tool_calls else None
        if chunk.finish_reason:
            content = (content or "") + self._text.flush()
            deltas = (deltas or []) + [
                {"index": index, "function": {"arguments": rest}}
                for index, restorer in self._arguments.items()
                if (rest := restorer.flush())
            ]
        return dataclasses.replace(chunk, content=content or None, tool_calls=deltas or None)

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        function = delta.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str) or not arguments:
            return delta
        restorer = self._arguments.setdefault(int(delta.get("index", 0)), StreamRestorer(self._vault, json_string=True))
        return {**delta, "function": {**function, "arguments": restorer.feed(arguments)}}


async def restored(chunks: AsyncIterator[Chunk], restorer: Callable[[], AnswerRestorer | None]) -> AsyncIterator[Chunk]:
    """``chunks`` restored; ``restorer`` is asked at the first chunk (once the answering target is known)."""
    current: AnswerRestorer | None = None
    first = True
    try:
        async for chunk in chunks:
            if first:
                current, first = restorer(), False
            yield current.chunk(chunk) if current is not None else chunk
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
