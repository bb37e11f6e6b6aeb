"""Audit records written off the request path: a queue drained in batches.

``record`` never waits on the database. A background task appends batches in
a thread; while the database is unreachable (or the chain cannot be
extended) the records stay queued and are retried with backoff, so a
decision's record is never dropped while the process lives. ``close`` flushes
what is left. After each batch the chain's head (``seq``, ``hash``) is logged
at DEBUG, and at INFO once a minute: shipped to a log store, those lines are
anchors that ``gateway audit verify --anchor SEQ:HASH`` can check later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.audit.record import AuditRecord
from gateway.audit.store import AuditCorrupted, AuditStore, Head
from gateway.ledger.store import StoreUnavailable
from gateway.ledger.writer import FLUSH_INTERVAL_S

log = logging.getLogger("gateway.audit")


class AuditWriter:
    def __init__(
        self, store: AuditStore, *, batch_size: int = 500, anchor_every_s: float = 60.0,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:  # fmt: skip
        self.store = store
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._anchor_every_s = anchor_every_s
        self._pending: list[AuditRecord] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_anchor = 0.0
        self.written = 0
        self.failures = 0
        self.head: Head | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    def record(self, record: AuditRecord) -> None:
        """Queue one record. Never blocks."""
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def observe(self, row: Mapping[str, Any], attempts: Sequence[Any]) -> None:
        """``ChatService`` observer: the decision's record, from its ledger row and attempts."""
        self.record(AuditRecord.from_decision(row, attempts))

    async def flush(self) -> None:
        """Write everything queued so far (tests, shutdown)."""
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
                log.error("audit flush timed out with %d records unwritten", len(self._pending))

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval_s)
            self._wake.clear()
            try:
                while self._pending:
                    await self._write_batch()
                backoff = 0.1
            except (StoreUnavailable, AuditCorrupted) as exc:
                self.failures += 1
                level = logging.CRITICAL if isinstance(exc, AuditCorrupted) else logging.WARNING
                log.log(level, "audit write deferred (%s); %d records pending", exc, len(self._pending))
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
            head = await asyncio.to_thread(self.store.append, batch)
            del self._pending[: len(batch)]
            self.written += len(batch)
            self.head = head
        now = time.monotonic()
        if now - self._last_anchor >= self._anchor_every_s:
            self._last_anchor = now
            log.info("audit head seq=%d hash=%s", head.seq, head.hash)
        else:
            log.debug("audit head seq=%d hash=%s", head.seq, head.hash)
