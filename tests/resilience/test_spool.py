"""The ledger spool and its writer: rows the database refuses wait on disk and reach it, once, when it returns."""

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


def test_spooled_rows_reach_the_database_exactly_once(tmp_path: Path, db: Database) -> None:
    spool = LedgerSpool(tmp_path / "spool", batch_size=2)
    spool.append([_row("r1"), _row("r2"), _row("r3")])
    spool.append([_row("r4")])
    assert spool.pending == 4 and spool.has_work()
    db.insert_ledger([_row("r2")])  # already there (a lost acknowledgement): kept once
    assert spool.drain(db.insert_ledger) == 4
    assert spool.pending == 0 and not spool.has_work()
    assert _ids(db) == ["r1", "r2", "r3", "r4"]
    with db.engine.connect() as conn:
        cost = conn.execute(select(ledger.c.cost_usd).where(ledger.c.request_id == "r1")).scalar_one()
    assert Decimal(cost) == Decimal("0.0012345678")  # exact decimals survive the spool


def test_a_failed_drain_keeps_every_row_for_the_next_one(tmp_path: Path, db: Database) -> None:
    flaky = FlakyDatabase(db)
    spool = LedgerSpool(tmp_path / "spool", batch_size=1)
    spool.append([_row("a"), _row("b")])
    flaky.down = True
    with pytest.raises(StoreUnavailable):
        spool.drain(flaky.insert_ledger)
    assert spool.pending == 2
    flaky.down = False
    assert spool.drain(flaky.insert_ledger) == 2
    assert _ids(db) == ["a", "b"]


def test_a_spool_left_by_a_dead_process_is_adopted_and_a_torn_line_skipped(tmp_path: Path, db: Database) -> None:
    directory = tmp_path / "spool"
    script = (
        "import sys; from datetime import datetime, UTC; from decimal import Decimal\n"
        "from gateway.ledger.spool import LedgerSpool\n"
        "s = LedgerSpool(sys.argv[1])\n"
        "s.append([{'request_id': 'dead-1', 'ts': datetime.now(UTC), 'key_id': 'k', 'team': 't', 'model': 'm',"
        " 'level': 'internal', 'entity_types': '', 'policy_version': 'v', 'cost_usd': Decimal('0.5'),"
        " 'cache_status': 'skip', 'outcome': 'ok', 'status_code': 200, 'stream': False}])\n"
        "open(s._segments[-1].path, 'ab').write(b'{\"request_id\": \"torn')\n"
        "import os; os._exit(1)\n"  # a crash: no close()
    )
    subprocess.run([sys.executable, "-c", script, str(directory)], check=False, cwd=Path(__file__).parents[2],
                   env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    [left] = list(directory.glob("ledger-*.jsonl"))
    ours = LedgerSpool(directory)
    assert ours.has_work()
    assert ours.drain(db.insert_ledger) == 1
    assert _ids(db) == ["dead-1"] and not left.exists()


def test_a_live_process_spool_is_not_taken_by_another(tmp_path: Path, db: Database) -> None:
    one, two = LedgerSpool(tmp_path / "spool"), LedgerSpool(tmp_path / "spool")
    one.append([_row("x")])
    assert two.drain(db.insert_ledger) == 0  # one's file is locked: its process is alive
    assert one.drain(db.insert_ledger) == 1
    one.close()
    assert list((tmp_path / "spool").glob("*.jsonl")) == []


def test_appends_never_wait_for_a_database_that_hangs(tmp_path: Path, db: Database) -> None:
    spool = LedgerSpool(tmp_path / "spool")
    spool.append([_row("h1")])
    entered, release = threading.Event(), threading.Event()

    def hanging(rows: Any) -> None:
        entered.set()
        release.wait(120)
        db.insert_ledger(rows)

    drain = threading.Thread(target=spool.drain, args=(hanging,))
    drain.start()
    assert entered.wait(60)
    appended = threading.Event()

    def append() -> None:
        spool.append([_row("h2")])  # while the drain is stuck on the database
        appended.set()

    appender = threading.Thread(target=append)
    appender.start()
    # the append finishes while the drain is still held: it does not wait for the database
    assert appended.wait(60) and not release.is_set()
    appender.join()
    assert spool.drain(db.insert_ledger) == 0  # one drain at a time
    release.set()
    drain.join(5)
    assert spool.pending == 0  # the running drain took the row appended meanwhile as well
    assert _ids(db) == ["h1", "h2"]


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
