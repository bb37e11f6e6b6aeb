"""Team budgets: monthly USD limits from the policy, held across replicas.

Each team with a ``budgets:`` entry has a month-to-date spend counter, kept in
Redis when ``redis_url`` is set (shared by every replica) and in the process
otherwise. Amounts are integers of 1e-10 USD (the ledger's precision), so
Redis adds them exactly (``INCRBY``), never as floats.

The life of a request, in ``ChatService``:

1. ``admit`` before any target is called: the request's estimated cost is
   added to the counter at once (a reservation, atomic across replicas). If
   the new total is ``>=`` the limit, the reservation is taken back and the
   team is over budget: the policy's ``on_exceed`` applies (``block``: 429
   ``budget_exceeded``; ``on_prem_only``: only on-prem targets may answer).
   Reaching the limit exactly counts as spent, here and for the soft threshold.
2. ``settle`` when the request ends, however it ends: the reservation is
   replaced by the actual cost (zero for a request that was refused or
   failed). An over-budget request served on-prem adds its actual cost.

Because reservations are taken before the call and atomically, concurrent
requests on any number of replicas cannot together pass the limit on their
estimates; only an estimate below the actual cost lets spend exceed it, by at
most that request's shortfall. Estimates lean high (see ``charge.estimate``).

A missing counter (a new month, a Redis that lost its data, a fresh process)
starts from the ledger's recorded spend for the month. When Redis fails, the
process counter takes over (logged); spend then is held per replica until
Redis answers again.

The soft threshold (``soft_threshold`` x ``monthly_usd``, default 80%) is
logged once per team and month per process, and exported with the spend as
Prometheus gauges ``gateway_budget_spent_usd``, ``gateway_budget_limit_usd``
and ``gateway_budget_soft_threshold_reached`` (labels: team).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.ledger.charge import PLACES
from gateway.policy.model import Budget, Policy

log = logging.getLogger("gateway.budget")

UNITS_PER_USD = 10**10
REDIS_PREFIX = "vaultroute:budget:"
REDIS_TTL_S = 40 * 86400  # a month's counter outlives its month, then goes

SpendLoader = Callable[[str, datetime, datetime], Awaitable[Decimal]]
"""``(team, month_start, next_month_start) -> recorded spend``: the ledger's sum."""


def to_units(amount: Decimal) -> int:
    return int((amount * UNITS_PER_USD).to_integral_value())


def to_usd(units: int) -> Decimal:
    return (Decimal(units) / UNITS_PER_USD).quantize(PLACES)


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``[first instant, first instant of the next month)`` in UTC."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


class SpendCounter(Protocol):
    """A month-to-date spend counter per team.

    ``add`` adds ``units`` (may be negative) to the team's counter for
    ``month`` atomically and returns the new total. A counter that does not
    exist yet first takes ``initial()`` (the ledger's recorded spend).
    """

    async def add(self, team: str, month: str, units: int, initial: Callable[[], Awaitable[int]]) -> int: ...


class LocalCounter:
    """Counters in this process (no Redis configured, or Redis failing)."""

    def __init__(self) -> None:
        self._totals: dict[tuple[str, str], int] = {}
        self._lock = asyncio.Lock()

    async def add(self, team: str, month: str, units: int, initial: Callable[[], Awaitable[int]]) -> int:
        async with self._lock:
            key = (team, month)
            if key not in self._totals:
                self._totals[key] = await initial()
            self._totals[key] += units
            return self._totals[key]


class RedisCounter:
    """Counters in Redis, shared by every replica; exact integer ``INCRBY``.

    At most ``concurrency`` commands are in flight per counter: the client's
    connection pool is shared with the cache, and a burst must queue here
    rather than exhaust the pool.
    """

    def __init__(self, redis: Redis, concurrency: int = 16) -> None:
        self._redis = redis
        self._slots = asyncio.Semaphore(concurrency)

    async def add(self, team: str, month: str, units: int, initial: Callable[[], Awaitable[int]]) -> int:
        key = f"{REDIS_PREFIX}{month}:{team}"
        async with self._slots:
            if not await self._redis.exists(key):
                # Several replicas may get here at once: the first SET wins, the
                # others' NX is a no-op, and all computed the same ledger sum.
                await self._redis.set(key, await initial(), nx=True, ex=REDIS_TTL_S)
            return int(await self._redis.incrby(key, units))


