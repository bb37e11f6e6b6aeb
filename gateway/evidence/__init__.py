"""The evidence's way to the database: one batching writer (``writer.py``) over a local journal
(``journal.py``), shared by the ledger (``gateway/ledger/writer.py``) and the audit trail
(``gateway/audit/writer.py``)."""

from gateway.evidence.journal import Codec, Journal
from gateway.evidence.writer import BatchWriter, WriteDeferred

__all__ = ["BatchWriter", "Codec", "Journal", "WriteDeferred"]
