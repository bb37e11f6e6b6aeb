"""The retry loop through tenacity: the library ``retry.Retrying`` replaces (``fast_paths.retry_loop: false``).

Same decisions, same order, same record: tenacity retries only a retryable
``UpstreamError``; after each failure its ``wait`` asks ``retry.next_wait``
(backoff, Retry-After, its cap, the deadline, the budget) and its ``stop``
ends the loop when that says there is no next attempt; the last error is raised
as it was (``reraise``). ``before_sleep`` counts the retry and calls
``on_retry`` as ``Retrying`` does. The oracle test
(``tests/resilience/test_retry_oracle.py``) runs both loops on the same
failures; tenacity is imported only when this loop is used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from gateway.errors import UpstreamError
from gateway.resilience.retry import Retrying, RetryState, next_wait, retryable

if TYPE_CHECKING:
    from tenacity import RetryCallState

P = ParamSpec("P")
T = TypeVar("T")


class TenacityRetrying(Retrying):
    """``await retrying(call, *args)`` through ``tenacity.AsyncRetrying`` (module docstring)."""

    __slots__ = ()

    async def __call__(self, call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        import tenacity

        decided: dict[int, float | None] = {}  # attempt number -> wait before the next, None: stop

        def error_of(state: RetryCallState) -> UpstreamError:
            assert state.outcome is not None
            error = state.outcome.exception()
            assert isinstance(error, UpstreamError)
            return error

        def wait(state: RetryCallState) -> float:
            attempt = state.attempt_number
            decided[attempt] = next_wait(
                self._policy, self._target, self._deadline, self._attempts, attempt, error_of(state)
            )
            return decided[attempt] or 0.0

        def stop(state: RetryCallState) -> bool:
            return decided.get(state.attempt_number) is None

        def before_sleep(state: RetryCallState) -> None:
            self._policy.retries += 1
            if self._on_retry is not None:
                self._on_retry(RetryState(state.attempt_number, state.upcoming_sleep, error_of(state)))

        loop = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(retryable),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
            sleep=asyncio.sleep,
        )
        return await loop(call, *args, **kwargs)


__all__ = ["TenacityRetrying"]
