"""Redis trouble never fails a request: killed, paused (slow) and back again.

Each test starts its own redis-server (``own_redis``) so it can kill or stop it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cache.conftest import OwnRedis
from tests.cache.harness import CacheGateway, cache_gateway
from tests.upstreams.openai_server import OpenAIUpstream

pytestmark = pytest.mark.slow
UPSTREAM_KEY = "sk-cache-upstream"


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(api_key=UPSTREAM_KEY) as up:
        yield up


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, upstream: OpenAIUpstream) -> None:
    monkeypatch.setenv("GATEWAY_CACHE_SECRET", secrets.token_urlsafe(48))
    monkeypatch.setenv("GATEWAY_CACHE_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("CACHE_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    upstream.reset()


async def readyz(gw: CacheGateway) -> tuple[int, dict[str, str]]:
    response = await gw.client.get("/readyz", headers=gw.headers())
    return response.status_code, response.json()["cache"]


def metric(gw: CacheGateway, name: str, **labels: str) -> float:
    return gw.state.metrics.registry.get_sample_value(name, labels) or 0.0


async def until_cache(gw: CacheGateway, content: str, status: str) -> None:
    """Repeat a request until its cache header says ``status`` (the breaker's pause is 0.05 s)."""
    for _ in range(100):
        response = await gw.chat(content)
        assert response.status_code == 200
        if response.headers["x-gateway-cache"] == status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never {status}")


async def test_redis_killed_during_a_run(tmp_path: Path, upstream: OpenAIUpstream, own_redis: OwnRedis) -> None:
    async with cache_gateway(tmp_path, upstream, own_redis.url) as gw:
        assert (await gw.chat("Before the crash.")).headers["x-gateway-cache"] == "miss"
        assert (await gw.chat("Before the crash.")).headers["x-gateway-cache"] == "hit"
        assert await readyz(gw) == (200, {"store": "redis", "status": "ok"})

        own_redis.kill()
        results = [await gw.chat("Before the crash.") for _ in range(5)]
        results += [await gw.chat(f"During the outage {i}.") for i in range(5)]
        headers, lines = await gw.stream("A stream during the outage.")
        assert all(r.status_code == 200 for r in results) and lines[-1] == "[DONE]"
        assert {r.headers["x-gateway-cache"] for r in results} == {"skip"}
        assert headers["x-gateway-cache"] == "skip"
        assert await readyz(gw) == (200, {"store": "redis", "status": "degraded"})
        assert metric(gw, "gateway_cache_lookups_total", result="unavailable") >= 10
        assert metric(gw, "gateway_cache_errors_total", operation="get", reason="error") >= 1
        assert metric(gw, "gateway_cache_degraded") == 1

        # Back on the same port, empty: the cache is used again without a restart.
        own_redis.start()
        await until_cache(gw, "After the restart.", "miss")
        await until_cache(gw, "After the restart.", "hit")
        assert await readyz(gw) == (200, {"store": "redis", "status": "ok"})


async def test_a_redis_that_does_not_answer_is_skipped_within_the_bound(
    tmp_path: Path, upstream: OpenAIUpstream, own_redis: OwnRedis
) -> None:
    async with cache_gateway(tmp_path, upstream, own_redis.url, timeout_s=0.1, retry_s=0.05) as gw:
        await gw.chat("Warm the pool.")
        own_redis.pause()  # connections stay open, nothing is answered
        try:
            responses = [await gw.chat(f"While Redis hangs {i}.") for i in range(3)]
            assert [r.status_code for r in responses] == [200, 200, 200]
            assert {r.headers["x-gateway-cache"] for r in responses} == {"skip"}
            status, cache = await readyz(gw)
            assert (status, cache["status"]) == (200, "degraded")
            assert metric(gw, "gateway_cache_errors_total", operation="get", reason="timeout") >= 1
        finally:
            own_redis.resume()
        await until_cache(gw, "Warm the pool.", "hit")
