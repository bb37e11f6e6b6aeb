"""``BulkInsert`` stores exactly what SQLAlchemy's own insert stores, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.ledger.bulk import BulkInsert
from gateway.ledger.schema import ledger, metadata
from gateway.ledger.store import engine_url
from tests.reports.seed import scratch_database

ROWS: list[dict[str, Any]] = [
    {
        **{c.name: None for c in ledger.columns},
        "request_id": f"r{i}", "ts": datetime(2026, 11, 30, 23, 59, 59, 123456, tzinfo=UTC), "key_id": "k",
        "team": "payments", "model": "bank-standard", "level": "confidential", "entity_types": "PERSON",
        "policy_version": "abc", "estimated_input_tokens": 10, "prompt_tokens": 12, "completion_tokens": 3 + i,
        "cached_prompt_tokens": 0, "cost_usd": Decimal("0.0000012345"), "price_input_per_m": Decimal("0.05"),
        "latency_ms": 1.25, "cache_status": "miss", "attempts": 1, "attempt_log": "onprem:ok", "stream": bool(i % 2),
        "outcome": "ok", "status_code": 200, "api": "chat",
    }
    for i in range(3)
]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = create_engine(f"sqlite:///{tmp_path}/bulk.db")
        metadata.create_all(made)
        yield made
        made.dispose()
        return
    with scratch_database(request.getfixturevalue("postgres_url")) as url:
        made = create_engine(engine_url(url))
        metadata.create_all(made)
        yield made
        made.dispose()


def _stored(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ledger).order_by(ledger.c.request_id))]


def test_the_same_values_as_sqlalchemy_insert(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ledger), ROWS)
    expected = _stored(engine)
    with engine.begin() as conn:
        conn.execute(ledger.delete())
    with engine.begin() as conn:
        BulkInsert(ledger).insert(conn, ROWS)
    assert _stored(engine) == expected
    assert expected[0]["cost_usd"] == Decimal("0.0000012345") and expected[1]["stream"] is True


def test_a_duplicate_is_sqlalchemys_integrity_error(engine: Engine) -> None:
    bulk = BulkInsert(ledger)
    with engine.begin() as conn:
        bulk.insert(conn, ROWS[:1])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        bulk.insert(conn, ROWS[:2])
    assert [r["request_id"] for r in _stored(engine)] == ["r0"]  # all or nothing
