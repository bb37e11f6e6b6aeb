"""A cached answer: which target produced it, and the completion itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from adapters.base import Completion, Usage


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """What a hit returns. ``target`` is the policy target that answered the
    original request (its price gives what a hit saved); ``completion`` keeps
    the text, tool calls, finish reason and the original usage."""

    target: str
    completion: Completion

    def dumps(self) -> bytes:
        c = self.completion
        return orjson.dumps(
            {
                "target": self.target,
                "content": c.content,
                "finish_reason": c.finish_reason,
                "tool_calls": c.tool_calls,
                "usage": [c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.cached_prompt_tokens],
            }
        )

    @classmethod
    def loads(cls, raw: bytes) -> CachedAnswer:
        """Inverse of ``dumps``; raises ``ValueError`` on anything else."""
        try:
            data: dict[str, Any] = orjson.loads(raw)
            usage = Usage(*(int(n) for n in data["usage"]))
            completion = Completion(data["content"], str(data["finish_reason"]), usage, data["tool_calls"])
            return cls(str(data["target"]), completion)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ValueError("not a cached answer") from None
