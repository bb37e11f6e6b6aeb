"""Failure handling around the calls to targets, and admission of requests.

``Resilience`` is built once per app (``app.state.gateway.resilience``) and
holds one of each piece; ``gateway/dispatch.py`` consults it at every attempt,
``gateway/serving/path.py`` at admission and when deciding:

==================  ==========================================  ===========================
module              what                                        state
==================  ==========================================  ===========================
``retry``           retries with backoff and jitter,            per replica
                    ``Retry-After``, the retry budget
``breaker``         circuit breakers per target                 Redis, else in process
``ratelimit``       requests/tokens per minute, key and team    Redis, else in process
``backpressure``    bounded in-flight requests per target       per replica
``shared``          the Redis boundary (errors, cool-down)      -
``settings``        the ``resilience:`` configuration section   -
``metrics``         what ``/metrics`` shows of all this         -
==================  ==========================================  ===========================

Nothing here ever decides *where* a request may go: the invariant is the
policy's and the dispatcher's. These pieces only remove targets (an open
circuit, a full target) or refuse a request (429, 503), never add one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from gateway.resilience.backpressure import Bulkheads
from gateway.resilience.breaker import Breakers, CircuitState, CircuitView
from gateway.resilience.metrics import ResilienceMetrics
from gateway.resilience.ratelimit import RateLimiter
from gateway.resilience.retry import RetryBudget, RetryPolicy
from gateway.resilience.settings import ResilienceSettings
from gateway.resilience.shared import SharedState, SharedStateUnavailable

__all__ = ["CircuitState", "CircuitView", "Resilience", "ResilienceSettings", "SharedStateUnavailable", "open_circuits"]


class Resilience:
    """The retry policy, breakers, bulkheads and rate limiter of one app."""

    def __init__(
        self,
        settings: ResilienceSettings | None = None,
        *,
        redis: Redis | None = None,
        registry: CollectorRegistry | None = None,
        spooled: Callable[[], int] | None = None,
        fast_retry: bool | None = None,
    ) -> None:
        """``registry``: the app's metrics registry; ``spooled``: ledger rows in the spool (for /metrics);
        ``fast_retry``: the configuration's ``fast_paths.retry_loop`` (``None``: its default)."""
        self.settings = settings = settings or ResilienceSettings()
        self.shared = SharedState(redis, prefix=settings.redis_prefix, retry_s=settings.redis_retry_s)
        self.breakers = Breakers(settings.breaker, self.shared)
        self.retry = RetryPolicy(settings.retries, RetryBudget(settings.retries), fast=fast_retry)
        self.bulkheads = Bulkheads(settings.backpressure.max_in_flight, settings.backpressure.queue_wait_s)
        self.limits = RateLimiter(settings.rate_limits, self.shared)
        self.retries_by_target: dict[str, int] = {}
        self.metrics = ResilienceMetrics(registry, self) if registry is not None else None
        if self.metrics is not None and spooled is not None:
            self.metrics.spooled = spooled

    async def unavailable(self, targets: Iterable[str]) -> dict[str, str]:
        """Targets to leave out of a decision now (open circuits), with why."""
        return await self.breakers.unavailable(targets)

    async def circuits(self, targets: Iterable[str]) -> tuple[dict[str, CircuitView], dict[str, str]]:
        """The targets' circuits now (one read), and those to leave out of a decision, with why."""
        views = await self.breakers.states(targets)
        return views, {name: view.describe() for name, view in views.items() if view.state is CircuitState.OPEN}

    def open_targets(self) -> list[str]:
        """Targets whose circuit was open when last seen (no I/O: for metrics read at scrape time)."""
        return [name for name, view in self.breakers.last_known().items() if view.state is CircuitState.OPEN]

    def note_retry(self, target: str) -> None:
        self.retries_by_target[target] = self.retries_by_target.get(target, 0) + 1

    async def shared_state(self) -> str:
        """``ok``, ``unreachable`` (limits and circuits in process) or ``not_configured``."""
        if not self.shared.configured:
            return "not_configured"
        return "ok" if await self.shared.ping() else "unreachable"

    async def close(self) -> None:
        await self.breakers.close()
        await self.limits.close()


async def open_circuits(redis_url: str, settings: ResilienceSettings, targets: Iterable[str]) -> dict[str, str]:
    """The targets whose circuit is open in the replicas' shared state, with why (``policy explain --live``).

    Raises ``SharedStateUnavailable`` when Redis does not answer.
    """
    client = Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        shared = SharedState(client, prefix=settings.redis_prefix)
        views = await Breakers(settings.breaker, shared).states(targets)
        if not shared.healthy:
            raise SharedStateUnavailable(f"redis at {redis_url.rpartition('@')[2]} did not answer")
    finally:
        await client.aclose()
    return {name: view.describe() for name, view in views.items() if view.state is CircuitState.OPEN}
