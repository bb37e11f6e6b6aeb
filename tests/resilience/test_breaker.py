"""Circuit breakers: the same state machine in process and in Redis, shared by replicas through Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from gateway.resilience.breaker import Breakers, CircuitState, LocalCircuits
from gateway.resilience.settings import BreakerSettings
from gateway.resilience.shared import SharedState

SETTINGS = BreakerSettings(consecutive_failures=3, error_rate=0.5, min_calls=6, window_s=30, open_s=0.3,
                           half_open_probes=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["in_process", "redis"])
async def make_breakers(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Callable[[], Breakers]]:
    """Breakers of one or more 'replicas': in process (each its own) or sharing one Redis prefix."""
    prefix = f"vr-test-{secrets.token_hex(4)}:"
    clients: list[Redis] = []

    def make() -> Breakers:
        if request.param == "in_process":
            return Breakers(SETTINGS, SharedState(None))
        client = Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
        clients.append(client)
        return Breakers(SETTINGS, SharedState(client, prefix=prefix))

    yield make
    for client in clients:
        await client.aclose()


async def test_opens_after_consecutive_failures(make_breakers: Callable[[], Breakers]) -> None:
    breakers = make_breakers()
    assert await breakers.record("a", False) is CircuitState.CLOSED
    assert await breakers.record("a", True) is CircuitState.CLOSED  # a success resets the count
    for _ in range(2):
        assert await breakers.record("a", False) is CircuitState.CLOSED
    assert await breakers.record("a", False) is CircuitState.OPEN
    assert not await breakers.allow("a")
    assert await breakers.allow("b")  # per target
    unavailable = await breakers.unavailable(["a", "b"])
    assert list(unavailable) == ["a"] and unavailable["a"].startswith("circuit open (3 failures in a row)")


async def test_opens_on_error_rate_over_the_window(make_breakers: Callable[[], Breakers]) -> None:
    breakers = make_breakers()
    for ok in (True, False, True, False, True):
        assert await breakers.record("a", ok) is CircuitState.CLOSED
    assert await breakers.record("a", False) is CircuitState.OPEN  # 3 of 6 calls failed: 50%
    assert (await breakers.states(["a"]))["a"].reason == "3 of 6 calls failed"


async def test_half_open_lets_one_probe_through_and_a_success_closes(make_breakers: Callable[[], Breakers]) -> None:
    breakers = make_breakers()
    for _ in range(3):
        await breakers.record("a", False)
    assert (await breakers.states(["a"]))["a"].state is CircuitState.OPEN
    await asyncio.sleep(0.35)
    assert (await breakers.states(["a"]))["a"].state is CircuitState.HALF_OPEN
    assert await breakers.unavailable(["a"]) == {}  # half-open targets are offered to decisions again
    assert await breakers.allow("a")  # the probe
    assert not await breakers.allow("a")  # only one at a time
    assert await breakers.record("a", True) is CircuitState.CLOSED
    assert await breakers.allow("a") and await breakers.allow("a")


async def test_a_failed_probe_opens_again(make_breakers: Callable[[], Breakers]) -> None:
    breakers = make_breakers()
    for _ in range(3):
        await breakers.record("a", False)
    await asyncio.sleep(0.35)
    assert await breakers.allow("a")
    assert await breakers.record("a", False) is CircuitState.OPEN
    view = (await breakers.states(["a"]))["a"]
    assert view.state is CircuitState.OPEN and view.reason == "a half-open probe failed"
    assert not await breakers.allow("a")


async def test_replicas_share_one_circuit_through_redis(redis_url: str) -> None:
    prefix = f"vr-test-{secrets.token_hex(4)}:"
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    try:
        one, two = (Breakers(SETTINGS, SharedState(c, prefix=prefix)) for c in clients)
        await one.record("a", False)
        await two.record("a", False)
        assert await one.record("a", False) is CircuitState.OPEN  # failures seen by both replicas add up
        assert not await two.allow("a")
        assert (await two.states(["a"]))["a"].state is CircuitState.OPEN
        await asyncio.sleep(0.35)
        assert await one.allow("a")  # replica one takes the only probe...
        assert not await two.allow("a")  # ...so replica two does not probe at the same time
    finally:
        for client in clients:
            await client.aclose()


async def test_without_redis_the_circuits_fall_back_to_this_process(unused_port: int) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{unused_port}/0", socket_timeout=0.25, socket_connect_timeout=0.25)
    shared = SharedState(client, retry_s=60)
    breakers = Breakers(SETTINGS, shared)
    try:
        for _ in range(3):
            await breakers.record("a", False)
        assert not await breakers.allow("a")
        assert not shared.healthy and shared.failures == 1  # one failed call, then the cool-down
    finally:
        await client.aclose()


def test_local_circuit_state_machine_with_a_clock() -> None:
    clock = Clock()
    circuits = LocalCircuits(SETTINGS, clock)
    for _ in range(3):
        circuits.record("a", False)
    assert circuits.view("a").state is CircuitState.OPEN
    assert circuits.view("a").retry_in_s == pytest.approx(0.3)
    clock.now += 0.31
    assert circuits.view("a").state is CircuitState.HALF_OPEN
    assert circuits.allow("a") and not circuits.allow("a")
    clock.now += 0.31  # the probe never reported: its place frees up after open_s
    assert circuits.allow("a")
    circuits.record("a", True)
    assert circuits.view("a").state is CircuitState.CLOSED


def test_the_error_rate_window_forgets_old_calls() -> None:
    clock = Clock()
    circuits = LocalCircuits(SETTINGS, clock)
    for ok in (False, True, False, True, True):
        circuits.record("a", ok)
    clock.now += 31  # a new window
    assert circuits.record("a", False) is CircuitState.CLOSED
