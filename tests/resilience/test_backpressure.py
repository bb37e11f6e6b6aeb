"""Backpressure: bounded places per target; excess waits a bounded time, then 503 with Retry-After."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import Overloaded
from gateway.resilience.backpressure import Bulkheads


async def test_excess_waits_for_a_place_then_goes_in() -> None:
    bulkheads = Bulkheads(default_limit=1, queue_wait_s=1.0)
    order: list[str] = []

    async def hold(name: str, seconds: float) -> None:
        async with bulkheads.slot("local"):
            order.append(f"{name} in")
            await asyncio.sleep(seconds)
            order.append(f"{name} out")

    await asyncio.gather(hold("first", 0.1), hold("second", 0))
    assert order == ["first in", "first out", "second in", "second out"]
    assert bulkheads.in_flight() == {"local": 0}


async def test_excess_beyond_the_wait_is_overloaded_with_retry_after() -> None:
    bulkheads = Bulkheads(default_limit=2, queue_wait_s=0.1)
    release = asyncio.Event()

    async def hold() -> None:
        async with bulkheads.slot("local"):
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert bulkheads.in_flight() == {"local": 2}
    with pytest.raises(Overloaded) as refused:
        async with bulkheads.slot("local"):
            pass
    assert refused.value.status == 503 and refused.value.headers["retry-after"] == "1"
    assert bulkheads.rejected == {"local": 1}
    async with bulkheads.slot("other"):  # per target
        pass
    release.set()
    await asyncio.gather(*holders)


async def test_a_target_limit_overrides_the_default_and_wait_is_bounded_by_the_caller() -> None:
    bulkheads = Bulkheads(default_limit=100, queue_wait_s=120.0)
    async with bulkheads.slot("gpu", limit=1):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(Overloaded):
            async with bulkheads.slot("gpu", limit=1, wait_s=0.05):  # what is left of the request's deadline
                pass
        # the deadline is the behaviour: bounded by the caller's 0.05 s, not the 120 s queue wait
        assert loop.time() - started < 60
