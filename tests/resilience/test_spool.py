"""The ledger's journal and writer: every row is on disk until the database has it, and reaches it once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.ledger.schema import ledger
from gateway.ledger.spool import LedgerSpool
from gateway.ledger.store import Database, StoreUnavailable
from gateway.ledger.writer import LedgerWriter


def _row(request_id: str, cost: str = "0.0012345678") -> dict[str, Any]:
    return {
        "request_id": request_id,
        "ts": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "key_id": "key_1",
        "team": "payments",
        "model": "bank-standard",
        "level": "internal",
        "entity_types": "",
        "policy_version": "v1",
        "cost_usd": Decimal(cost),
        "cache_status": "skip",
        "outcome": "ok",
        "status_code": 200,
        "stream": False,
    }


class FlakyDatabase:
    """A real database behind a switch: while ``down``, every write is refused as an outage would be;
    while ``hung`` is set, writes block until it is cleared (a host gone without a reset)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.down = False
        self.hung = threading.Event()
        self.released = threading.Event()
        self.writes = 0

    def insert_ledger(self, rows: Any) -> None:
        if self.hung.is_set():
            self.released.wait(10)
        if self.down:
            raise StoreUnavailable("ledger write failed: OperationalError")
        self.writes += 1
        self.db.insert_ledger(rows)


