"""The cache stage of the request path: keys, sealing, time bounds and a breaker around a store.

``AnswerCache`` is what ``ChatService`` talks to. Its contract: ``lookup``,
``store`` and ``readiness`` never raise for a store's trouble and never wait
longer than ``timeout_s`` on it. When a store call fails or is too slow, the
cache is skipped for that request (``Lookup.status == "skip"``), the failure
is counted (``gateway_cache_errors_total``), the cache reports ``degraded``,
and the store is left alone for ``retry_s`` seconds before the next try, so a
dead Redis costs requests nothing but the one failed call per ``retry_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from gateway.cache.answer import CachedAnswer, CachedEmbeddings
from gateway.cache.base import CacheUnavailable, ResponseCache
from gateway.cache.keyring import CacheKeyring
from gateway.cache.keys import cache_key
from gateway.cache.memory import MemoryCache
from gateway.cache.redis_store import RedisCache
from gateway.cache.seal import SealBroken, Sealer

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from gateway.config import CacheSettings
    from gateway.metrics import Metrics

log = logging.getLogger("gateway.cache")
T = TypeVar("T")
Operation = Literal["get", "set", "ping"]


@dataclass(frozen=True, slots=True)
class Lookup:
    """The result of a lookup: ``hit`` (with ``answer``), ``miss``, or ``skip``
    (the store could not be asked: nothing should be written either)."""

    status: Literal["hit", "miss", "skip"]
    answer: CachedAnswer | None = None


_SKIPPED = object()


class AnswerCache:
    """Cached answers for the request path; see the module docstring."""

    def __init__(
        self,
        store: ResponseCache,
        keyring: CacheKeyring,
        *,
        timeout_s: float = 0.1,
        retry_s: float = 2.0,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._secret = keyring.secret
        self._sealer = Sealer(keyring.aes_key)
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._metrics = metrics
        self._clock = clock
        self._retry_at = 0.0
        self._degraded = False

    @classmethod
    def build(
        cls,
        settings: CacheSettings,
        *,
        environ: Mapping[str, str],
        redis: Redis | None = None,
        store: ResponseCache | None = None,
        metrics: Metrics | None = None,
    ) -> AnswerCache:
        """The app's cache: ``store`` if given, else Redis when a client is given, else in-process.

        Raises ``KeyringError`` (a ``ConfigError``) when the key material in
        ``environ`` is set but unusable.
        """
        keyring = CacheKeyring.from_env(environ)
        if store is None:
            store = RedisCache(redis, prefix=settings.key_prefix) if redis is not None else MemoryCache(
                settings.memory_entries
            )
        if keyring.ephemeral:
            if store.name == "memory":
                log.info("response cache: in-process, with a per-process key")
            else:
                log.warning(
                    "response cache: GATEWAY_CACHE_SECRET and GATEWAY_CACHE_KEY are not set, so this process "
                    "uses random ones: its cached answers are private to it (replicas sharing %s do not share "
                    "them, a restart orphans them). Set both, the same on every replica, to share the cache.",
                    store.name,
                )
        return cls(store, keyring, timeout_s=settings.timeout_s, retry_s=settings.retry_s, metrics=metrics)

    @property
    def store_name(self) -> str:
        return self._store.name

    @property
    def degraded(self) -> bool:
        """The last call to the store failed: requests skip the cache until a call succeeds."""
        return self._degraded

    def key(
        self,
        *,
        scope: str,
        policy_version: str,
        route: str,
        targets: Sequence[str],
        level: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
    ) -> str:
        """The opaque key of a request (``gateway.cache.keys.cache_key`` with this cache's secret)."""
        return cache_key(
            self._secret,
            scope=scope,
            policy_version=policy_version,
            route=route,
            targets=targets,
            level=level,
            model=model,
            messages=messages,
            params=params,
        )

    async def lookup(self, key: str) -> Lookup:
        """The answer cached under ``key``; a value that cannot be opened or read is a miss."""
        status, answer = await self._open(key, CachedAnswer.loads)
        return Lookup(status, answer)

    async def lookup_embeddings(self, key: str) -> tuple[Literal["hit", "miss", "skip"], CachedEmbeddings | None]:
        """``lookup`` for an embeddings request: the status, and the vectors on a hit."""
        return await self._open(key, CachedEmbeddings.loads)

    async def _open(self, key: str, loads: Callable[[bytes], T]) -> tuple[Literal["hit", "miss", "skip"], T | None]:
        raw = await self._call("get", lambda: self._store.get(key))
        if raw is _SKIPPED:
            self._count_lookup("unavailable")
            return "skip", None
        if raw is None:
            self._count_lookup("miss")
            return "miss", None
        assert isinstance(raw, bytes)
        try:
            value = loads(self._sealer.open(key, raw))
        except (SealBroken, ValueError):
            # Another process's key (no shared GATEWAY_CACHE_KEY), a moved value, or tampering.
            self._count_error("get", "unreadable")
            self._count_lookup("miss")
            return "miss", None
        self._count_lookup("hit")
        return "hit", value

    async def store(self, key: str, answer: CachedAnswer | CachedEmbeddings, ttl_s: int) -> bool:
        """Seal and store ``answer`` under ``key`` for ``ttl_s`` seconds; False if the store was skipped."""
        sealed = self._sealer.seal(key, answer.dumps())
        done = await self._call("set", lambda: self._store.set(key, sealed, ttl_s))
        stored = done is not _SKIPPED
        if self._metrics is not None:
            self._metrics.cache_stores.labels("stored" if stored else "unavailable").inc()
        return stored

    async def readiness(self) -> dict[str, str]:
        """For ``/readyz``: the store's name and ``ok`` or ``degraded`` (asks the store now)."""
        await self._call("ping", self._store.ping, probe=True)
        return {"store": self._store.name, "status": "degraded" if self._degraded else "ok"}

    # -- the bound and the breaker ------------------------------------------------

    async def _call(self, operation: Operation, call: Callable[[], Awaitable[T]], *, probe: bool = False) -> object:
        if not probe and self._clock() < self._retry_at:
            return _SKIPPED
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await call()
        except TimeoutError:
            self._failed(operation, "timeout")
            return _SKIPPED
        except CacheUnavailable as exc:
            self._failed(operation, exc.reason)
            return _SKIPPED
        except Exception:  # a bug in a store must not fail a request either
            log.exception("response cache: the store raised unexpectedly; skipping the cache")
            self._failed(operation, "error")
            return _SKIPPED
        self._retry_at = 0.0
        if self._degraded:
            log.warning("response cache: the %s store answers again", self._store.name)
            self._set_degraded(False)
        return result

    def _failed(self, operation: Operation, reason: str) -> None:
        self._retry_at = self._clock() + self._retry_s
        self._count_error(operation, reason)
        if not self._degraded:
            log.warning(
                "response cache: the %s store failed (%s on %s); skipping the cache, next try in %.1f s",
                self._store.name, reason, operation, self._retry_s,
            )  # fmt: skip
            self._set_degraded(True)

    def _set_degraded(self, degraded: bool) -> None:
        self._degraded = degraded
        if self._metrics is not None:
            self._metrics.cache_degraded.set(1 if degraded else 0)

    def _count_lookup(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.cache_lookups.labels(result).inc()

    def _count_error(self, operation: Operation, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.cache_errors.labels(operation, reason).inc()
