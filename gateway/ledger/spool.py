"""The ledger's local spool: rows the database could not take wait here, on disk, until it can.

``LedgerWriter`` appends a batch here when the database refuses it (``append``,
one JSON line per row, flushed and fsynced before it returns), and writes the
spool into the database when it answers again (``drain``). Nothing is lost: a
row leaves the spool only after the database accepted it. Nothing is counted
twice: a row may be written more than once (a crash between the insert and
the truncation), but the ledger's primary key is the request id and
``Database.insert_ledger`` keeps the first copy.

Files: ``<dir>/ledger-<pid>-<random>.jsonl``, one per process, held under an
exclusive ``flock`` while the process lives. A file whose lock can be taken
belongs to a process that is gone (a crash, a restart, another worker): any
process drains and removes it, so rows spooled before a crash reach the
database after the next start. A torn last line (a crash mid-write) is
skipped and logged; every complete line is kept.

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


class LedgerSpool:
    """An append-only spool of ledger rows in ``directory``; see the module docstring."""

    def __init__(self, directory: Path | str, *, batch_size: int = 500) -> None:
        self.directory = Path(directory)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._rows = 0
        self.drained = 0

    @property
    def pending(self) -> int:
        """Rows this process spooled that are not yet in the database."""
        return self._rows

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ``rows`` durably (fsync) before returning."""
        if not rows:
            return
        data = b"".join(orjson.dumps(dict(row), default=_encode) + b"\n" for row in rows)
        with self._lock:
            handle = self._own()
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            self._rows += len(rows)
        log.warning("database unreachable: %d ledger rows spooled to %s", len(rows), self._path)

    def has_work(self) -> bool:
        """Whether rows wait here: this process's own, or a file left by a process that is gone."""
        return self._rows > 0 or any(p != self._path for p in self._files())

    def drain(self, write: Write) -> int:
        """Write every spooled row with ``write`` (``Database.insert_ledger``); returns how many.

        Stops at the first failure of ``write`` and raises it: what was not
        written stays spooled for the next call.
        """
        written = 0
        with self._lock:
            if self._file is not None and self._rows > 0:
                self._file.seek(0)
                written += self._write_all(self._file, write)
                self._file.seek(0)
                self._file.truncate()
                self._rows = 0
        for path in self._files():
            if path != self._path:
                written += self._adopt(path, write)
        if written:
            self.drained += written
            log.warning("ledger spool drained: %d rows written to the database", written)
        return written

    def close(self) -> None:
        """Release this process's file: removed when empty, else left for the next start to drain."""
        with self._lock:
            if self._file is None:
                return
            empty = self._rows == 0
            if empty and self._path is not None:
                self._path.unlink(missing_ok=True)
            self._file.close()
            self._file = None
            if not empty:
                log.error("%d ledger rows remain spooled in %s; they are written at the next start",
                          self._rows, self._path)

    # -- files ---------------------------------------------------------------

    def _own(self) -> IO[bytes]:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._path = self.directory / f"ledger-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
            handle = open(self._path, "a+b")  # noqa: SIM115 - held for the life of the process
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            self._file = handle
        return self._file

    def _files(self) -> list[Path]:
        try:
            return sorted(self.directory.glob("ledger-*.jsonl"))
        except OSError:
            return []

    def _adopt(self, path: Path, write: Write) -> int:
        """Drain and remove a file left by a process that is gone (its lock is free)."""
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
