"""Backpressure: a bounded number of requests in flight per target, per replica.

A request that finds its target full waits up to ``queue_wait_s`` (never past
its deadline) for a place; then the target counts as overloaded for this
request and the route's next target is tried. When none is left the client
gets 503 ``overloaded`` with ``Retry-After``. This protects the in-process
local model above all, whose throughput is fixed by one GPU or CPU: a queue
that grows without bound only turns every request into a timeout.

A streamed answer keeps its place until its last chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.errors import Overloaded


@dataclass(slots=True)
class _Slots:
    limit: int
    semaphore: asyncio.Semaphore
    in_flight: int = 0
    waiting: int = 0


class Bulkheads:
    """One bounded semaphore per target."""

    def __init__(self, default_limit: int, queue_wait_s: float) -> None:
        self._default = default_limit
        self.queue_wait_s = queue_wait_s
        self._slots: dict[str, _Slots] = {}
        self.rejected: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def slot(self, target: str, limit: int | None = None, *, wait_s: float | None = None) -> AsyncIterator[None]:
        """Hold one of ``target``'s places (``limit``, else the default) while the body runs.

        Raises ``Overloaded`` (with ``Retry-After``) when no place frees up within
        ``wait_s`` (default ``queue_wait_s``).
        """
        slots = self._for(target, limit or self._default)
        if slots.semaphore.locked():  # full: wait for a place, at most queue_wait_s
            await self._wait(target, slots, self.queue_wait_s if wait_s is None else min(wait_s, self.queue_wait_s))
        else:
            await slots.semaphore.acquire()  # a free place: taken at once, no timer
        slots.in_flight += 1
        try:
            yield
        finally:
            slots.in_flight -= 1
            slots.semaphore.release()

    async def _wait(self, target: str, slots: _Slots, wait: float) -> None:
        slots.waiting += 1
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                await slots.semaphore.acquire()
        except TimeoutError:
            self.rejected[target] = self.rejected.get(target, 0) + 1
            raise Overloaded(
                f"target {target} has {slots.limit} requests in flight; no place freed up in time",
                headers={"retry-after": str(max(1, math.ceil(self.queue_wait_s)))},
            ) from None
        finally:
            slots.waiting -= 1

    def in_flight(self) -> dict[str, int]:
        return {name: s.in_flight for name, s in self._slots.items()}

    def _for(self, target: str, limit: int) -> _Slots:
        slots = self._slots.get(target)
        if slots is None or slots.limit != limit:
            # A new limit (policy reload) starts a new semaphore; calls holding the old one finish on it.
            slots = self._slots[target] = _Slots(limit, asyncio.Semaphore(limit))
        return slots
