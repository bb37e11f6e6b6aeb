"""The response cache: keys that cannot leak across teams or policy versions.

The key is an HMAC over the scope (the team, unless the route widens it), the
policy version, the route and its target set, and the canonical request
(model, messages and every parameter that changes the answer). Nothing of the
request appears in a key name. ``MemoryCache`` is the embedded default.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from adapters.base import Completion, Usage


class ResponseCache(Protocol):
    """Stores completed answers by opaque key.

    ``get`` returns the stored bytes or None; it must never raise for a cache
    failure (a broken cache is a miss). ``set`` stores with a TTL and likewise
    swallows failures.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: int) -> None: ...


class MemoryCache:
    """A bounded in-process LRU with per-entry expiry."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self._data[key] = (time.monotonic() + ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


@dataclass(frozen=True, slots=True)
class CachedAnswer:
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
        data = orjson.loads(raw)
        return cls(
            data["target"],
            Completion(data["content"], data["finish_reason"], Usage(*data["usage"]), data["tool_calls"]),
        )


def deterministic(params: Mapping[str, Any]) -> bool:
    """Whether the same request should give the same answer (OpenAI's default temperature is 1)."""
    temperature = params.get("temperature", 1.0)
    return temperature == 0 or params.get("seed") is not None


def cache_key(
    secret: bytes,
    *,
    scope: str,
    policy_version: str,
    route: str,
    targets: Sequence[str],
    model: str,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
) -> str:
    canonical = orjson.dumps(
        {
            "scope": scope,
            "policy": policy_version,
            "route": route,
            "targets": list(targets),
            "model": model,
            "messages": messages,
            "params": {k: v for k, v in params.items() if k != "user"},
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return "gw:c:" + hmac.new(secret, canonical, hashlib.sha256).hexdigest()