@dataclass(slots=True)
class Admission:
    """What ``admit`` decided for one request; give it back to ``settle``."""

    budget: Budget | None
    month: str = ""
    reserved: int = 0  # units held on the counter for this request
    over: bool = False
    counter: SpendCounter | None = field(default=None, repr=False)


NOT_BUDGETED = Admission(None)


async def _nothing_spent(team: str, start: datetime, end: datetime) -> Decimal:
    return Decimal(0)


class BudgetKeeper:
    """Admits and settles requests against their team's budget; see the module docstring.

    ``load_spend`` gives a month's recorded spend when a counter starts (the
    ledger's sum; default: nothing spent). ``registry`` receives the gauges.
    """

    def __init__(
        self,
        load_spend: SpendLoader | None = None,
        *,
        redis: Redis | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._load_spend = load_spend or _nothing_spent
        self._local = LocalCounter()
        self._shared: SpendCounter | None = RedisCounter(redis) if redis is not None else None
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()
        self._warned: set[tuple[str, str]] = set()
        registry = registry or CollectorRegistry()
        self._spent = Gauge("gateway_budget_spent_usd", "Month-to-date spend of a budgeted team, reservations "
                            "included.", ["team"], registry=registry)
        self._limit = Gauge("gateway_budget_limit_usd", "A team's monthly budget.", ["team"], registry=registry)
        self._soft = Gauge("gateway_budget_soft_threshold_reached", "1 once a team's month-to-date spend reached "
                           "its budget's soft threshold.", ["team"], registry=registry)

    async def admit(self, policy: Policy, team: str, estimate: Decimal) -> Admission:
        """Reserve ``estimate`` on the team's budget; ``over`` when it would reach the limit."""
        budget = next((b for b in policy.budgets if b.team == team), None)
        if budget is None:
            return NOT_BUDGETED
        month = month_of(self._clock())
        units = to_units(estimate)
        limit = to_units(Decimal(str(budget.monthly_usd)))
        counter, total = await self._add_to(self._shared or self._local, team, month, units)
        admission = Admission(budget, month, units, False, counter)
        if total >= limit:
            admission.counter, total = await self._add_to(counter, team, month, -units)
            admission.reserved, admission.over = 0, True
            log.info("team %s is over its monthly budget (%s USD): %s", team, budget.monthly_usd, budget.on_exceed)
        self._observe(budget, month, total)
        return admission

    def settle(self, admission: Admission | None, actual: Decimal) -> None:
        """Replace the reservation by the actual cost. Never blocks: the counter
        is updated in a task (``close`` waits for those)."""
        if admission is None or admission.budget is None:
            return
        delta = to_units(actual) - admission.reserved
        admission.reserved = to_units(actual)
        if delta == 0:
            return
        task = asyncio.get_running_loop().create_task(self._settle(admission, delta))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def spent(self, team: str) -> Decimal:
        """The team's month-to-date spend as the counters hold it (reservations included)."""
        _, total = await self._add_to(self._shared or self._local, team, month_of(self._clock()), 0)
        return to_usd(total)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    # -- internals --------------------------------------------------------------

    async def _settle(self, admission: Admission, delta: int) -> None:
        assert admission.budget is not None and admission.counter is not None
        _, total = await self._add_to(admission.counter, admission.budget.team, admission.month, delta)
        self._observe(admission.budget, admission.month, total)

    async def _add_to(self, counter: SpendCounter, team: str, month: str, units: int) -> tuple[SpendCounter, int]:
        """Add on ``counter``, or on the process counter when Redis fails; returns the one used."""

        async def initial() -> int:
            start, end = month_bounds(month)
            return to_units(await self._load_spend(team, start, end))

        try:
            return counter, await counter.add(team, month, units, initial)
        except (RedisError, OSError) as exc:
            log.warning("budget counter in Redis unavailable (%s); counting in this process", type(exc).__name__)
            return self._local, await self._local.add(team, month, units, initial)

    def _observe(self, budget: Budget, month: str, total: int) -> None:
        spent = to_usd(total)
        limit = Decimal(str(budget.monthly_usd))
        reached = spent >= limit * Decimal(str(budget.soft_threshold))
        self._spent.labels(budget.team).set(float(spent))
        self._limit.labels(budget.team).set(float(limit))
        self._soft.labels(budget.team).set(1 if reached else 0)
        if reached and (budget.team, month) not in self._warned:
            self._warned.add((budget.team, month))
            log.warning(
                "team %s reached %d%% of its monthly budget: %s of %s USD spent in %s",
                budget.team, int(budget.soft_threshold * 100), spent, budget.monthly_usd, month,
            )
