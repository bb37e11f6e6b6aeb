"""The database behind the ledger and keys, against SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gateway.keys import KeyStore
from gateway.ledger.store import Database, StoreUnavailable
from gateway.ledger.writer import LedgerWriter


def row(request_id: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": request_id,
        "ts": datetime.now(UTC),
        "key_id": "key_1",
        "team": "payments",
        "model": "bank-standard",
        "level": "internal",
        "entity_types": "",
        "policy_version": "abc",
        "cache_status": "miss",
        "outcome": "ok",
        "status_code": 200,
        "cost_usd": Decimal("0.0000123456"),
    }
    return base | extra


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.create_schema()
    yield database  # type: ignore[misc]
    database.close()


def test_rows_round_trip_with_exact_money(db: Database) -> None:
    db.insert_ledger([row("r1"), row("r2", cost_usd=Decimal("1.1234567890"))])
    rows = list(db.ledger_rows())
    assert [r["request_id"] for r in rows] == ["r1", "r2"]
    assert sum(r["cost_usd"] for r in rows) == Decimal("1.1234691346")


def test_a_replayed_batch_keeps_the_first_write(db: Database) -> None:
    db.insert_ledger([row("r1", outcome="ok")])
    db.insert_ledger([row("r1", outcome="changed"), row("r3")])
    rows = {r["request_id"]: r for r in db.ledger_rows()}
    assert rows["r1"]["outcome"] == "ok" and "r3" in rows


def test_time_window(db: Database) -> None:
    now = datetime.now(UTC)
    db.insert_ledger([row("old", ts=now - timedelta(days=40)), row("new", ts=now)])
    assert [r["request_id"] for r in db.ledger_rows(since=now - timedelta(days=1))] == ["new"]


def test_policy_versions_are_kept_once(db: Database) -> None:
    now = datetime.now(UTC)
    db.record_policy_version("v1", "p", "version: 1", now)
    db.record_policy_version("v1", "p", "version: 1", now)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM policy_versions").scalar() == 1


def test_keys_are_stored_as_hashes_and_revocation_is_immediate(db: Database) -> None:
    keys = KeyStore(db, cache_ttl_s=0)
    key_id, key = keys.create("payments", ["user", "finance"], ["bank-standard"])
    principal = keys.authenticate(key)
    assert principal is not None and principal.team == "payments"
    assert principal.roles == {"user", "finance"} and principal.may_use("bank-standard")
    assert not principal.may_use("bank-premium")
    with db.engine.connect() as conn:
        dump = str(conn.exec_driver_sql("SELECT * FROM api_keys").fetchall())
    assert key not in dump and key[3:] not in dump
    assert keys.revoke(key_id)
    assert keys.authenticate(key) is None
    assert not keys.revoke(key_id)


def test_unknown_role_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        KeyStore(db).create("payments", ["root"])


async def test_writer_keeps_rows_while_the_database_is_down(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = LedgerWriter(db, batch_size=2)
    writer.start()
    real_insert = db.insert_ledger
    down = True

    def flaky(rows: Any) -> None:
        if down:
            raise StoreUnavailable("ledger write failed: OperationalError")
        real_insert(rows)

    monkeypatch.setattr(db, "insert_ledger", flaky)
    for i in range(5):
        writer.record(row(f"r{i}"))
    await asyncio.sleep(0.3)
    assert writer.pending == 5 and writer.failures >= 1
    down = False
    await writer.close()
    assert writer.pending == 0
    assert sorted(r["request_id"] for r in db.ledger_rows()) == [f"r{i}" for i in range(5)]


def test_money_sums_are_exact_on_both_databases(db: Database) -> None:
    """SQLite keeps money as floats: a naive SUM drifts; ``team_spend`` must not."""
    now = datetime.now(UTC)
    amounts = [Decimal("0.1000000001"), Decimal("0.2000000002"), Decimal("12345.6789012345")] * 40
    db.insert_ledger([row(f"m{i}", cost_usd=a, ts=now) for i, a in enumerate(amounts)])
    db.insert_ledger([row("other", team="research", cost_usd=Decimal(5), ts=now)])
    spent = db.team_spend("payments", now - timedelta(days=1), now + timedelta(days=1))
    assert spent == sum(amounts) == Decimal("493839.1560493920")
    assert db.team_spend("nobody", now - timedelta(days=1), now + timedelta(days=1)) == 0


def test_a_batch_of_rows_of_different_shapes_is_stored_whole(db: Database) -> None:
    """A refused request has no prices; an answered one has: one batch holds both."""
    db.insert_ledger([row("refused"), row("answered", price_input_per_m=Decimal("0.15"), usage_source="upstream")])
    db.insert_ledger([row("answered2", usage_source="counted"), row("bare", not_a_column="x")])
    rows = {r["request_id"]: r for r in db.ledger_rows()}
    assert rows["answered"]["price_input_per_m"] == Decimal("0.15") and rows["refused"]["price_input_per_m"] is None
    assert rows["answered2"]["usage_source"] == "counted" and rows["bare"]["attempts"] == 0


def _prepare(url: str, start_at: float) -> str:
    import time

    from gateway.audit.store import AuditStore

    db = Database(url)
    time.sleep(max(0.0, start_at - time.time()))  # every process imported: all start at once
    try:
        db.create_schema()
        AuditStore(db.engine).create_schema()
        return "ok"
    except StoreUnavailable as exc:
        return str(exc)
    finally:
        db.engine.dispose()


def test_workers_started_together_prepare_one_sqlite_file(tmp_path: Any) -> None:
    """`gateway serve --workers N` on SQLite: N processes migrate and create the audit tables at
    the same moment; a transaction that read before another committed is refused by SQLite at
    once, and the driver reads and creates tables outside transactions (two processes could
    each record a schema version), so each must wait its turn instead of failing its start."""
    import multiprocessing
    import time

    for attempt in range(3):
        url = f"sqlite:///{tmp_path}/fresh-{attempt}.db"
        start_at = time.time() + 4
        with multiprocessing.get_context("spawn").Pool(8) as pool:
            outcomes = pool.starmap(_prepare, [(url, start_at)] * 8)
        assert outcomes == ["ok"] * 8, (attempt, outcomes)
    from gateway.audit.store import AuditStore

    db = Database(url)
    head = AuditStore(db.engine).head()
    assert head is not None and head.seq == 0
