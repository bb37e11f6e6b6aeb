"""Audit records written off the request path: the shared ``gateway.evidence.BatchWriter``.

``record`` never waits on the database: the record is in the journal
(``<var_dir>/audit-spool/audit-<pid>-<random>.jsonl``) before it is queued;
batches are appended to the chain, one transaction each (``AuditStore.append``).
While the database is unreachable (or the chain cannot be extended) the
records wait on disk and are retried with backoff; at shutdown, and after a
``kill -9``, what is left is appended by the next process that starts on the
same ``var_dir`` (see ``gateway/evidence/writer.py``). A record appended twice
is chained once (the store skips a request id it holds).

After each batch the chain's head (``seq``, ``hash``) is logged at DEBUG, and
at INFO once a minute: shipped to a log store, those lines are anchors that
``gateway audit verify --anchor SEQ:HASH`` can check later.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path

import orjson

from gateway.audit.record import AttemptFact, AuditRecord
from gateway.audit.store import AuditCorrupted, AuditStore, Head
from gateway.evidence.journal import Journal
from gateway.evidence.writer import FLUSH_INTERVAL_S, BatchWriter
from gateway.ledger.store import StoreUnavailable
from gateway.record import RequestRecord


class RecordCodec:
    """An audit record as one JSON line: exactly the facts it is hashed from, by position (a third of the
    time of orjson's dataclass form, paid on the request path). ``FIELDS`` names them: a record that gains a
    field must decode the lines written before it too (a journal can outlive an upgrade)."""

    FIELDS = tuple(f.name for f in dataclasses.fields(AuditRecord))
    _ATTEMPTS = FIELDS.index("attempts")

    def encode(self, item: AuditRecord) -> bytes:
        values = [getattr(item, name) for name in self.FIELDS]
        values[self._ATTEMPTS] = [(a.target, a.residency, a.outcome, a.error_code) for a in item.attempts]
        return orjson.dumps(values)

    def decode(self, line: bytes) -> AuditRecord:
        raw = orjson.loads(line)
        if not isinstance(raw, list) or len(raw) != len(self.FIELDS):
            raise ValueError("not an audit record of this version")
        fields = dict(zip(self.FIELDS, raw, strict=True))
        fields["ts"] = datetime.fromisoformat(fields["ts"])
        fields["entity_types"] = tuple(fields["entity_types"] or ())
        fields["attempts"] = tuple(AttemptFact(*a) for a in fields["attempts"] or ())
        return AuditRecord(**fields)


class AuditSpool(Journal[AuditRecord]):
    """The audit trail's journal in ``directory``."""

    def __init__(self, directory: Path | str) -> None:
        super().__init__(directory, "audit", RecordCodec())


class AuditWriter(BatchWriter[AuditRecord, Head]):
    def __init__(
        self, store: AuditStore, *, batch_size: int = 500, anchor_every_s: float = 60.0,
        flush_interval_s: float = FLUSH_INTERVAL_S, spool: AuditSpool | None = None, write_timeout_s: float = 15.0,
    ) -> None:  # fmt: skip
        super().__init__(
            "audit",
            store.append,
            journal=spool,
            retry_on=(StoreUnavailable, AuditCorrupted),
            alarm_on=(AuditCorrupted,),
            on_written=self._anchor,
            batch_size=batch_size,
            write_timeout_s=write_timeout_s,
            flush_interval_s=flush_interval_s,
        )
        self.store = store
        self._anchor_every_s = anchor_every_s
        self._last_anchor = 0.0
        self.head: Head | None = None

    def observe(self, record: RequestRecord) -> None:
        """The request path's observer: the decision's audit record, from the request's record."""
        self.record(AuditRecord.from_request(record))

    def _anchor(self, head: Head) -> None:
        self.head = head
        now = time.monotonic()
        if now - self._last_anchor >= self._anchor_every_s:
            self._last_anchor = now
            self.log.info("audit head seq=%d hash=%s", head.seq, head.hash)
        else:
            self.log.debug("audit head seq=%d hash=%s", head.seq, head.hash)
