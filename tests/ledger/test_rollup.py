"""The daily rollup (PostgreSQL): every report read from it equals the same report read from the ledger,
whatever inserted the rows (batches, retried batches with rows already there, one by one)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.ledger.schema import ledger_daily
from gateway.ledger.store import Database
from gateway.reports.query import DIMENSIONS, ReportQuery, build_report

START = datetime(2026, 10, 30, tzinfo=UTC)


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        refused = rng.random() < 0.1
        hit = not refused and rng.random() < 0.15
        reference = None if refused or rng.random() < 0.3 else Decimal(rng.randint(1, 10**6)) / 10**8
        rows.append({
            "request_id": f"s{seed}-{i}", "ts": START + timedelta(minutes=rng.randint(0, 60 * 24 * 5)),
            "key_id": f"key{rng.randint(1, 4)}", "team": rng.choice(["payments", "research", "ops"]),
            "model": rng.choice(["bank-standard", "bank-premium"]), "level": rng.choice(["internal", "restricted"]),
            "entity_types": "", "policy_version": "v1", "route": None if refused else rng.choice(["a", "b"]),
            "target": None if refused else rng.choice(["onprem", "gpt"]),
            "residency": None if refused else rng.choice(["on_prem", "external"]),
            "prompt_tokens": rng.randint(0, 900), "completion_tokens": rng.randint(0, 300),
            "cached_prompt_tokens": rng.randint(0, 50), "cost_usd": Decimal(rng.randint(0, 10**6)) / 10**10,
            "reference_cost_usd": reference, "cache_saved_usd": Decimal("0.0000001234") if hit else None,
            "cache_status": "hit" if hit else "miss", "outcome": "policy_denied" if refused else "ok",
            "status_code": 403 if refused else 200,
        })  # fmt: skip
    return rows


@pytest.fixture
def db(fresh_postgres: str) -> Iterator[Database]:
    database = Database(fresh_postgres)
    database.create_schema()
    yield database
    database.close()


def test_reports_from_the_rollup_equal_reports_from_the_ledger(db: Database) -> None:
    first = _rows(400, seed=1)
    db.insert_ledger(first[:300])
    db.insert_ledger(first[250:])  # a retried batch: 50 rows already there are kept once, counted once
    db.insert_ledger(_rows(200, seed=2))
    with db.engine.connect() as conn:
        assert conn.execute(select(func.sum(ledger_daily.c.requests))).scalar() == 600
    windows = [(None, None), ("2026-10-31", "2026-11-02"), ("2026-11-01", None)]
    groupings = [(), *((d,) for d in DIMENSIONS if d != "key"), ("day", "route"), ("team", "month", "residency")]
    for (start, end), group_by in itertools.product(windows, groupings):
        query = ReportQuery.parse(start, end, list(group_by))
        from_rollup, from_ledger = build_report(db, query), build_report(db, query, source="ledger")
        assert from_rollup.to_json() == from_ledger.to_json(), (start, end, group_by)
        assert from_rollup.rows, (start, end, group_by)


def test_a_window_within_a_day_or_by_key_reads_the_ledger(db: Database) -> None:
    db.insert_ledger(_rows(100, seed=3))
    with db.engine.begin() as conn:  # were the rollup read, these reports would be empty
        conn.execute(ledger_daily.delete())
    partial = ReportQuery.parse("2026-10-31T06:00:00", "2026-11-01", ["team"])
    assert build_report(db, partial).rows
    assert build_report(db, ReportQuery.parse(None, None, ["key"])).rows
    assert not build_report(db, ReportQuery.parse(None, None, ["team"])).rows
