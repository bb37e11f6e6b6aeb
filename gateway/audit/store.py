"""Appending to and reading the audit trail: one chain, appends serialised by a row lock.

Every replica appends to the same chain. ``append`` runs one transaction per
batch: it first updates the ``audit_head`` row (PostgreSQL takes that row's
lock; SQLite takes the database's write lock), so appends from all replicas
happen one after another; it then reads the head, numbers and links the
batch after it, inserts the rows and moves the head. A batch is all or
nothing. A record whose request id is already stored (a batch retried after a
lost commit acknowledgement) is skipped, not chained twice.

The tables are append-only in the database too: triggers refuse UPDATE,
DELETE (and TRUNCATE on PostgreSQL) on ``audit_log``. Someone who can drop the
triggers can still edit rows; ``verify`` is what detects that.

Blocking calls: the async side reaches them through ``asyncio.to_thread``.
SQLAlchemy errors become ``StoreUnavailable`` here, once.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.audit.record import GENESIS, AuditRecord, digest
from gateway.audit.schema import audit_head, audit_log, metadata
from gateway.ledger.bulk import BulkInsert
from gateway.ledger.store import StoreUnavailable, while_sqlite_is_locked

_PG_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
)
_AUDIT_INSERT = BulkInsert(audit_log)
_SCHEMA_LOCK = 0x6761_7564  # pg_advisory_xact_lock key: replicas preparing the schema at once


class AuditCorrupted(Exception):
    """The chain cannot be extended: its head row is missing. Run ``gateway audit verify``."""


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One row as stored: ``body`` is the hashed canonical JSON."""

    seq: int
    body: str
    hash: str
    columns: dict[str, Any]


def writer_id() -> str:
    """Names the process that appended a record (host, pid, random): for investigations."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(3)}"


class AuditStore:
    """The audit tables on ``engine`` (the gateway's database)."""

    def __init__(self, engine: Engine, writer: str | None = None) -> None:
        self.engine = engine
        self.writer = writer or writer_id()

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def create_schema(self) -> None:
        """Tables, the head row and the append-only triggers; safe to run from many replicas at once."""
        try:
            while_sqlite_is_locked(self.engine, self._create_schema)
        except IntegrityError:
            return  # another replica created the head first
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot prepare the audit tables: {type(exc).__name__}") from None

    def _create_schema(self) -> None:
        with self.engine.begin() as conn:
            if self._postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            metadata.create_all(conn)
            for statement in _PG_TRIGGERS if self._postgres else _SQLITE_TRIGGERS:
                conn.exec_driver_sql(statement)
            if conn.execute(select(audit_head.c.id)).first() is None:
                conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS, updated_at=datetime.now(UTC)))

    def append(self, records: Sequence[AuditRecord]) -> Head:
        """Chain ``records`` after the current head, atomically; returns the new head."""
        try:
            with self.engine.begin() as conn:
                locked = conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq))
                if locked.rowcount != 1:
                    raise AuditCorrupted("the audit chain's head row is missing")
                seq, prev = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
                ids = [r.request_id for r in records]
                stored = set(
                    conn.execute(select(audit_log.c.request_id).where(audit_log.c.request_id.in_(ids))).scalars()
                )
                rows = []
                for record in records:
                    if record.request_id in stored:
                        continue
                    stored.add(record.request_id)
                    seq += 1
                    body = record.body(seq, prev, self.writer)
                    prev = digest(body)
                    rows.append(_columns(record, seq, body.decode(), prev, self.writer))
                if rows:
                    _AUDIT_INSERT.insert(conn, rows)
                    conn.execute(
                        update(audit_head)
                        .where(audit_head.c.id == 1)
                        .values(seq=seq, hash=prev, updated_at=datetime.now(UTC))
                    )
                return Head(seq, prev)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"audit write failed: {type(exc).__name__}") from None

    def head(self) -> Head | None:
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"audit read failed: {type(exc).__name__}") from None
        return Head(int(row[0]), str(row[1])) if row is not None else None

    def records(self, where: Sequence[Any] = ()) -> Iterator[StoredRecord]:
        """Stored records in chain order (by ``seq``), streamed; ``where``: SQLAlchemy conditions."""
        query = select(audit_log).order_by(audit_log.c.seq)
        for condition in where:
            query = query.where(condition)
        try:
            with self.engine.connect() as conn:
                for row in conn.execution_options(yield_per=1000).execute(query):
                    columns = {str(k): v for k, v in row._mapping.items()}
                    yield StoredRecord(int(columns["seq"]), str(columns["body"]), str(columns["hash"]), columns)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"audit read failed: {type(exc).__name__}") from None


def _columns(record: AuditRecord, seq: int, body: str, hash_: str, writer: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "request_id": record.request_id,
        "ts": record.ts,
        "team": record.team,
        "level": record.level,
        "route": record.route,
        "policy_version": record.policy_version,
        "outcome": record.outcome,
        "reached": record.reached,
        "writer": writer,
        "body": body,
        "hash": hash_,
    }