def _ids(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return [r.request_id for r in conn.execute(select(ledger.c.request_id).order_by(ledger.c.request_id))]


@pytest.fixture
def db(database_url: str) -> Any:
    database = Database(database_url)
    database.create_schema()
    yield database
    database.close()


async def test_rows_reach_the_database_exactly_once_with_exact_decimals(tmp_path: Path, db: Database) -> None:
    writer = LedgerWriter(db, spool=LedgerSpool(tmp_path / "spool"), batch_size=2)
    writer.start()
    db.insert_ledger([_row("r2")])  # already there (a lost acknowledgement): kept once
    for name in ("r1", "r2", "r3", "r4"):
        writer.record(_row(name))
    assert len(list((tmp_path / "spool").glob("ledger-*.jsonl"))) == 1  # on disk before any write
    await writer.flush()
    assert writer.pending == 0 and writer.spooled == 0 and writer.written == 4
    assert _ids(db) == ["r1", "r2", "r3", "r4"]
    with db.engine.connect() as conn:
        cost = conn.execute(select(ledger.c.cost_usd).where(ledger.c.request_id == "r1")).scalar_one()
    assert Decimal(cost) == Decimal("0.0012345678")
    await writer.close()
    assert list((tmp_path / "spool").glob("*.jsonl")) == []  # written segments are removed


def test_the_journal_keeps_exact_decimals_and_times(tmp_path: Path) -> None:
    codec = LedgerSpool(tmp_path).codec
    row = _row("d1", cost="0.0000000001")
    assert codec.decode(codec.encode(row)) == row


async def test_a_journal_left_by_a_killed_process_is_adopted_torn_line_skipped(tmp_path: Path, db: Database) -> None:
    directory = tmp_path / "spool"
    script = (
        "import sys, asyncio, os; from datetime import datetime, UTC; from decimal import Decimal\n"
        "from gateway.ledger.spool import LedgerSpool\n"
        "from gateway.ledger.writer import LedgerWriter\n"
        "async def main():\n"
        "    w = LedgerWriter(None, spool=LedgerSpool(sys.argv[1]))  # never writes: killed first\n"
        "    w.record({'request_id': 'dead-1', 'ts': datetime.now(UTC), 'key_id': 'k', 'team': 't', 'model': 'm',"
        " 'level': 'internal', 'entity_types': '', 'policy_version': 'v', 'cost_usd': Decimal('0.5'),"
        " 'cache_status': 'skip', 'outcome': 'ok', 'status_code': 200, 'stream': False})\n"
        "    open(w._open.path, 'ab').write(b'{\"request_id\": \"torn')\n"
        "    os.kill(os.getpid(), 9)\n"  # a hard kill: no close(), nothing flushed
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(directory)], check=False, cwd=Path(__file__).parents[2],
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == -9
    [left] = list(directory.glob("ledger-*.jsonl"))
    ours = LedgerWriter(db, spool=LedgerSpool(directory))
    await ours.flush()
    assert ours.adopted == 1 and _ids(db) == ["dead-1"] and not left.exists()


async def test_a_live_process_journal_is_not_taken_by_another(tmp_path: Path, db: Database) -> None:
    flaky = FlakyDatabase(db)
    flaky.down = True
    one = LedgerWriter(flaky, spool=LedgerSpool(tmp_path / "spool"))  # type: ignore[arg-type]
    two = LedgerWriter(db, spool=LedgerSpool(tmp_path / "spool"))
    one.record(_row("x"))
    with pytest.raises(StoreUnavailable):
        await one.flush()
    assert one.spooled == 1
    await two.flush()
    assert two.adopted == 0 and _ids(db) == []  # one's file is locked: its process is alive
    flaky.down = False
    await one.flush()
    await one.close()
    assert _ids(db) == ["x"] and list((tmp_path / "spool").glob("*.jsonl")) == []


async def test_records_never_wait_for_a_database_that_hangs(tmp_path: Path, db: Database) -> None:
    flaky = FlakyDatabase(db)
    flaky.hung.set()
    writer = LedgerWriter(flaky, spool=LedgerSpool(tmp_path / "spool"), write_timeout_s=5)  # type: ignore[arg-type]
    writer.record(_row("h1"))
    flush = asyncio.create_task(writer.flush())
    await asyncio.sleep(0.2)  # the flush is stuck on the database
    writer.record(_row("h2"))  # returns at once, on disk
    segments = list((tmp_path / "spool").glob("ledger-*.jsonl"))
    assert len(segments) == 2 and any(b"h2" in p.read_bytes() for p in segments)
    flaky.hung.clear()
    flaky.released.set()
    await flush
    await writer.flush()
    assert _ids(db) == ["h1", "h2"]
    await writer.close()


async def test_the_writer_spools_during_an_outage_and_drains_after(tmp_path: Path, db: Database) -> None:
    flaky = FlakyDatabase(db)
    flaky.down = True
    writer = LedgerWriter(flaky, spool=LedgerSpool(tmp_path / "spool"))  # type: ignore[arg-type]
    writer.start()
    for i in range(5):
        writer.record(_row(f"w{i}"))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if writer.spooled == 5 and writer.pending == 0:  # see the hang test below
            break
    assert writer.spooled == 5 and writer.pending == 0  # on disk, not in memory
    flaky.down = False
    for _ in range(200):
        await asyncio.sleep(0.05)
        if writer.spooled == 0:
            break
    await writer.close()
    assert _ids(db) == [f"w{i}" for i in range(5)]


async def test_rows_left_at_shutdown_survive_in_the_spool_until_the_next_start(tmp_path: Path, db: Database) -> None:
    flaky = FlakyDatabase(db)
    flaky.down = True
    first = LedgerWriter(flaky, spool=LedgerSpool(tmp_path / "spool"))  # type: ignore[arg-type]
    first.start()
    first.record(_row("s1"))
    first.record(_row("s2"))
    await first.close(timeout_s=5)
    assert _ids(db) == [] and len(list((tmp_path / "spool").glob("*.jsonl"))) == 1
    flaky.down = False
    second = LedgerWriter(flaky, spool=LedgerSpool(tmp_path / "spool"))  # type: ignore[arg-type]
    second.start()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if len(_ids(db)) == 2:
            break
    await second.close()
    assert _ids(db) == ["s1", "s2"]
    assert list((tmp_path / "spool").glob("*.jsonl")) == []


async def test_a_database_call_that_hangs_sends_the_rows_to_the_spool(tmp_path: Path, db: Database) -> None:
    flaky = FlakyDatabase(db)
    flaky.hung.set()
    writer = LedgerWriter(flaky, spool=LedgerSpool(tmp_path / "spool"), write_timeout_s=0.2)  # type: ignore[arg-type]
    writer.start()
    for i in range(3):
        writer.record(_row(f"g{i}"))
    for _ in range(100):
        await asyncio.sleep(0.02)
        # The spool counts the rows once its thread has written them; the queue lets go of them
        # when the event loop resumes after that thread: wait for both.
        if writer.spooled == 3 and writer.pending == 0:
            break
    assert writer.spooled == 3 and writer.pending == 0  # on disk while the database call hangs
    flaky.hung.clear()
    flaky.released.set()  # the stuck call finishes (and may write its batch: kept once)
    for _ in range(200):
        await asyncio.sleep(0.05)
        if writer.spooled == 0:
            break
    await writer.close()
    assert _ids(db) == ["g0", "g1", "g2"]


def test_an_audit_record_survives_its_journal_line_exactly() -> None:
    from gateway.audit.record import AttemptFact, AuditRecord
    from gateway.audit.writer import RecordCodec

    record = AuditRecord(request_id="r1", ts=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), key_id="k",
                         team="t", model="m", level="restricted", policy_version="v", outcome="ok", status_code=200,
                         entity_types=("CREDIT_CARD", "PERSON"), route="r", target="onprem", residency="on_prem",
                         attempts=(AttemptFact("ext", "external", "refused_by_invariant"),
                                   AttemptFact("onprem", "on_prem", "ok", None)))
    codec = RecordCodec()
    back = codec.decode(codec.encode(record))
    assert back == record and back.body(7, "0" * 64, "w") == record.body(7, "0" * 64, "w")  # the same hash
    with pytest.raises(ValueError):
        codec.decode(b'["r1", "too short"]')
