"""Retries of one target: which failures, how long to wait, and how many the target can bear.

``RetryPolicy.retrying`` builds the retry loop for one target of one
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

The loop is a fast path (``gateway/fastpaths.py``): ``Retrying`` costs one
``await`` when the first attempt answers. ``fast_paths.retry_loop: false`` (or
``GATEWAY_FAST_PATHS=off``) runs the same decisions through tenacity
(``gateway/resilience/tenacity_retry.py``); the oracle test runs both on the
same failures and compares every attempt, wait and outcome.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from gateway.errors import UpstreamError
from gateway.fastpaths import FastPaths
from gateway.resilience.settings import RetrySettings

P = ParamSpec("P")
T = TypeVar("T")

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


@dataclass(frozen=True, slots=True)
class RetryState:
    """What ``on_retry`` is told before a retry's wait: which attempt failed, the wait, the error."""

    attempt_number: int
    upcoming_sleep: float
    error: UpstreamError


class RetryPolicy:
    """Builds the retry loop of one target for one request.

    ``fast``: the gateway's own loop (``Retrying``), else tenacity's; ``None``: as
    ``fast_paths.retry_loop`` is by default (on, unless ``GATEWAY_FAST_PATHS=off``)."""

    def __init__(self, settings: RetrySettings, budget: RetryBudget, *, fast: bool | None = None) -> None:
        self.settings = settings
        self.budget = budget
        self.retries = 0
        self.fast = FastPaths.current().retry_loop if fast is None else fast

    def backoff(self, attempt_number: int) -> float:
        """The wait after failed attempt ``attempt_number`` (1-based): exponential, capped, plus jitter."""
        s = self.settings
        exponential = min(s.backoff_initial_s * 2 ** (attempt_number - 1), s.backoff_max_s)
        return max(exponential, 0.0) + random.uniform(0, s.jitter_s)

    def retrying(
        self,
        target: str,
        deadline: float,
        *,
        max_attempts: int | None = None,
        on_retry: Callable[[RetryState], None] | None = None,
    ) -> Retrying:
        """The retry loop for ``target``; ``deadline`` is on the event loop's clock."""
        attempts = max_attempts or self.settings.max_attempts
        if not self.fast:
            from gateway.resilience.tenacity_retry import TenacityRetrying

            return TenacityRetrying(self, target, deadline, attempts, on_retry)
        return Retrying(self, target, deadline, attempts, on_retry)


class Retrying:
    """``await retrying(call, *args)``: ``call`` until it answers, or the last error once retries stop.

    A first attempt that answers costs one ``await``: the loop does no work
    until something fails. After a failure it retries only a retryable
    ``UpstreamError`` and stops when the attempts are used up, the upstream's
    ``Retry-After`` is above the cap, the wait would not leave time before the
    deadline, or the target's retry budget is spent (see the module docstring).
    """

    __slots__ = ("_attempts", "_deadline", "_on_retry", "_policy", "_target")

    def __init__(
        self, policy: RetryPolicy, target: str, deadline: float, attempts: int,
        on_retry: Callable[[RetryState], None] | None,
    ) -> None:  # fmt: skip
        self._policy, self._target, self._deadline = policy, target, deadline
        self._attempts, self._on_retry = attempts, on_retry

    async def __call__(self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        attempt = 1
        while True:
            try:
                return await call(*args, **kwargs)
            except UpstreamError as error:
                if not error.retryable:
                    raise
                wait = self._wait(attempt, error)
                if wait is None:
                    raise
                state = RetryState(attempt, wait, error)
            self._policy.retries += 1
            if self._on_retry is not None:
                self._on_retry(state)
            await asyncio.sleep(wait)
            attempt += 1

    def _wait(self, attempt: int, error: UpstreamError) -> float | None:
        """How long to wait before the next attempt, or ``None`` when there is none (spends the budget)."""
        return next_wait(self._policy, self._target, self._deadline, self._attempts, attempt, error)


def next_wait(
    policy: RetryPolicy, target: str, deadline: float, attempts: int, attempt: int, error: UpstreamError
) -> float | None:
    """The one decision both loops take after failed attempt ``attempt`` (1-based): how long to
    wait before the next, or ``None`` when there is none. A ``float`` has taken a retry from
    ``target``'s budget."""
    backoff = policy.backoff(attempt)
    after = error.retry_after_s
    wait = max(backoff, after) if after is not None else backoff
    if attempt >= attempts:
        return None
    if after is not None and after > policy.settings.retry_after_cap_s:
        return None
    # Leave at least a second (or a quarter of what is left) for the attempt itself.
    remaining = deadline - asyncio.get_running_loop().time()
    if wait + min(1.0, remaining / 4) >= remaining:
        return None
    return wait if policy.budget.try_spend(target) else None
