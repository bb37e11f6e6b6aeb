"""The database behind the ledger, keys and policy versions.

SQLite (the embedded default) or PostgreSQL, through SQLAlchemy Core. Calls
here are blocking; the async side reaches them through ``asyncio.to_thread``
(see ``writer.py``). SQLAlchemy errors are translated here, once, into
``StoreUnavailable``. The schema is Alembic's (``migrate.py``): ``create_schema``
upgrades the database to the newest migration.

Money sums (``money_sum``) are exact on both databases: PostgreSQL adds
``NUMERIC`` values exactly; SQLite keeps them as 8-byte floats (exact to the
stored ten places for any one request's cost), so there each value is scaled
to an integer of 1e-10 USD before it is added, and the sum is scaled back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Engine, cast, create_engine, event, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from gateway.ledger import migrate
from gateway.ledger.bulk import BulkInsert
from gateway.ledger.schema import LedgerRow, ledger, policy_versions

MONEY_PLACES = Decimal("1e-10")
_MONEY_SCALE = 10**10
_LEDGER_COLUMNS: Mapping[str, Any] = MappingProxyType(
    {c.name: c.default.arg if c.default is not None and c.default.is_scalar else None for c in ledger.columns}
)
_LEDGER_INSERT = BulkInsert(ledger)
log = logging.getLogger("gateway.ledger")


class StoreUnavailable(Exception):
    """The database could not be reached or refused a write."""


def engine_url(url: str) -> str:
    """Normalise a ``DATABASE_URL``: plain ``postgresql://`` means psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """One engine per process; create it at start-up and share it."""

    def __init__(self, url: str) -> None:
        self.url = engine_url(url)
        if self.url.startswith("sqlite:///") and not self.url.startswith("sqlite:///:memory:"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A network database's pooled connection may have died since its last use; SQLite's cannot.
        kwargs: dict[str, Any] = {"pool_pre_ping": not self.url.startswith("sqlite")}
        if self.url.startswith("postgresql"):
            # A database host that drops packets without a reset must not hang a
            # writer for minutes: TCP keepalives and a user timeout bound it.
            kwargs["connect_args"] = {
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "tcp_user_timeout": 30_000,
            }
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_schema(self) -> None:
        """Upgrade the database to the newest migration (creating it when empty)."""
        try:
            while_sqlite_is_locked(self.engine, lambda: migrate.upgrade(self.engine))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot prepare the database schema: {type(exc).__name__}") from None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def team_spend(self, team: str, since: datetime, until: datetime) -> Decimal:
        """The team's recorded cost in ``[since, until)``, exact."""
        query = select(money_sum(ledger.c.cost_usd, self.dialect)).where(
            ledger.c.team == team, ledger.c.ts >= since, ledger.c.ts < until
        )
        try:
            with self.engine.connect() as conn:
                total = conn.execute(query).scalar()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"ledger read failed: {type(exc).__name__}") from None
        return money_value(total, self.dialect)

    def insert_ledger(self, rows: Sequence[LedgerRow]) -> None:
        """Append rows; a row already present (same request id) is kept as it was.

        Rows may name only some columns (a refused request has no prices): each is
        completed with the columns' defaults, because one batched ``INSERT`` takes
        its columns from the first row and would otherwise fail, or drop values.
        """
        if not rows:
            return
        complete = [_complete(row) for row in rows]
        try:
            with self.engine.begin() as conn:
                _LEDGER_INSERT.insert(conn, complete)
        except IntegrityError:
            # A retried batch after a lost commit acknowledgement: insert one by one.
            for row in complete:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(ledger), [row])
                except IntegrityError:
                    continue
                except SQLAlchemyError as exc:
                    raise StoreUnavailable(f"ledger write failed: {type(exc).__name__}") from None
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"ledger write failed: {type(exc).__name__}") from None

    def record_policy_version(self, version: str, name: str, source: str, now: datetime) -> None:
        try:
            with self.engine.begin() as conn:
                known = conn.execute(
                    select(policy_versions.c.version).where(policy_versions.c.version == version)
                ).first()
                if known is None:
                    conn.execute(
                        insert(policy_versions).values(version=version, name=name, source=source, first_seen=now)
                    )
        except IntegrityError:
            return  # another replica recorded it first
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"policy version write failed: {type(exc).__name__}") from None

    def ledger_rows(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict[str, Any]]:
        query = select(ledger).order_by(ledger.c.ts)
        if since is not None:
            query = query.where(ledger.c.ts >= since)
        if until is not None:
            query = query.where(ledger.c.ts < until)
        try:
            with self.engine.connect() as conn:
                for row in conn.execute(query):
                    yield {str(k): v for k, v in row._mapping.items()}
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"ledger read failed: {type(exc).__name__}") from None

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


def _complete(row: LedgerRow) -> dict[str, Any]:
    """Every ledger column, from ``row`` or the column's default; unknown keys are
    dropped and logged (a producer ahead of the schema must not block the ledger)."""
    unknown = set(row) - _LEDGER_COLUMNS.keys()
    if unknown:
        log.error("ledger row has no column for %s: not stored", ", ".join(sorted(unknown)))
    return {name: row.get(name, default) for name, default in _LEDGER_COLUMNS.items()}


def money_sum(column: Any, dialect: str) -> ColumnElement[Any]:
    """An exact SQL sum of a ``Money`` column; read its result with ``money_value``."""
    if dialect == "sqlite":
        return func.sum(cast(func.round(column * _MONEY_SCALE), BigInteger))
    return func.sum(column)


def money_value(total: Any, dialect: str) -> Decimal:
    """The ``Decimal`` of a ``money_sum`` result (``NULL``, no rows: zero)."""
    if total is None:
        return Decimal(0).quantize(MONEY_PLACES)
    if dialect == "sqlite":
        return (Decimal(int(total)) / _MONEY_SCALE).quantize(MONEY_PLACES)
    return Decimal(total).quantize(MONEY_PLACES)


def while_sqlite_is_locked(engine: Engine, work: Callable[[], None], *, wait_s: float = 10.0) -> None:
    """Run schema ``work``; on a SQLite file, holding a lock file beside it, and again while
    another process holds the database (``database is locked``).

    Workers started together prepare one file at once. SQLite's driver runs reads and DDL
    outside transactions, so two of them could both find no schema version and both record
    one (Alembic then refuses the file: "revision 0002 overlaps with 0001"); the lock file
    (``<database>.schema-lock``, ``flock``) lets one prepare while the others wait, then find
    nothing to do. PostgreSQL serialises schema work with an advisory lock instead."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with _schema_lock(engine):
                work()
            return
        except OperationalError:
            if engine.dialect.name != "sqlite" or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    import fcntl

    with open(f"{database}.schema-lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA cache_size=-16000")  # 16 MB of pages per connection (the default is 2 MB)
    cursor.close()
