"""Retries of one target: retryable failures only, backoff with jitter, Retry-After, deadline, budget."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.resilience.retry import RetryBudget, RetryPolicy
from gateway.resilience.settings import RetrySettings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, name: str) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return f"answer from {name}"


def _policy(**overrides: object) -> RetryPolicy:
    settings = RetrySettings.model_validate({"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "jitter_s": 0.01,
                                             **overrides})
    return RetryPolicy(settings, RetryBudget(settings))


def _deadline(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_retryable_failures_are_retried() -> None:
    policy = _policy(max_attempts=3)
    call = Flaky(UpstreamError("5xx", upstream_status=503), UpstreamTimeout("slow"))
    assert await policy.retrying("t", _deadline(10))(call, "t") == "answer from t"
    assert call.calls == 3 and policy.retries == 2


async def test_non_retryable_failures_are_not() -> None:
    policy = _policy(max_attempts=3)
    call = Flaky(UpstreamError("400", retryable=False, upstream_status=400))
    with pytest.raises(UpstreamError):
        await policy.retrying("t", _deadline(10))(call, "t")
    assert call.calls == 1


async def test_max_attempts_stops_and_reraises_the_last_error() -> None:
    policy = _policy(max_attempts=2)
    call = Flaky(*(UpstreamError(f"n{i}") for i in range(5)))
    with pytest.raises(UpstreamError) as last:
        await policy.retrying("t", _deadline(10))(call, "t")
    assert call.calls == 2 and last.value.message == "n1"


async def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = _policy(max_attempts=3, retry_after_cap_s=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    call = Flaky(UpstreamError("429", upstream_status=429, retry_after_s=0.3))
    await policy.retrying("t", _deadline(10))(call, "t")
    assert loop.time() - started >= 0.29 and call.calls == 2
    above = Flaky(UpstreamError("429", upstream_status=429, retry_after_s=0.6))
    with pytest.raises(UpstreamError):
        await policy.retrying("t", _deadline(10))(above, "t")
    assert above.calls == 1  # waiting 0.6 s is above the cap: the next target is tried instead


async def test_no_retry_that_the_deadline_would_cut() -> None:
    policy = _policy(max_attempts=5, backoff_initial_s=0.5, backoff_max_s=0.5, jitter_s=0)
    call = Flaky(UpstreamError("a"), UpstreamError("b"))
    with pytest.raises(UpstreamError):
        await policy.retrying("t", _deadline(0.6))(call, "t")
    assert call.calls == 1


async def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = _policy(max_attempts=6, backoff_initial_s=0.01, backoff_max_s=0.04, jitter_s=0.005, budget_min_retries=9)
    sleeps: list[float] = []
    retrying = policy.retrying("t", _deadline(10), on_retry=lambda s: sleeps.append(s.upcoming_sleep))
    await retrying(Flaky(*(UpstreamError(str(i)) for i in range(5))), "t")
    assert len(sleeps) == 5
    for sleep, base in zip(sleeps, [0.01, 0.02, 0.04, 0.04, 0.04], strict=True):
        assert base <= sleep <= base + 0.005


def test_the_budget_allows_a_share_of_first_attempts_plus_a_floor() -> None:
    clock = Clock()
    budget = RetryBudget(RetrySettings(budget_ratio=0.2, budget_window_s=10, budget_min_retries=2), clock)
    for _ in range(10):
        budget.note_first_attempt("t")
    assert [budget.try_spend("t") for _ in range(5)] == [True, True, True, True, False]  # 2 + 20% of 10
    assert budget.exhausted == 1
    assert budget.try_spend("other")  # per target
    clock.now += 11  # the window slid past all of it
    assert budget.try_spend("t") and budget.try_spend("t") and not budget.try_spend("t")


async def test_a_spent_budget_stops_retries() -> None:
    policy = _policy(max_attempts=3, budget_ratio=0.0, budget_min_retries=1)
    first = Flaky(UpstreamError("a"))
    await policy.retrying("t", _deadline(10))(first, "t")
    second = Flaky(UpstreamError("b"))
    with pytest.raises(UpstreamError):
        await policy.retrying("t", _deadline(10))(second, "t")
    assert (first.calls, second.calls) == (2, 1)
    assert policy.budget.exhausted == 1
