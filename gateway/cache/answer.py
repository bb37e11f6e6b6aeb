"""A cached answer: which target produced it, and the completion (or, for embeddings, the vectors) itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson

from adapters.base import AnswerExtras, Completion, Usage


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """What a hit returns. ``target`` is the policy target that answered the
    original request (its price gives what a hit saved); ``completion`` keeps
    the text, tool calls, finish reason, the original usage and the upstream's extras
    (refusal, reasoning, annotations, log probabilities, system fingerprint)."""

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
                "extras": asdict(c.extras) if c.extras else None,
            }
        )

    @classmethod
    def loads(cls, raw: bytes) -> CachedAnswer:
        """Inverse of ``dumps``; raises ``ValueError`` on anything else."""
        try:
            data: dict[str, Any] = orjson.loads(raw)
            usage = Usage(*(int(n) for n in data["usage"]))
            extras = AnswerExtras(**data["extras"]) if data.get("extras") else None  # older entries have none
            content, finish, calls = data["content"], str(data["finish_reason"]), data["tool_calls"]
            completion = Completion(content, finish, usage, calls, extras=extras)
            return cls(str(data["target"]), completion)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ValueError("not a cached answer") from None


@dataclass(frozen=True, slots=True)
class CachedEmbeddings:
    """What an embeddings hit returns: the target that made the vectors (its price gives what the
    hit saved), the vectors in input order, and the input tokens they cost."""

    target: str
    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int

    def dumps(self) -> bytes:
        return orjson.dumps({"target": self.target, "embeddings": self.vectors, "prompt_tokens": self.prompt_tokens})

    @classmethod
    def loads(cls, raw: bytes) -> CachedEmbeddings:
        """Inverse of ``dumps``; raises ``ValueError`` on anything else (a chat answer included)."""
        try:
            data: dict[str, Any] = orjson.loads(raw)
            vectors = tuple(tuple(float(x) for x in vector) for vector in data["embeddings"])
            return cls(str(data["target"]), vectors, int(data["prompt_tokens"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ValueError("not cached embeddings") from None
