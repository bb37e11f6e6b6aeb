"""A store that misbehaves on demand, for unit tests of ``AnswerCache`` only.

The integration tests (``test_redis_cache.py``) use real Redis servers.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from gateway.cache import CacheUnavailable, MemoryCache

Mode = Literal["ok", "fail", "hang", "crash"]


class TroubledStore(MemoryCache):
    """A ``MemoryCache`` that can refuse (``fail``), never answer (``hang``) or raise a bug (``crash``)."""

    name = "troubled"

    def __init__(self) -> None:
        super().__init__()
        self.mode: Mode = "ok"
        self.calls = 0

    async def _trouble(self) -> None:
        self.calls += 1
        if self.mode == "fail":
            raise CacheUnavailable("refused")
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "crash":
            raise RuntimeError("a bug in the store")

    async def get(self, key: str) -> bytes | None:
        await self._trouble()
        return await super().get(key)

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        await self._trouble()
        await super().set(key, value, ttl_s)

    async def ping(self) -> None:
        await self._trouble()
