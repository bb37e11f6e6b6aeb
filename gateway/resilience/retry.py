"""Retries of one target: which failures, how long to wait, and how many the target can bear.

``RetryPolicy.retrying`` builds the tenacity loop for one target of one
request. It retries only ``UpstreamError`` with ``retryable`` set (connection
errors, timeouts, 429, 5xx, an unreadable 2xx), waits an exponential backoff
with random jitter, or the upstream's ``Retry-After`` when that is longer, and
stops when:

* the target has had ``max_attempts`` attempts;
* the upstream asks for a ``Retry-After`` above ``retry_after_cap_s`` (the
  route's next target is tried instead of waiting);
* the wait would not leave time before the request's deadline;
* the target's retry budget is spent.

The budget keeps retries from multiplying load during an outage: per target
and per replica, retries in the last ``budget_window_s`` may not exceed
``budget_ratio`` times the first attempts in that window, plus
``budget_min_retries``. Fallbacks to another target are first attempts there,
not retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.wait import wait_exponential, wait_random

from gateway.errors import UpstreamError
from gateway.resilience.settings import RetrySettings

_BUCKETS = 10


@dataclass(slots=True)
class _Counts:
    """Bucketed counts over a sliding window."""

    start: list[float] = field(default_factory=lambda: [0.0] * _BUCKETS)
    first: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    retries: list[int] = field(default_factory=lambda: [0] * _BUCKETS)


class RetryBudget:
    """Per target: retries allowed as a share of first attempts over a sliding window."""

    def __init__(self, settings: RetrySettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._ratio = settings.budget_ratio
        self._window = settings.budget_window_s
        self._min = settings.budget_min_retries
        self._clock = clock
        self._counts: dict[str, _Counts] = {}
        self.exhausted = 0

    def note_first_attempt(self, target: str) -> None:
        counts, i = self._bucket(target)
        counts.first[i] += 1

    def try_spend(self, target: str) -> bool:
        """Take one retry from ``target``'s budget; ``False`` (and nothing taken) when it is spent."""
        counts, i = self._bucket(target)
        now = self._clock()
        live = [j for j in range(_BUCKETS) if now - counts.start[j] < self._window]
        first = sum(counts.first[j] for j in live)
        retries = sum(counts.retries[j] for j in live)
        if retries + 1 > self._min + self._ratio * first:
            self.exhausted += 1
            return False
        counts.retries[i] += 1
        return True

    def _bucket(self, target: str) -> tuple[_Counts, int]:
        counts = self._counts.setdefault(target, _Counts())
        now = self._clock()
        width = self._window / _BUCKETS
        i = int(now / width) % _BUCKETS
        if now - counts.start[i] >= width:
            counts.start[i] = now - (now % width)
            counts.first[i] = counts.retries[i] = 0
        return counts, i


def retryable(error: BaseException) -> bool:
    return isinstance(error, UpstreamError) and error.retryable


class RetryPolicy:
    """Builds the retry loop of one target for one request."""

    def __init__(self, settings: RetrySettings, budget: RetryBudget) -> None:
        self.settings = settings
        self.budget = budget
        self._backoff = wait_exponential(
            multiplier=settings.backoff_initial_s, exp_base=2, max=settings.backoff_max_s
        ) + wait_random(0, settings.jitter_s)
        self.retries = 0

    def retrying(
        self,
        target: str,
        deadline: float,
        *,
        max_attempts: int | None = None,
        on_retry: Callable[[RetryCallState], None] | None = None,
    ) -> AsyncRetrying:
        """The tenacity loop for ``target``; ``deadline`` is on the event loop's clock."""
        attempts = max_attempts or self.settings.max_attempts
        loop = asyncio.get_running_loop()

        def wait(state: RetryCallState) -> float:
            backoff = float(self._backoff(state))
            error = state.outcome.exception() if state.outcome is not None else None
            after = error.retry_after_s if isinstance(error, UpstreamError) else None
            return max(backoff, after) if after is not None else backoff

        def stop(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome is not None else None
            after = error.retry_after_s if isinstance(error, UpstreamError) else None
            if state.attempt_number >= attempts:
                return True
            if after is not None and after > self.settings.retry_after_cap_s:
                return True
            # Leave at least a second (or a quarter of what is left) for the attempt itself.
            remaining = deadline - loop.time()
            if state.upcoming_sleep + min(1.0, remaining / 4) >= remaining:
                return True
            return not self.budget.try_spend(target)

        def before_sleep(state: RetryCallState) -> None:
            self.retries += 1
            if on_retry is not None:
                on_retry(state)

        return AsyncRetrying(
            retry=retry_if_exception(retryable),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
            sleep=asyncio.sleep,
        )
