"""The evidence journal: every record on local disk from the moment it is queued until the database has it.

``BatchWriter`` (``writer.py``) appends each record here *before* it queues it
in memory (``append``: one line, one ``write`` call on a file opened with
``O_APPEND``; the operating system keeps it when the process is killed
outright, ``SIGKILL`` included), writes batches to the database, and removes a
segment once every record in it is in the database. What a process still had
queued when it died is therefore on disk, and is written by the next process
that starts on the same directory, or by any live one (``adopt``).

Files: ``<dir>/<prefix>-<pid>-<random>.jsonl`` segments, one JSON line per
record, each held under an exclusive ``flock`` while its process keeps it.
Appends go to the process's open segment; the writer ``seal``s it at each
batch (later appends go to a fresh one), so a segment is written to the
database while new records reach the disk beside it, never waiting for it. A
segment whose lock can be taken belongs to a process that is gone (a crash, a
restart, another worker): any process adopts it. A torn last line (a machine
crash mid-write) is skipped and logged; every complete line is kept.

A record may reach the database twice (a crash between the insert and the
removal of its segment): both stores keep one copy per request id (the
ledger's primary key; the audit chain skips a request id it holds).

Appends are blocking but short (a write into the page cache); everything else
(reading, syncing, removing, adopting) runs in the writer's thread.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")

log = logging.getLogger("gateway.evidence")


class Codec(Protocol[T]):
    """How one record becomes one line and back; ``decode`` raises ``ValueError`` on a line it cannot read."""

    def encode(self, item: T) -> bytes: ...

    def decode(self, line: bytes) -> T: ...


@dataclass(slots=True)
class Segment(Generic[T]):
    """Records queued together: their file (``None`` without a journal) and, while held, the records."""

    path: Path | None
    fd: int = -1  # open and flock'ed while this process keeps the segment
    count: int = 0
    done: int = 0  # records already in the database (a segment written in several batches)
    items: list[T] | None = field(default_factory=list)  # None: released from memory, read back from disk


class Journal(Generic[T]):
    """Segments of ``prefix`` records in ``directory``; see the module docstring."""

    def __init__(self, directory: Path | str, prefix: str, codec: Codec[T]) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.codec = codec
        self.adopted = 0

    def open_segment(self) -> Segment[T]:
        """A fresh segment, locked before anyone can see it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.prefix}-{os.getpid()}-{secrets.token_hex(6)}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return Segment(path, fd)

    def append(self, segment: Segment[T], item: T) -> None:
        """One record, one line, one ``write``: on disk as far as a killed process is concerned."""
        line = self.codec.encode(item) + b"\n"
        written = os.write(segment.fd, line)
        if written != len(line):  # a full disk: the record stays in memory only
            raise OSError(f"short write to {segment.path}")

    def sync(self, segment: Segment[T]) -> None:
        """Make ``segment`` survive a machine crash too (the database is refusing it)."""
        if segment.fd >= 0:
            os.fsync(segment.fd)

    def read(self, segment: Segment[T]) -> list[T]:
        """The records of a released segment, from disk."""
        assert segment.path is not None
        with open(segment.path, "rb") as handle:
            return list(self._lines(handle, segment.path))

    def remove(self, segment: Segment[T]) -> None:
        """Every record of ``segment`` is in the database: delete it, then let go of its lock."""
        if segment.path is not None:
            segment.path.unlink(missing_ok=True)
        self.release(segment)

    @staticmethod
    def release(segment: Segment[T]) -> None:
        """Close the segment's file (its lock goes with it); what it holds stays for the next process."""
        if segment.fd >= 0:
            os.close(segment.fd)
            segment.fd = -1

    def orphans(self, own: set[Path]) -> list[Path]:
        """Segments of this prefix not kept by this process (some may belong to live ones)."""
        try:
            return sorted(p for p in self.directory.glob(f"{self.prefix}-*.jsonl") if p not in own)
        except OSError:
            return []

    def adopt(self, path: Path, write: Callable[[list[T]], object], batch_size: int) -> int:
        """Write the records of a segment whose process is gone, then remove it; 0 when it is alive.

        Raises what ``write`` raises: the segment then stays for a later try."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return 0
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its process is alive and holds it
            if not path.exists():
                return 0  # adopted and removed by another process meanwhile
            items = list(self._lines(handle, path))
            for start in range(0, len(items), batch_size):
                write(items[start : start + batch_size])
            path.unlink(missing_ok=True)
        if items:
            self.adopted += len(items)
            log.warning("%s journal %s adopted: %d records written to the database", self.prefix, path.name, len(items))
        return len(items)

    def _lines(self, handle: Iterator[bytes], path: Path) -> Iterator[T]:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield self.codec.decode(line)
            except (ValueError, ArithmeticError, KeyError, TypeError, AttributeError):
                log.error("%s line %d is torn or unreadable (a crash while writing it?); skipped", path.name, number)
