"""The hash chain: intact chains verify; every kind of tampering is reported."""

from __future__ import annotations

import threading

import orjson
import pytest
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit import AuditStore, verify
from gateway.audit.record import GENESIS, digest
from gateway.ledger.store import Database
from tests.audit.conftest import make_record, sql, unlock


def test_an_intact_chain_verifies(store: AuditStore) -> None:
    assert verify(store).ok  # empty
    store.append([make_record(i) for i in range(1, 6)])
    head = store.append([make_record(i) for i in range(6, 9)])
    report = verify(store)
    assert report.ok, report.problems
    assert (report.records, report.head_seq, report.head_hash) == (8, 8, head.hash)
    first = next(store.records())
    body = orjson.loads(first.body)
    assert body["prev"] == GENESIS and body["seq"] == 1 and digest(first.body.encode()) == first.hash


def test_a_retried_batch_is_not_chained_twice(store: AuditStore) -> None:
    batch = [make_record(i) for i in range(1, 4)]
    store.append(batch)
    head = store.append([*batch, make_record(4)])
    assert head.seq == 4
    assert verify(store).ok


def test_the_database_refuses_update_and_delete(store: AuditStore) -> None:
    store.append([make_record(1)])
    with pytest.raises(SQLAlchemyError):
        sql(store.engine, "UPDATE audit_log SET level = 'public'")
    with pytest.raises(SQLAlchemyError):
        sql(store.engine, "DELETE FROM audit_log")
    assert verify(store).ok


def _kinds(store: AuditStore) -> set[str]:
    report = verify(store)
    assert not report.ok
    return {p.kind for p in report.problems}


@pytest.fixture
def tampered(store: AuditStore) -> AuditStore:
    store.append([make_record(i, level="restricted" if i == 3 else "internal") for i in range(1, 7)])
    unlock(store.engine)
    return store


def test_editing_a_record_is_reported(tampered: AuditStore) -> None:
    row = next(r for r in tampered.records() if r.seq == 3)
    edited = row.body.replace('"level":"restricted"', '"level":"public"')
    sql(tampered.engine, "UPDATE audit_log SET body = :b WHERE seq = 3", b=edited)
    assert _kinds(tampered) >= {"edited"}


def test_editing_a_record_and_its_hash_breaks_the_next_link(tampered: AuditStore) -> None:
    row = next(r for r in tampered.records() if r.seq == 3)
    edited = row.body.replace('"level":"restricted"', '"level":"public"')
    sql(tampered.engine, "UPDATE audit_log SET body = :b, hash = :h, level = 'public' WHERE seq = 3",
        b=edited, h=digest(edited.encode()))
    report = verify(tampered)
    assert [(p.seq, p.kind) for p in report.problems] == [(4, "broken_link")]


def test_editing_an_indexed_column_is_reported(tampered: AuditStore) -> None:
    sql(tampered.engine, "UPDATE audit_log SET reached = 'none' WHERE seq = 2")
    assert _kinds(tampered) == {"column_edited"}


def test_deleting_a_record_is_reported(tampered: AuditStore) -> None:
    sql(tampered.engine, "DELETE FROM audit_log WHERE seq = 3")
    assert _kinds(tampered) >= {"missing", "broken_link"}


def test_deleting_the_last_records_is_reported(tampered: AuditStore) -> None:
    sql(tampered.engine, "DELETE FROM audit_log WHERE seq >= 5")
    assert _kinds(tampered) == {"head"}


def test_deleting_everything_is_reported(tampered: AuditStore) -> None:
    sql(tampered.engine, "DELETE FROM audit_log")
    assert _kinds(tampered) == {"head"}


def test_reordering_records_is_reported(tampered: AuditStore) -> None:
    sql(tampered.engine, "UPDATE audit_log SET seq = -1 WHERE seq = 2")
    sql(tampered.engine, "UPDATE audit_log SET seq = 2 WHERE seq = 4")
    sql(tampered.engine, "UPDATE audit_log SET seq = 4 WHERE seq = -1")
    assert _kinds(tampered) >= {"moved", "broken_link"}


def test_a_consistently_rewritten_chain_is_caught_by_an_anchor(tampered: AuditStore) -> None:
    anchor = (tampered.head().seq, tampered.head().hash)  # type: ignore[union-attr]
    # Rewrite the whole tail from seq 3 on, recomputing every hash and the head.
    sql(tampered.engine, "DELETE FROM audit_log WHERE seq >= 3")
    prev = next(r for r in tampered.records() if r.seq == 2).hash
    sql(tampered.engine, "UPDATE audit_head SET seq = 2, hash = :h", h=prev)
    tampered.append([make_record(i) for i in range(3, 7)])
    assert verify(tampered).ok  # without an anchor a full rewrite is consistent...
    report = verify(tampered, [anchor])
    assert [p.kind for p in report.problems] == ["anchor"]  # ...with one it is not


def test_a_missing_head_is_reported_and_stops_appends(tampered: AuditStore) -> None:
    sql(tampered.engine, "DELETE FROM audit_head")
    assert _kinds(tampered) == {"head"}
    from gateway.audit import AuditCorrupted

    with pytest.raises(AuditCorrupted):
        tampered.append([make_record(99)])


def test_replicas_appending_at_once_keep_one_intact_chain(fresh_postgres: str) -> None:
    """Two processes' worth of stores (separate engines) append concurrently to one PostgreSQL."""
    dbs = [Database(fresh_postgres) for _ in range(2)]
    stores = [AuditStore(db.engine, writer=f"replica-{i}") for i, db in enumerate(dbs)]
    for s in stores:
        s.create_schema()
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            for batch in range(10):
                stores[index].append([make_record(index * 1000 + batch * 10 + i) for i in range(5)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = verify(stores[0])
    assert report.ok, report.problems
    assert report.records == report.head_seq == 100
    assert {orjson.loads(r.body)["writer"] for r in stores[0].records()} == {"replica-0", "replica-1"}
    for db in dbs:
        db.close()
