"""Rate limits: GCRA per key and per team, atomic in Redis across replicas, in process without it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from gateway.errors import RateLimited
from gateway.resilience.ratelimit import LocalBuckets, Quota, RateLimiter
from gateway.resilience.settings import RateLimit, RateLimits
from gateway.resilience.shared import SharedState


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def test_gcra_lets_the_limit_through_at_once_then_one_per_interval() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock)
    quota = [Quota("key:k:rpm", 6, 1)]
    assert [buckets.admit(quota)[0] for _ in range(6)] == [0.0] * 6
    wait, refusing = buckets.admit(quota)
    assert refusing == quota[0] and wait == pytest.approx(10.0)  # 60 s / 6
    clock.now += 10
    assert buckets.admit(quota) == (0.0, None)


def test_a_refusal_counts_nothing_in_any_bucket() -> None:
    buckets = LocalBuckets(Clock())
    key, team = Quota("key:k:rpm", 100, 1), Quota("team:t:rpm", 1, 1)
    assert buckets.admit([key, team]) == (0.0, None)
    for _ in range(5):
        wait, refusing = buckets.admit([key, team])
        assert refusing == team and wait > 0
    assert [buckets.admit([key])[0] for _ in range(99)] == [0.0] * 99  # the key's bucket took 1, not 6


def test_token_costs_are_weighted_and_capped_at_the_limit() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock)
    assert buckets.admit([Quota("team:t:tpm", 1000, 1000)]) == (0.0, None)  # a request as big as the limit
    wait, _ = buckets.admit([Quota("team:t:tpm", 1000, 100)])
    assert wait == pytest.approx(6.0)  # 100 tokens at 1000 a minute
    buckets.consume([Quota("team:t:tpm", 1000, 500)])  # used beyond the estimate: charged without a check
    wait, _ = buckets.admit([Quota("team:t:tpm", 1000, 100)])
    assert wait == pytest.approx(36.0)


@pytest.fixture
async def limiters(redis_url: str) -> AsyncIterator[Callable[[RateLimits], RateLimiter]]:
    """Rate limiters of separate 'replicas' sharing one Redis prefix."""
    prefix = f"vr-test-{secrets.token_hex(4)}:"
    clients: list[Redis] = []

    def make(settings: RateLimits) -> RateLimiter:
        client = Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
        clients.append(client)
        return RateLimiter(settings, SharedState(client, prefix=prefix))

    yield make
    for client in clients:
        await client.aclose()


async def test_replicas_sharing_redis_enforce_one_limit(limiters: Callable[[RateLimits], RateLimiter]) -> None:
    settings = RateLimits(per_key=RateLimit(requests_per_minute=5))
    replicas = [limiters(settings) for _ in range(3)]
    outcomes = []
    for i in range(12):
        try:
            await replicas[i % 3].admit("key_1", "payments", 10)
            outcomes.append("ok")
        except RateLimited as refused:
            assert 1 <= int(refused.headers["retry-after"]) <= 12
            assert refused.status == 429 and refused.code == "rate_limit_exceeded"
            outcomes.append("429")
    assert outcomes.count("ok") == 5
    await replicas[0].admit("key_2", "payments", 10)  # another key has its own limit


async def test_concurrent_admissions_are_atomic(limiters: Callable[[RateLimits], RateLimiter]) -> None:
    settings = RateLimits(per_team=RateLimit(requests_per_minute=10))
    replicas = [limiters(settings) for _ in range(4)]

    async def one(i: int) -> bool:
        try:
            await replicas[i % 4].admit(f"key_{i}", "risk", 1)
            return True
        except RateLimited:
            return False

    admitted = await asyncio.gather(*(one(i) for i in range(40)))
    assert sum(admitted) == 10


async def test_team_overrides_and_token_charges(limiters: Callable[[RateLimits], RateLimiter]) -> None:
    settings = RateLimits(
        per_team=RateLimit(tokens_per_minute=100_000), teams={"research": RateLimit(tokens_per_minute=1000)}
    )
    limiter = limiters(settings)
    await limiter.admit("key_1", "research", 100)
    limiter.charge("key_1", "research", 950)  # what the request really used, beyond its estimate
    await limiter.close()  # waits for the charge to be written
    with pytest.raises(RateLimited) as refused:
        await limiter.admit("key_1", "research", 100)
    assert "team 'research'" in refused.value.message
    await limiter.admit("key_1", "payments", 5000)  # other teams keep the default


async def test_without_redis_limits_hold_in_process(unused_port: int) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{unused_port}/0", socket_timeout=0.25, socket_connect_timeout=0.25)
    try:
        limiter = RateLimiter(RateLimits(per_key=RateLimit(requests_per_minute=2)), SharedState(client))
        await limiter.admit("k", "t", 1)
        await limiter.admit("k", "t", 1)
        with pytest.raises(RateLimited):
            await limiter.admit("k", "t", 1)
    finally:
        await client.aclose()


async def test_no_limits_configured_costs_nothing() -> None:
    limiter = RateLimiter(RateLimits(), SharedState(None))
    for _ in range(1000):
        await limiter.admit("k", "t", 10_000)
    assert limiter.quotas("k", "t", 5) == []
