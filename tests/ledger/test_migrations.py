"""Alembic migrations: on an empty SQLite file and an empty PostgreSQL database they
produce exactly the tables of ``gateway/ledger/schema.py``; older databases are
adopted; the ledger refuses updates and deletes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, insert, inspect, text, update
from sqlalchemy.exc import DBAPIError

from gateway.ledger import migrate
from gateway.ledger.schema import ledger, metadata
from gateway.ledger.store import Database


def _row(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "ts": datetime.now(UTC),
        "key_id": "key_1",
        "team": "payments",
        "model": "bank-standard",
        "level": "internal",
        "entity_types": "",
        "policy_version": "abc",
        "estimated_input_tokens": 1,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cached_prompt_tokens": 0,
        "cost_usd": Decimal("0.5"),
        "latency_ms": 1.0,
        "cache_status": "miss",
        "attempts": 1,
        "attempt_log": "",
        "stream": False,
        "outcome": "ok",
        "status_code": 200,
    }


@pytest.fixture
def db(database_url: str) -> Any:
    database = Database(database_url)
    yield database
    database.close()


def test_migrations_on_an_empty_database_produce_the_schema(db: Database) -> None:
    db.create_schema()
    with db.engine.connect() as conn:
        assert migrate.current(conn) == migrate.heads()
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert differences == []


def test_running_the_migrations_again_changes_nothing(db: Database) -> None:
    db.create_schema()
    db.insert_ledger([_row("r1")])
    db.create_schema()
    assert [r["request_id"] for r in db.ledger_rows()] == ["r1"]


def test_the_ledger_is_append_only(db: Database) -> None:
    db.create_schema()
    db.insert_ledger([_row("r1")])
    for statement in (update(ledger).values(cost_usd=0), delete(ledger)):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(statement)
    [row] = db.ledger_rows()
    assert row["cost_usd"] == Decimal("0.5")


def test_a_database_from_before_migrations_is_adopted(db: Database) -> None:
    """Tables made by the old ``create_all`` (the baseline schema), no alembic_version."""
    with db.engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), migrate.BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(insert(_baseline_ledger(conn)), [_row("old")])
    db.create_schema()
    with db.engine.connect() as conn:
        assert migrate.current(conn) == migrate.heads()
        assert "usage_source" in {c["name"] for c in inspect(conn).get_columns("ledger")}
    assert [r["request_id"] for r in db.ledger_rows()] == ["old"]


def _baseline_ledger(conn: Any) -> Any:
    from sqlalchemy import MetaData, Table

    return Table("ledger", MetaData(), autoload_with=conn)


def test_downgrade_and_upgrade_again(db: Database) -> None:
    db.create_schema()
    with db.engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
        assert not inspect(conn).has_table("ledger")
    db.create_schema()
    db.insert_ledger([_row("again")])
    assert [r["request_id"] for r in db.ledger_rows()] == ["again"]


def test_replicas_starting_together_migrate_once(fresh_postgres: str) -> None:
    databases = [Database(fresh_postgres) for _ in range(4)]
    errors: list[BaseException] = []

    def start(database: Database) -> None:
        try:
            database.create_schema()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        with databases[0].engine.connect() as conn:
            assert migrate.current(conn) == migrate.heads()
    finally:
        for database in databases:
            database.close()
