"""The ledger's local spool: rows the database could not take wait here, on disk, until it can.

``LedgerWriter`` appends a batch here when the database refuses it (``append``,
one JSON line per row, flushed and fsynced before it returns), and writes the
spool into the database when it answers again (``drain``). Nothing is lost: a
row leaves the spool only after the database accepted it. Nothing is counted
twice: a row may be written more than once (a crash between the insert and
the removal of its file), but the ledger's primary key is the request id and
``Database.insert_ledger`` keeps the first copy.

Files: ``<dir>/ledger-<pid>-<random>.jsonl`` segments, each held under an
exclusive ``flock`` while its process lives. Appends go to the process's
newest segment; ``drain`` first starts a new segment, then writes the older
ones to the database and removes each once it is written. So an append never
waits for the database (a database that hangs cannot stop rows reaching the
disk), and a segment is either whole on disk or gone. A segment whose lock can
be taken belongs to a process that is gone (a crash, a restart, another
worker): any process drains and removes it, so rows spooled before a crash
reach the database after the next start. A torn last line (a crash
mid-write) is skipped and logged; every complete line is kept.

Calls are blocking (file and database I/O): call them through
``asyncio.to_thread``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import DateTime, Numeric

from gateway.ledger.schema import ledger

log = logging.getLogger("gateway.ledger")

Write = Callable[[Sequence[Mapping[str, Any]]], None]

_DATETIME = frozenset(c.name for c in ledger.columns if isinstance(c.type, DateTime))
_DECIMAL = frozenset(c.name for c in ledger.columns if isinstance(c.type, Numeric))


@dataclass(slots=True)
class _Segment:
    path: Path
    handle: IO[bytes]  # open and flock'ed for as long as this process keeps the segment
    rows: int = 0


class LedgerSpool:
    """An append-only spool of ledger rows in ``directory``; see the module docstring."""

    def __init__(self, directory: Path | str, *, batch_size: int = 500) -> None:
        self.directory = Path(directory)
        self._batch_size = batch_size
        self._lock = threading.Lock()  # guards the segments list and appends: never held across a write
        self._draining = threading.Lock()  # one drain at a time
        self._segments: list[_Segment] = []  # this process's, oldest first; appends go to the last
        self.drained = 0

    @property
    def pending(self) -> int:
        """Rows this process spooled that are not yet in the database."""
        with self._lock:
            return sum(s.rows for s in self._segments)

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ``rows`` durably (fsync) before returning."""
        if not rows:
            return
        data = b"".join(orjson.dumps(dict(row), default=_encode) + b"\n" for row in rows)
        with self._lock:
            segment = self._segments[-1] if self._segments else self._new_segment()
            segment.handle.write(data)
            segment.handle.flush()
            os.fsync(segment.handle.fileno())
            segment.rows += len(rows)
        log.warning("database unreachable: %d ledger rows spooled to %s", len(rows), segment.path)

    def has_work(self) -> bool:
        """Whether rows wait here: this process's own, or a segment left by a process that is gone."""
        if self.pending:
            return True
        with self._lock:
            own = {s.path for s in self._segments}
        return any(p not in own for p in self._files())

    def drain(self, write: Write) -> int:
        """Write every spooled row with ``write`` (``Database.insert_ledger``); returns how many.

        Stops at the first failure of ``write`` and raises it: what was not
        written stays spooled for the next call. Returns 0 at once when another
        drain is still running (say, stuck on a database that does not answer).
        """
        if not self._draining.acquire(blocking=False):
            return 0
        try:
            written = self._drain_own(write)
            with self._lock:
                own = {s.path for s in self._segments}
            for path in self._files():
                if path not in own:
                    written += self._adopt(path, write)
        finally:
            self._draining.release()
        if written:
            self.drained += written
            log.warning("ledger spool drained: %d rows written to the database", written)
        return written

    def close(self) -> None:
        """Release this process's segments: empty ones are removed, others left for the next start."""
        with self._lock:
            segments, self._segments = self._segments, []
        left = 0
        for segment in segments:
            if segment.rows == 0:
                segment.path.unlink(missing_ok=True)
            left += segment.rows
            segment.handle.close()
        if left:
            log.error("%d ledger rows remain spooled in %s; they are written at the next start", left, self.directory)

    # -- segments --------------------------------------------------------------

    def _new_segment(self) -> _Segment:
        """Start a segment (call with ``_lock`` held): locked before anyone can see it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"ledger-{os.getpid()}-{secrets.token_hex(6)}.jsonl"
        handle = open(path, "a+b")  # noqa: SIM115 - held while this process keeps the segment
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        segment = _Segment(path, handle)
        self._segments.append(segment)
        return segment

    def _drain_own(self, write: Write) -> int:
        """Write this process's segments, oldest first. The newest is first set aside (appends move to a
        fresh one) only once the older ones are written, so an outage leaves at most two segments."""
        written = 0
        while True:
            with self._lock:
                if not self._segments or (len(self._segments) == 1 and self._segments[0].rows == 0):
                    return written
                segment = self._segments[0]
                if len(self._segments) == 1:
                    self._new_segment()  # later appends go there, not into what is being drained
            if segment.rows:
                segment.handle.seek(0)
                written += self._write_all(segment.handle, write)  # no lock held: appends go on
            with self._lock:
                self._segments.remove(segment)
            segment.path.unlink(missing_ok=True)
            segment.handle.close()

    def _files(self) -> list[Path]:
        try:
            return sorted(self.directory.glob("ledger-*.jsonl"))
        except OSError:
            return []

    def _adopt(self, path: Path, write: Write) -> int:
        """Drain and remove a segment left by a process that is gone (its lock is free)."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return 0
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its process is alive and holds it
            written = self._write_all(handle, write)
            path.unlink(missing_ok=True)
        return written

    def _write_all(self, handle: IO[bytes], write: Write) -> int:
        written = 0
        batch: list[dict[str, Any]] = []
        for row in _rows(handle):
            batch.append(row)
            if len(batch) >= self._batch_size:
                write(batch)
                written += len(batch)
                batch = []
        if batch:
            write(batch)
            written += len(batch)
        return written


def _rows(handle: IO[bytes]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            row = _decode(orjson.loads(line))
        except (orjson.JSONDecodeError, ValueError, ArithmeticError, AttributeError):
            log.error("ledger spool line %d is torn or unreadable (a crash while writing it?); skipped", number)
            continue
        yield row


def _encode(value: Any) -> Any:
    return str(value)  # Decimal, and anything else a row may carry: never refuse to spool a row


def _decode(raw: dict[str, Any]) -> dict[str, Any]:
    row = dict(raw)
    for name in _DATETIME.intersection(row):
        if isinstance(row[name], str):
            row[name] = datetime.fromisoformat(row[name])
    for name in _DECIMAL.intersection(row):
        if row[name] is not None:
            row[name] = Decimal(str(row[name]))
    return row
