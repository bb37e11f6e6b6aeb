"""The extension point for where cached answers live: a key-value store with a TTL.

A store keeps opaque bytes (already sealed by ``gateway.cache.seal``) under
opaque key names (HMACs from ``gateway.cache.keys``); it never sees a prompt
or an answer in clear. ``MemoryCache`` (in-process) and ``RedisCache`` are
the two stores; ``AnswerCache`` wraps either with time bounds, a breaker and
metrics, so the request path never waits long on a store or fails because of one.
"""

from __future__ import annotations

from typing import Literal, Protocol


class CacheUnavailable(Exception):
    """The store could not answer: it is down, refused, or was too slow.

    Raised by stores (each translates its vendor errors here, and only here)
    and caught by ``AnswerCache``, which skips the cache for that request. It
    never reaches a client. ``reason`` is ``timeout`` or ``error``; the message
    names the error type only, never a key or a value.
    """

    def __init__(self, message: str, reason: Literal["timeout", "error"] = "error") -> None:
        super().__init__(message)
        self.reason: Literal["timeout", "error"] = reason


class ResponseCache(Protocol):
    """Stores sealed answers by opaque key, each with its own time to live.

    ``get`` returns the stored bytes, or None when nothing (or nothing
    unexpired) is stored under ``key``. ``set`` stores ``value`` for ``ttl_s``
    seconds, replacing what was there. ``ping`` returns when the store can
    answer. All three raise ``CacheUnavailable`` when the store cannot answer,
    and nothing else; callers bound how long they wait.
    """

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: int) -> None: ...

    async def ping(self) -> None: ...
