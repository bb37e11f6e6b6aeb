"""Budget counters: reservations before the call, settlement after, ``>=`` at the limit,
in process and in a real Redis shared by several keepers."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.budget import REDIS_PREFIX, BudgetKeeper, month_bounds, month_of
from gateway.policy.model import Budget, Policy

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def policy(team: str, monthly_usd: float, on_exceed: str = "block", soft: float = 0.8) -> Policy:
    return Policy.model_validate(
        {
            "version": 1,
            "name": "budgets",
            "levels": ["public", "internal"],
            "classification": {"default_level": "internal", "on_error": "internal"},
            "targets": {"t": {"kind": "transformers", "model": "m", "residency": "on_prem"}},
            "models": {"m": {}},
            "routes": [{"name": "r", "targets": ["t"]}],
            "budgets": [{"team": team, "monthly_usd": monthly_usd, "on_exceed": on_exceed, "soft_threshold": soft}],
        }
    )


def keeper(spent: Decimal = Decimal(0), **kwargs: object) -> BudgetKeeper:
    async def load(team: str, start: datetime, end: datetime) -> Decimal:
        assert (start, end) == month_bounds("2026-11")
        return spent

    return BudgetKeeper(load, clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]


async def test_reservation_then_settlement() -> None:
    budgets, p = keeper(), policy("payments", 10)
    admission = await budgets.admit(p, "payments", Decimal("4"))
    assert not admission.over and await budgets.spent("payments") == Decimal(4)
    budgets.settle(admission, Decimal("2.5"))
    await budgets.close()
    assert await budgets.spent("payments") == Decimal("2.5")


async def test_reaching_the_limit_exactly_counts_as_spent() -> None:
    budgets, p = keeper(Decimal("6")), policy("payments", 10)
    assert (await budgets.admit(p, "payments", Decimal("4"))).over  # 6 + 4 >= 10
    assert await budgets.spent("payments") == Decimal(6)  # the refused reservation was taken back
    assert not (await budgets.admit(p, "payments", Decimal("3.9999999999"))).over


async def test_a_spent_budget_refuses_even_a_free_request() -> None:
    budgets, p = keeper(Decimal("10")), policy("payments", 10)
    assert (await budgets.admit(p, "payments", Decimal(0))).over


async def test_over_budget_on_prem_spend_is_still_counted() -> None:
    budgets, p = keeper(Decimal("10")), policy("research", 10, "on_prem_only")
    admission = await budgets.admit(p, "research", Decimal(1))
    assert admission.over and admission.reserved == 0
    budgets.settle(admission, Decimal("0.25"))
    await budgets.close()
    assert await budgets.spent("research") == Decimal("10.25")


async def test_teams_without_a_budget_are_not_counted() -> None:
    admission = await keeper().admit(policy("payments", 10), "research", Decimal(100))
    assert admission.budget is None and not admission.over


async def test_soft_threshold_is_logged_once_and_exported(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    budgets, p = keeper(registry=registry), policy("payments", 10, soft=0.5)
    first = await budgets.admit(p, "payments", Decimal(3))
    assert b'gateway_budget_soft_threshold_reached{team="payments"} 0.0' in generate_latest(registry)
    budgets.settle(first, Decimal(5))  # exactly 50%: reached (>=)
    await budgets.close()
    await budgets.admit(p, "payments", Decimal("0.1"))
    metrics = generate_latest(registry)
    assert b'gateway_budget_soft_threshold_reached{team="payments"} 1.0' in metrics
    assert b'gateway_budget_limit_usd{team="payments"} 10.0' in metrics
    assert [r.getMessage() for r in caplog.records].count(
        "team payments reached 50% of its monthly budget: 5.0000000000 of 10.0 USD spent in 2026-11"
    ) == 1


def test_months() -> None:
    assert month_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


# -- Redis ------------------------------------------------------------------------


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def team() -> str:
    return f"team-{secrets.token_hex(4)}"


async def test_keepers_sharing_redis_never_reserve_past_the_limit(redis_url: str, redis: Redis, team: str) -> None:
    """Eight keepers (as eight replicas, each its own client) race 400 reservations of 0.3 on a budget of 10."""
    p = policy(team, 10)
    clients = [Redis.from_url(redis_url) for _ in range(8)]
    keepers = [keeper(redis=client) for client in clients]
    try:
        admissions = await asyncio.gather(
            *(keepers[i % 8].admit(p, team, Decimal("0.3")) for i in range(400))
        )
        admitted = [a for a in admissions if not a.over]
        assert 0 < len(admitted) <= 33  # 33 x 0.3 = 9.9 < 10; the 34th would reach it
        total = Decimal(int(await redis.get(f"{REDIS_PREFIX}2026-11:{team}"))) / 10**10
        assert total == Decimal("0.3") * len(admitted) < 10
        for i, admission in enumerate(admitted):
            keepers[i % 8].settle(admission, Decimal("0.1"))
        for k in keepers:
            await k.close()
        assert await keepers[0].spent(team) == Decimal("0.1") * len(admitted)
    finally:
        await redis.delete(f"{REDIS_PREFIX}2026-11:{team}")
        for client in clients:
            await client.aclose()


async def test_a_new_redis_counter_starts_from_the_ledger(redis: Redis, team: str) -> None:
    try:
        budgets = keeper(Decimal("7.5"), redis=redis)
        assert await budgets.spent(team) == Decimal("7.5")
        assert (await budgets.admit(policy(team, 10), team, Decimal("2.5"))).over
    finally:
        await redis.delete(f"{REDIS_PREFIX}2026-11:{team}")


async def test_when_redis_fails_the_process_counts(caplog: pytest.LogCaptureFixture) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                 retry=Retry(NoBackoff(), 0))
    try:
        budgets = keeper(Decimal(9), redis=dead)
        assert (await budgets.admit(policy("payments", 10), "payments", Decimal(1))).over
        assert "counting in this process" in caplog.text
    finally:
        await dead.aclose()


def test_budget_model_defaults() -> None:
    assert Budget(team="x", monthly_usd=1).soft_threshold == 0.8
