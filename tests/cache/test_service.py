"""``AnswerCache``: sealing, and a store's trouble never reaching the caller."""

from __future__ import annotations

import pytest

from adapters.base import Completion, Usage
from gateway.cache import AnswerCache, CachedAnswer, CacheKeyring, MemoryCache
from gateway.config import CacheSettings
from gateway.metrics import Metrics
from tests.cache.fakes import TroubledStore

ANSWER = CachedAnswer("onprem", Completion("Convexity is the curvature.", "stop", Usage(7, 5)))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def make(store: MemoryCache, metrics: Metrics, clock: Clock | None = None) -> AnswerCache:
    return AnswerCache(store, CacheKeyring.random(), timeout_s=0.05, retry_s=5.0, metrics=metrics,
                       clock=clock or Clock())


async def test_store_then_hit_and_the_store_holds_no_clear_text(metrics: Metrics) -> None:
    store = MemoryCache()
    cache = make(store, metrics)
    assert (await cache.lookup("k")).status == "miss"
    assert await cache.store("k", ANSWER, ttl_s=60)
    found = await cache.lookup("k")
    assert found.status == "hit" and found.answer == ANSWER
    raw = await store.get("k")
    assert raw is not None and b"Convexity" not in raw and b"onprem" not in raw
    assert sample(metrics, "gateway_cache_lookups_total", result="hit") == 1
    assert sample(metrics, "gateway_cache_lookups_total", result="miss") == 1


async def test_a_value_that_does_not_open_is_a_miss(metrics: Metrics) -> None:
    store = MemoryCache()
    cache = make(store, metrics)
    await cache.store("k1", ANSWER, ttl_s=60)
    await store.set("k2", await store.get("k1") or b"", 60)  # swapped inside the store
    await store.set("k3", b"garbage", 60)
    assert (await cache.lookup("k2")).status == "miss"
    assert (await cache.lookup("k3")).status == "miss"
    other_process = make(store, metrics)  # another random keyring
    assert (await other_process.lookup("k1")).status == "miss"
    assert sample(metrics, "gateway_cache_errors_total", operation="get", reason="unreadable") == 3
    assert not cache.degraded


@pytest.mark.parametrize(("mode", "reason"), [("fail", "error"), ("hang", "timeout"), ("crash", "error")])
async def test_trouble_is_skipped_counted_and_retried_after_a_pause(mode: str, reason: str, metrics: Metrics) -> None:
    store, clock = TroubledStore(), Clock()
    cache = make(store, metrics, clock)
    store.mode = mode  # type: ignore[assignment]
    assert (await cache.lookup("k")).status == "skip"
    assert cache.degraded
    assert sample(metrics, "gateway_cache_errors_total", operation="get", reason=reason) == 1
    assert sample(metrics, "gateway_cache_degraded") == 1

    # Within retry_s the store is not asked at all.
    calls = store.calls
    assert (await cache.lookup("k")).status == "skip"
    assert not await cache.store("k", ANSWER, 60)
    assert store.calls == calls
    assert sample(metrics, "gateway_cache_lookups_total", result="unavailable") == 2
    assert sample(metrics, "gateway_cache_stores_total", result="unavailable") == 1

    # After it, the next call tries again; success clears the degraded state.
    store.mode = "ok"
    clock.now += 5.0
    assert await cache.store("k", ANSWER, 60)
    assert not cache.degraded and sample(metrics, "gateway_cache_degraded") == 0
    assert (await cache.lookup("k")).status == "hit"


async def test_readiness_asks_the_store_even_while_it_is_skipped(metrics: Metrics) -> None:
    store = TroubledStore()
    cache = make(store, metrics)
    assert await cache.readiness() == {"store": "troubled", "status": "ok"}
    store.mode = "fail"
    assert await cache.readiness() == {"store": "troubled", "status": "degraded"}
    store.mode = "ok"
    assert await cache.readiness() == {"store": "troubled", "status": "ok"}
    assert (await cache.lookup("k")).status == "miss"  # a good probe closes the pause early


def test_build_picks_the_store_and_checks_the_keyring() -> None:
    settings = CacheSettings()
    assert AnswerCache.build(settings, environ={}).store_name == "memory"
    with pytest.raises(Exception, match="GATEWAY_CACHE_KEY is not set"):
        AnswerCache.build(settings, environ={"GATEWAY_CACHE_SECRET": "x" * 40})
