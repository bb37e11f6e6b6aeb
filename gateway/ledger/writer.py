"""Ledger writes off the request path: the shared ``gateway.evidence.BatchWriter`` over the ledger.

``record`` never waits on the database and never drops a row: the row is in
the journal (``spool.py``, under ``var_dir``) before it is queued, written to
the database in batches, and kept on disk while the database refuses it, across
a restart or a ``kill -9`` (see ``gateway/evidence/writer.py``). A row written
twice is kept once: the ledger's primary key is the request id.
"""

from __future__ import annotations

from gateway.evidence.writer import FLUSH_INTERVAL_S, BatchWriter
from gateway.ledger.row import ledger_row
from gateway.ledger.spool import LedgerSpool, Row
from gateway.ledger.store import Database, StoreUnavailable
from gateway.record import RequestRecord

__all__ = ["FLUSH_INTERVAL_S", "LedgerWriter"]


class LedgerWriter(BatchWriter[Row, None]):
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
        counts as a failure, so the rows wait on disk instead of on it. ``flush_interval_s``: the longest
        a row waits before its batch is written (sooner when ``batch_size`` fill)."""
        super().__init__(
            "ledger",
            lambda rows: db.insert_ledger(rows),  # looked up at each call, like any attribute of ``db``
            journal=spool,
            retry_on=(StoreUnavailable,),
            batch_size=batch_size,
            max_pending=max_pending,
            write_timeout_s=write_timeout_s,
            flush_interval_s=flush_interval_s,
        )

    def observe(self, record: RequestRecord) -> None:
        """The request path's observer: ``record`` as its ledger row (``row.py``), queued."""
        self.record(ledger_row(record))
