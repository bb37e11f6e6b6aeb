"""One batching writer for the evidence (ledger rows, audit records), off the request path.

``record`` never waits on the database: it appends the record to the local
journal (``journal.py``: one ``write`` into the page cache) and queues it. A
background task seals the queue every ``flush_interval_s`` (sooner when
``batch_size`` records wait), writes it in batches through ``write`` in a
thread, and removes the segment once the database has every record of it.

When a write fails (one of ``retry_on``, or longer than ``write_timeout_s``:
a database host gone without a reset), the segment is synced to disk and let
go of in memory; it is retried with backoff, read back from disk, until the
database takes it. At ``close`` what is left stays in the journal and the
next process on the same directory writes it; a process killed outright
leaves its queue there too, and the next start (or any live process within a
few seconds) adopts it. So neither an outage, a restart nor a ``kill -9``
loses a record that was queued.

Without a journal (``journal=None``: unit tests) records are kept in memory
only, retried while the process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from gateway.evidence.journal import Journal, Segment

T = TypeVar("T")
R = TypeVar("R")

# Each batch costs a thread hop and a transaction whatever its size: a fifth of a second
# keeps that to five a second under any load.
FLUSH_INTERVAL_S = 0.2
ADOPT_EVERY_S = 5.0


class WriteDeferred(Exception):
    """A write did not finish in time; the records stay queued (``BatchWriter``)."""


class BatchWriter(Generic[T, R]):
    """Queue, journal and batched writes of one kind of record; see the module docstring."""

    def __init__(
        self,
        name: str,
        write: Callable[[Sequence[T]], R],
        *,
        journal: Journal[T] | None = None,
        retry_on: tuple[type[Exception], ...] = (),
        alarm_on: tuple[type[Exception], ...] = (),
        on_written: Callable[[R], None] | None = None,
        batch_size: int = 500,
        max_pending: int = 100_000,
        write_timeout_s: float = 15.0,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        """``write``: a blocking call that stores one batch, all or nothing, keeping one copy per record
        id; ``retry_on``: its exceptions that mean "not now" (anything else is logged and retried too);
        ``alarm_on``: those logged as CRITICAL (the evidence itself is damaged); ``on_written``: called
        with what ``write`` returned."""
        self.name = name
        self.log = logging.getLogger(f"gateway.{name}")
        self._write = write
        self._journal = journal
        self._retry_on = (*retry_on, WriteDeferred)
        self._alarm_on = alarm_on
        self._on_written = on_written
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._write_timeout_s = write_timeout_s
        self._flush_interval_s = flush_interval_s
        self._open: Segment[T] | None = None  # where record() appends
        self._sealed: list[Segment[T]] = []  # oldest first, each waiting for the database
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._lock = asyncio.Lock()  # one writing pass at a time (the task, flush())
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._next_adopt = 0.0
        self.written = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        """Records queued in memory that the database does not have yet."""
        return sum(s.count - s.done for s in self._segments() if s.items is not None)

    @property
    def spooled(self) -> int:
        """Records the database refused, waiting on disk for it (this process's)."""
        return sum(s.count - s.done for s in self._segments() if s.items is None)

    @property
    def adopted(self) -> int:
        """Records left by processes that were gone, written by this one."""
        return self._journal.adopted if self._journal is not None else 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-writer")

    def record(self, item: T) -> None:
        """Queue one record, on disk first. Never blocks on the database; never drops."""
        segment = self._open
        if segment is None:
            segment = self._open = self._new_segment()
        if segment.fd >= 0 and self._journal is not None:
            try:
                self._journal.append(segment, item)
            except OSError as exc:
                self.log.error("%s journal write failed (%s): record kept in memory only", self.name,
                               type(exc).__name__)
        assert segment.items is not None
        segment.items.append(item)
        segment.count += 1
        if segment.count >= self._batch_size:
            self._wake.set()
            if segment.count == self._max_pending:
                self.log.error("%s backlog of %d records in one batch", self.name, segment.count)

    async def flush(self) -> None:
        """Write everything queued so far, and what dead processes left (tests, shutdown).
        Raises the write's error when the database refuses."""
        await self._pass(adopt=True)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued within ``timeout_s``; what is left stays in the journal for the next start."""
        self._closing = True
        self._closed.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout_s)
            except TimeoutError:
                self._task.cancel()
        left = sum(s.count - s.done for s in self._segments())
        if self._journal is None:
            if left:
                self.log.error("%s: %d records unwritten at shutdown", self.name, left)
            return
        for segment in self._segments():
            if segment.count == segment.done:
                await asyncio.to_thread(self._journal.remove, segment)
            else:
                await asyncio.to_thread(self._journal.release, segment)
        self._open, self._sealed = None, []
        if left:
            self.log.error("%d %s records remain in %s; they are written at the next start", left, self.name,
                           self._journal.directory)

    # -- the writing pass ----------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval_s)
            self._wake.clear()
            try:
                await self._pass(adopt=False)
                backoff = 0.1
            except Exception as exc:  # noqa: BLE001 - whatever it is, the records wait and are retried
                self.failures += 1
                level = (
                    logging.CRITICAL if isinstance(exc, self._alarm_on)
                    else logging.WARNING if isinstance(exc, self._retry_on) else logging.ERROR
                )
                self.log.log(level, "%s write deferred (%s); %d records waiting", self.name, _describe(exc),
                             self.pending + self.spooled)
                if self._closing and (backoff > 2 or self._journal is not None):
                    return
                with contextlib.suppress(TimeoutError):  # close() cuts the wait short
                    await asyncio.wait_for(self._closed.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if self._closing:
                return

    async def _pass(self, *, adopt: bool) -> None:
        async with self._lock:
            if self._open is not None and self._open.count:
                self._sealed.append(self._open)  # later records go to a fresh segment
                self._open = None
            while self._sealed:
                segment = self._sealed[0]
                try:
                    await self._write_segment(segment)
                except Exception:
                    for waiting in self._sealed:
                        await self._release(waiting)
                    raise
                self._sealed.pop(0)
                if self._journal is not None:
                    await asyncio.to_thread(self._journal.remove, segment)
            await self._adopt(force=adopt)

    async def _write_segment(self, segment: Segment[T]) -> None:
        items = segment.items
        if items is None:
            assert self._journal is not None
            items = await asyncio.to_thread(self._journal.read, segment)
        while segment.done < len(items):
            batch = items[segment.done : segment.done + self._batch_size]
            result = await self._bounded(self._write, batch)
            segment.done += len(batch)
            self.written += len(batch)
            if self._on_written is not None:
                self._on_written(result)
        segment.done = segment.count  # a torn line read back from disk is not waited for

    async def _release(self, segment: Segment[T]) -> None:
        """The database refused ``segment``: keep it on disk (synced), not in memory."""
        if self._journal is None or segment.fd < 0 or segment.items is None:
            return
        try:
            await asyncio.to_thread(self._journal.sync, segment)
        except OSError as exc:
            self.log.error("%s journal sync failed (%s); records stay in memory", self.name, type(exc).__name__)
            return
        segment.items = None
        self.log.warning("%s: %d records wait in %s for the database", self.name, segment.count - segment.done,
                         segment.path)

    async def _adopt(self, *, force: bool) -> None:
        """Write segments left by processes that are gone: at once after start, then every few seconds."""
        if self._journal is None:
            return
        now = asyncio.get_running_loop().time()
        if not force and now < self._next_adopt:
            return
        self._next_adopt = now + ADOPT_EVERY_S
        own = {s.path for s in self._segments() if s.path is not None}
        for path in await asyncio.to_thread(self._journal.orphans, own):
            written = await self._bounded(self._adopt_one, path)
            self.written += written

    def _adopt_one(self, path: Path) -> int:
        assert self._journal is not None

        def write(batch: list[T]) -> None:
            result = self._write(batch)
            if self._on_written is not None:
                self._on_written(result)  # a plain attribute update: safe from the thread

        return self._journal.adopt(path, write, self._batch_size)

    async def _bounded(self, call: Callable[[T2], R2], argument: T2) -> R2:
        """``call(argument)`` in a thread, ``WriteDeferred`` past ``write_timeout_s`` (the thread may
        still finish later: records written twice are kept once, by request id)."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(call, argument), self._write_timeout_s)
        except TimeoutError:
            raise WriteDeferred(f"{self.name} write took over {self._write_timeout_s:g} s") from None

    def _new_segment(self) -> Segment[T]:
        if self._journal is not None:
            try:
                return self._journal.open_segment()
            except OSError as exc:
                self.log.error("%s journal unavailable (%s): records kept in memory only", self.name,
                               type(exc).__name__)
        return Segment(None)

    def _segments(self) -> list[Segment[T]]:
        return [*self._sealed, *([self._open] if self._open is not None else [])]


T2 = TypeVar("T2")
R2 = TypeVar("R2")


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, WriteDeferred) or exc.args else type(exc).__name__
