"""Audit fixtures: a store on SQLite and on a real PostgreSQL, records, and a way to tamper."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from gateway.audit import AttemptFact, AuditRecord, AuditStore
from gateway.ledger.store import Database

DAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_record(n: int, *, level: str = "internal", residency: str = "on_prem", outcome: str = "ok",
                team: str = "payments", ts: datetime | None = None, entities: tuple[str, ...] = (),
                policy_version: str = "v1") -> AuditRecord:
    target = "gpt" if residency == "external" else "onprem"
    return AuditRecord(
        request_id=f"req{n:04d}",
        ts=ts or DAY + timedelta(minutes=n),
        key_id="key_abc",
        team=team,
        model="bank-standard",
        level=level,
        policy_version=policy_version,
        outcome=outcome,
        status_code=200 if outcome == "ok" else 503,
        entity_types=entities,
        route="default",
        target=target if outcome == "ok" else None,
        residency=residency if outcome == "ok" else None,
        attempts=(AttemptFact(target, residency, "ok"),) if outcome == "ok" else (),
    )


@pytest.fixture
def store(database_url: str) -> Iterator[AuditStore]:
    db = Database(database_url)
    audit = AuditStore(db.engine, writer="test")
    audit.create_schema()
    yield audit
    db.close()


def unlock(engine: Engine) -> None:
    """What an attacker with DDL rights does first: lift the append-only triggers."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)
