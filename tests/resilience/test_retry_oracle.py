"""The retry loop's fast path against tenacity: the same failures, the same attempts, waits and outcome.

``RetryPolicy(fast=True)`` runs the gateway's own loop, ``fast=False`` the same
decisions through ``tenacity.AsyncRetrying`` (``gateway/resilience/tenacity_retry.py``).
Each scenario (answers at once, retryable failures then an answer, a
non-retryable one, attempts used up, Retry-After above its cap or longer than
the backoff, a deadline too close, a spent budget, an error that is not an
upstream's) runs through both with jitter off, and every observable is compared:
the calls made, each ``on_retry`` (attempt, wait, error), the result or the error
raised (the same object), the retries counted and the budget left.
A bump of tenacity re-runs this (``make oracles``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.resilience.retry import RetryBudget, RetryPolicy, RetryState
from gateway.resilience.settings import RetrySettings
from gateway.resilience.tenacity_retry import TenacityRetrying

pytestmark = pytest.mark.oracle


def _scenarios() -> dict[str, tuple[dict[str, object], float, list[BaseException]]]:
    """name -> (retry settings, seconds to the deadline, the errors raised in turn before an answer)."""
    return {
        "answers at once": ({}, 10, []),
        "retryable then answer": ({"max_attempts": 4}, 10, [UpstreamError("503", upstream_status=503),
                                                            UpstreamTimeout("slow")]),
        "not retryable": ({"max_attempts": 4}, 10, [UpstreamError("400", retryable=False, upstream_status=400)]),
        "attempts used up": ({"max_attempts": 3}, 10, [UpstreamError(f"503 #{n}", upstream_status=503)
                                                       for n in range(5)]),
        "retry-after over the cap": ({"max_attempts": 4, "retry_after_cap_s": 0.01}, 10,
                                     [UpstreamError("429", upstream_status=429, retry_after_s=5.0)]),
        "retry-after longer than backoff": ({"max_attempts": 3}, 10,
                                            [UpstreamError("429", upstream_status=429, retry_after_s=0.03)]),
        "deadline too close": ({"max_attempts": 4, "backoff_initial_s": 0.5, "backoff_max_s": 1}, 0.6,
                               [UpstreamError("503", upstream_status=503)]),
        "budget spent": ({"max_attempts": 5, "budget_ratio": 0, "budget_min_retries": 1}, 10,
                         [UpstreamError(f"503 #{n}", upstream_status=503) for n in range(4)]),
        "not an upstream error": ({"max_attempts": 4}, 10, [RuntimeError("a bug")]),
    }  # fmt: skip


@dataclass
class Observed:
    calls: int
    retries_seen: list[tuple[int, float, int]]  # (attempt, wait, which error)
    outcome: str
    retries: int
    budget_exhausted: int


async def _run(fast: bool, settings: dict[str, object], seconds: float, errors: list[BaseException]) -> Observed:
    config = RetrySettings.model_validate(
        {"backoff_initial_s": 0.002, "backoff_max_s": 0.01, "jitter_s": 0, **settings}
    )
    policy = RetryPolicy(config, RetryBudget(config), fast=fast)
    pending = list(errors)
    calls = 0
    seen: list[RetryState] = []

    async def call(name: str) -> str:
        nonlocal calls
        calls += 1
        if pending:
            raise pending.pop(0)
        return f"answer from {name} after {calls}"

    loop = policy.retrying("t", asyncio.get_running_loop().time() + seconds, on_retry=seen.append)
    assert isinstance(loop, TenacityRetrying) is not fast
    try:
        outcome = "returned " + await loop(call, "t")
    except BaseException as error:  # noqa: BLE001 - the error itself is the observable
        outcome = f"raised error #{errors.index(error)}"
    return Observed(
        calls,
        [(state.attempt_number, state.upcoming_sleep, errors.index(state.error)) for state in seen],
        outcome,
        policy.retries,
        policy.budget.exhausted,
    )


@pytest.mark.parametrize("name", list(_scenarios()))
async def test_same_decisions_as_tenacity(name: str) -> None:
    settings, seconds, errors = _scenarios()[name]
    ours = await _run(True, settings, seconds, errors)
    settings, seconds, errors = _scenarios()[name]  # fresh errors: tracebacks differ, identities must not mix
    library = await _run(False, settings, seconds, errors)
    assert ours == library
    assert ours.calls >= 1


async def test_the_scenarios_reach_every_way_out() -> None:
    """The comparison means something only if the scenarios end in each way the loop can end."""
    outcomes = {name: await _run(True, *_scenarios()[name]) for name in _scenarios()}
    assert outcomes["retryable then answer"].outcome == "returned answer from t after 3"
    assert outcomes["attempts used up"].calls == 3 and outcomes["attempts used up"].outcome == "raised error #2"
    assert outcomes["retry-after over the cap"].calls == 1
    assert outcomes["retry-after longer than backoff"].retries_seen[0][1] == 0.03
    assert outcomes["deadline too close"].calls == 1
    assert outcomes["budget spent"].calls == 2 and outcomes["budget spent"].budget_exhausted == 1
    assert outcomes["not an upstream error"].outcome == "raised error #0"


def test_switched_off_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = RetrySettings()
    monkeypatch.setenv("GATEWAY_FAST_PATHS", "off")
    assert RetryPolicy(config, RetryBudget(config)).fast is False
    monkeypatch.delenv("GATEWAY_FAST_PATHS")
    assert RetryPolicy(config, RetryBudget(config)).fast is True
    assert RetryPolicy(config, RetryBudget(config), fast=False).fast is False
