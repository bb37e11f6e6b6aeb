"""The audit trail: one hash-chained, append-only record per decision.

``record.py`` (what a record holds and how it is hashed), ``schema.py`` (its
tables), ``store.py`` (appending under a lock), ``writer.py`` (off the request
path), ``verify.py`` (the chain check), ``query.py`` (search). The design is
in ``docs/security.md``.
"""

from gateway.audit.query import AuditQuery, run_query
from gateway.audit.record import AttemptFact, AuditRecord
from gateway.audit.store import AuditCorrupted, AuditStore
from gateway.audit.verify import Problem, VerifyReport, verify
from gateway.audit.writer import AuditSpool, AuditWriter

__all__ = [
    "AttemptFact",
    "AuditCorrupted",
    "AuditQuery",
    "AuditRecord",
    "AuditSpool",
    "AuditStore",
    "AuditWriter",
    "Problem",
    "VerifyReport",
    "run_query",
    "verify",
]
