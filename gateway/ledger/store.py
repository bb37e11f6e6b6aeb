"""The database behind the ledger, keys and policy versions.

SQLite (the embedded default) or PostgreSQL, through SQLAlchemy Core. Calls
here are blocking; the async side reaches them through ``asyncio.to_thread``
(see ``writer.py``). SQLAlchemy errors are translated here, once, into
``StoreUnavailable``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.ledger.schema import ledger, metadata, policy_versions


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
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.url.startswith("postgresql"):
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_schema(self) -> None:
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot prepare the database schema: {type(exc).__name__}") from None

    def insert_ledger(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append rows; a row already present (same request id) is kept as it was."""
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(ledger), list(rows))
        except IntegrityError:
            # A retried batch after a lost commit acknowledgement: insert one by one.
            for row in rows:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(ledger), [dict(row)])
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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
