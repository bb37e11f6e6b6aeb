"""Alembic's entry point for the gateway's database (run by ``gateway.ledger.migrate``).

Online mode only, on the connection ``migrate.upgrade`` passes in
``config.attributes["connection"]`` (already inside its transaction and, on
PostgreSQL, holding the migration lock), or on an engine built from
``sqlalchemy.url`` when Alembic's own command line is used. Logging is left to
the application: no ``fileConfig`` here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from gateway.ledger.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


shared = config.attributes.get("connection")
if shared is not None:
    _run(shared)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run migrations through gateway.ledger.migrate")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()
