"""Ledger writes off the request path: a bounded queue drained in batches.

``record`` never waits on the database. A background task writes batches in a
thread; when the database is unreachable the batch is kept and retried with
backoff, so an accepted request is never dropped. ``close`` flushes what is
left before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from gateway.ledger.store import Database, StoreUnavailable

log = logging.getLogger("gateway.ledger")


class LedgerWriter:
    def __init__(self, db: Database, *, batch_size: int = 200, max_pending: int = 100_000) -> None:
        self._db = db
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: list[Mapping[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._lock = asyncio.Lock()
        self.written = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

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

    async def close(self, timeout_s: float = 10.0) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                self._task.cancel()
                log.error("ledger flush timed out with %d rows unwritten", len(self._pending))

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.05)
            self._wake.clear()
            try:
                while self._pending:
                    await self._write_batch()
                backoff = 0.1
            except StoreUnavailable as exc:
                self.failures += 1
                log.warning("ledger write deferred (%s); %d rows pending", exc, len(self._pending))
                if self._closing and backoff > 2:
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if self._closing:
                return

    async def _write_batch(self) -> None:
        async with self._lock:
            batch = self._pending[: self._batch_size]
            if not batch:
                return
            await asyncio.to_thread(self._db.insert_ledger, batch)
            del self._pending[: len(batch)]
            self.written += len(batch)
