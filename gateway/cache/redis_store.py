"""The shared store: cached answers in Redis, for N replicas behind one ``REDIS_URL``.

This module is the one boundary where redis errors become ``CacheUnavailable``.
Key names are ``<prefix><64 hex digits of an HMAC>``; values are sealed bytes
(AES-GCM), so Redis never holds a prompt, an answer, a team name or anything
reversible. Expiry is Redis's own (``SET ... EX ttl``).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from gateway.cache.base import CacheUnavailable


class RedisCache:
    """A ``ResponseCache`` in Redis, through the app's shared client.

    ``prefix`` namespaces the key names (two deployments may share one Redis);
    it is operator-chosen text, never request content. Callers bound how long
    each call may take (``AnswerCache``); the client's socket timeouts are a
    second bound.
    """

    name = "redis"

    def __init__(self, redis: Redis, *, prefix: str = "gw:c:") -> None:
        self._redis = redis
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        return self._prefix

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None
        if value is None or isinstance(value, bytes):
            return value
        raise CacheUnavailable("redis: the client decodes responses; sealed values need bytes")

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        try:
            await self._redis.set(self._prefix + key, value, ex=ttl_s)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None


def _unavailable(exc: BaseException) -> CacheUnavailable:
    timeout = isinstance(exc, RedisTimeout | TimeoutError)
    return CacheUnavailable(f"redis: {type(exc).__name__}", "timeout" if timeout else "error")
