"""State shared by replicas through Redis: the one boundary where redis errors are translated.

``SharedState`` runs the Lua scripts of the rate limiter and the circuit
breakers. Any failure of Redis (refused, reset, timed out, a script error)
becomes ``SharedStateUnavailable`` here and nowhere else; callers then fall
back to their in-process state. After a failure Redis is left alone for
``retry_s`` seconds, so an outage costs one failed call per interval, not one
per request (the app's client already bounds each call to 0.25 s).

Scripts use Redis's own clock (``TIME``), so replicas with skewed clocks still
agree. Keys are ``<prefix><kind>:<name>``; names are operator-chosen (target,
team, key id), never request content.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

log = logging.getLogger("gateway.resilience")

_CALL_TIMEOUT_S = 1.0  # a backstop: the client's own socket timeouts are shorter


class SharedStateUnavailable(Exception):
    """Redis is not configured, not reachable, or failed this call."""


class SharedState:
    """Lua scripts on one Redis, with a cool-down after failures."""

    def __init__(self, redis: Redis | None, *, prefix: str = "vaultroute:", retry_s: float = 1.0) -> None:
        self._redis = redis
        self.prefix = prefix
        self._retry_s = retry_s
        self._down_until = 0.0
        self._down_since: float | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self.failures = 0

    @property
    def configured(self) -> bool:
        return self._redis is not None

    @property
    def healthy(self) -> bool:
        """Configured, and the last call did not fail (or its cool-down is over)."""
        return self._redis is not None and self._down_since is None

    def key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def run(self, name: str, source: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run the Lua ``source`` (cached by ``name``); ``SharedStateUnavailable`` on any failure."""
        redis = self._usable()
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = redis.register_script(source)
        return await self._call(script(keys=list(keys), args=list(args)))

    async def ping(self) -> bool:
        """Whether Redis answers now (respects the cool-down)."""
        try:
            await self._call(self._usable().ping())
        except SharedStateUnavailable:
            return False
        return True

    def _usable(self) -> Redis:
        if self._redis is None:
            raise SharedStateUnavailable("no redis_url configured")
        if time.monotonic() < self._down_until:
            raise SharedStateUnavailable("redis failed recently")
        return self._redis

    async def _call(self, pending: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(_CALL_TIMEOUT_S):
                result = await pending
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            raise SharedStateUnavailable(f"redis call failed: {type(exc).__name__}") from None
        if self._down_since is not None:
            log.warning("redis is reachable again after %.1f s; shared limits and breakers resume",
                        time.monotonic() - self._down_since)
            self._down_since = None
        return result

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        self._down_until = now + self._retry_s
        if self._down_since is None:
            self._down_since = now
            log.error("redis unreachable (%s): rate limits and circuit breakers fall back to this process",
                      type(exc).__name__)
