"""Prometheus metrics of failure handling, on the app's own registry.

Read at scrape time from the objects that keep the counts (no second
bookkeeping). Labels are target names and fixed words, never request content,
keys or team names.

======================================  ============================================================
metric                                  meaning
======================================  ============================================================
``gateway_circuit_state{target}``       0 closed, 1 half-open, 2 open (as last seen from Redis or
                                        this process; refreshed on every request and scrape)
``gateway_circuit_opened_total``        times a circuit was seen to open from this replica
``gateway_retries_total{target}``       retries (after a backoff) of the same target
``gateway_retry_budget_exhausted_total`` retries refused because the budget was spent
``gateway_rate_limited_total{scope}``   429s by ``scope`` (key or team)
``gateway_overloaded_total{target}``    requests refused a place at a full target
``gateway_in_flight{target}``           requests holding a place at a target now
``gateway_shared_state_up``             1 when Redis answers (0: limits and circuits in process)
``gateway_ledger_spooled_rows``         ledger rows waiting in the local spool for the database
======================================  ============================================================

Attempts by target and outcome (``ok``, ``error``, ``timeout``, ``circuit_open``,
``overloaded``...) are ``gateway_attempts_total``, counted from each request's
attempts by ``gateway/metrics.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.resilience.backpressure import Bulkheads
from gateway.resilience.breaker import Breakers, CircuitState
from gateway.resilience.ratelimit import RateLimiter
from gateway.resilience.retry import RetryPolicy
from gateway.resilience.shared import SharedState


class Observed(Protocol):
    """What these metrics read of ``gateway.resilience.Resilience`` (named here: the package imports this module)."""

    breakers: Breakers
    retries_by_target: dict[str, int]
    retry: RetryPolicy
    limits: RateLimiter
    bulkheads: Bulkheads
    shared: SharedState

_STATE_VALUE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


class ResilienceMetrics(Collector):
    def __init__(self, registry: CollectorRegistry, resilience: Observed) -> None:
        self._resilience = resilience
        self.spooled: Callable[[], int] = lambda: 0
        registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        r = self._resilience
        state = GaugeMetricFamily("gateway_circuit_state", "0 closed, 1 half-open, 2 open.", labels=["target"])
        for target, view in sorted(r.breakers.last_known().items()):
            state.add_metric([target], _STATE_VALUE[view.state])
        yield state
        yield CounterMetricFamily("gateway_circuit_opened", "Circuits seen to open.", value=r.breakers.opened)
        retries = CounterMetricFamily("gateway_retries", "Retries of the same target.", labels=["target"])
        for target, count in sorted(r.retries_by_target.items()):
            retries.add_metric([target], count)
        yield retries
        yield CounterMetricFamily(
            "gateway_retry_budget_exhausted", "Retries refused: budget spent.", value=r.retry.budget.exhausted
        )
        limited = CounterMetricFamily("gateway_rate_limited", "429s by scope.", labels=["scope"])
        for scope, count in sorted(r.limits.refused.items()):
            limited.add_metric([scope], count)
        yield limited
        overloaded = CounterMetricFamily("gateway_overloaded", "Requests refused a place.", labels=["target"])
        for target, count in sorted(r.bulkheads.rejected.items()):
            overloaded.add_metric([target], count)
        yield overloaded
        in_flight = GaugeMetricFamily("gateway_in_flight", "Requests holding a place.", labels=["target"])
        for target, count in sorted(r.bulkheads.in_flight().items()):
            in_flight.add_metric([target], count)
        yield in_flight
        yield GaugeMetricFamily("gateway_shared_state_up", "Redis answers.", value=1 if r.shared.healthy else 0)
        yield GaugeMetricFamily("gateway_ledger_spooled_rows", "Rows in the ledger spool.", value=self.spooled())
