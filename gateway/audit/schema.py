"""The audit trail's tables, in the gateway's database (its own ``MetaData``).

``audit_log`` holds one row per record: ``body`` (the canonical JSON that is
hashed), ``hash``, and copies of a few facts as indexed columns for queries.
The copies are checked against ``body`` by ``verify``, so editing them is
detected like editing the body. ``audit_head`` has one row: the last ``seq``
and ``hash``, so that removing records from the end is detected too; its row
is also the lock that serialises appends across replicas.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("request_id", String(64), nullable=False, unique=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("team", String(128), nullable=False, index=True),
    Column("level", String(64), nullable=False),
    Column("route", String(128)),
    Column("policy_version", String(32), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("reached", String(16), nullable=False, index=True),
    Column("writer", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Columns copied from the body, for queries: (column, body key).
INDEXED = (
    ("request_id", "request_id"),
    ("team", "team"),
    ("level", "level"),
    ("route", "route"),
    ("policy_version", "policy_version"),
    ("outcome", "outcome"),
    ("reached", "reached"),
    ("writer", "writer"),
)
