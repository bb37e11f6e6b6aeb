"""Ledger writes off the request path: a bounded queue drained in batches.

``record`` never waits on the database. A background task writes batches in a
thread; when the database is unreachable the batch is kept and retried with
backoff, so an accepted request is never dropped. ``close`` flushes what is
left before the process exits.

With a ``LedgerSpool`` (``spool.py``; the app always gives one, under
``var_dir``), a batch the database refuses is appended to the local spool at
once, on disk, and the spool is written into the database when it answers
again; what is still unwritten at ``close`` is spooled too, so neither a long
outage nor a restart loses a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gateway.ledger.spool import LedgerSpool
from gateway.ledger.store import Database, StoreUnavailable

log = logging.getLogger("gateway.ledger")

# Each batch costs a thread hop and a transaction whatever its size: a fifth of a second
# keeps that to five a second under any load, and bounds what a hard kill can lose.
FLUSH_INTERVAL_S = 0.2

T = TypeVar("T")


class LedgerWriter:
    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 500,
        max_pending: int = 100_000,
        spool: LedgerSpool | None = None,
        write_timeout_s: float = 15.0,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        """``write_timeout_s``: a database call that takes longer (a host that vanished without a reset)
        counts as a failure, so the rows go to the spool instead of waiting on it. ``flush_interval_s``:
        the longest a row waits in memory before its batch is written (sooner when ``batch_size`` fill)."""
        self._db = db
        self._flush_interval_s = flush_interval_s
        self._spool = spool
        self._write_timeout_s = write_timeout_s
        self._next_spool_scan = 0.0
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: list[Mapping[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = asyncio.Event()
        self._lock = asyncio.Lock()
        self.written = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def spooled(self) -> int:
        """Rows this process put in the spool that the database has not taken yet."""
        return self._spool.pending if self._spool is not None else 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ledger-writer")

    def record(self, row: Mapping[str, Any]) -> None:
        """Queue one ledger row. Never blocks; never drops."""
        if len(self._pending) >= self._max_pending:
            log.error("ledger backlog above %d rows: the database has been unreachable", self._max_pending)
        self._pending.append(row)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything queued so far (used by tests and at shutdown)."""
        while self._pending:
            await self._write_batch()
        if self._spool is not None:
            await self._bounded(self._spool.drain, self._db.insert_ledger)

    async def close(self, timeout_s: float = 10.0) -> None:
        self._closing = True
        self._closed.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                self._task.cancel()
                log.error("ledger flush timed out with %d rows unwritten", len(self._pending))
        if self._spool is not None:
            await self._spill()  # what the database did not take survives the restart
            await asyncio.to_thread(self._spool.close)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval_s)
            self._wake.clear()
            try:
                while self._pending:
                    await self._write_batch()
                await self._drain_spool()
                backoff = 0.1
            except StoreUnavailable as exc:
                self.failures += 1
                log.warning("ledger write deferred (%s); %d rows pending", exc, len(self._pending))
                await self._spill()
                if self._closing and (backoff > 2 or (self._spool is not None and not self._pending)):
                    return
                with contextlib.suppress(TimeoutError):  # close() cuts the wait short
                    await asyncio.wait_for(self._closed.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if self._closing:
                return

    async def _write_batch(self) -> None:
        async with self._lock:
            batch = self._pending[: self._batch_size]
            if not batch:
                return
            await self._bounded(self._db.insert_ledger, batch)
            del self._pending[: len(batch)]
            self.written += len(batch)

    async def _bounded(self, call: Callable[[Any], T], argument: Any) -> T:
        """``call(argument)`` in a thread, ``StoreUnavailable`` past ``write_timeout_s`` (the thread may
        still finish later: rows written twice are kept once, by request id)."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(call, argument), self._write_timeout_s)
        except TimeoutError:
            raise StoreUnavailable(f"ledger write took over {self._write_timeout_s:g} s") from None

    async def _spill(self) -> None:
        """Move the queued rows to the spool (durable) while the database refuses them."""
        if self._spool is None:
            return
        async with self._lock:
            batch = list(self._pending)
            if not batch:
                return
            try:
                await asyncio.to_thread(self._spool.append, batch)
            except OSError as exc:
                log.error("ledger spool write failed (%s); %d rows stay in memory", type(exc).__name__, len(batch))
                return
            del self._pending[: len(batch)]

    async def _drain_spool(self) -> None:
        """Write spooled rows back: this process's at once, files left by others every few seconds."""
        if self._spool is None:
            return
        now = asyncio.get_running_loop().time()
        if not self._spool.pending and now < self._next_spool_scan:
            return
        self._next_spool_scan = now + 5.0
        try:
            written = await self._bounded(self._spool.drain, self._db.insert_ledger)
        except OSError as exc:
            log.error("ledger spool unreadable (%s); will try again", type(exc).__name__)
            return
        self.written += written
