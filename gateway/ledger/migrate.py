"""Schema migrations: the database is created and changed by Alembic, never by ``create_all``.

``upgrade(engine)`` brings a database to the newest revision (``alembic
upgrade heads``). The app runs it at start-up and so do the commands that open
the database, so a fresh SQLite file or an empty PostgreSQL database needs no
separate step. It is safe to run from many replicas at once: on PostgreSQL the
whole upgrade holds a transaction-scoped advisory lock, so one replica migrates
and the others then find nothing to do.

A database created before migrations existed (tables present, no
``alembic_version``) is stamped at the baseline revision ``0001``, which is
exactly that older schema, and then upgraded.

Adding a migration: a new file in ``migrations/versions/`` whose
``down_revision`` is the current head, plus the matching change in
``schema.py``; ``tests/ledger/test_migrations.py`` fails until both agree.
Operators may also use Alembic's own command line:
``alembic -x ... -c <ini with script_location=gateway/ledger/migrations>``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"
_PG_LOCK_KEY = 0x7661756C74  # "vault": one advisory lock for schema changes


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for our migrations, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def heads() -> set[str]:
    """The newest revision(s) the migrations define."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current(connection: Connection) -> set[str]:
    """The revision(s) the database is at (empty for an unmigrated database)."""
    return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest revision; see the module docstring.

    Raises SQLAlchemy's errors (the caller translates them).
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        config = alembic_config(connection)
        if not current(connection) and inspect(connection).has_table("ledger"):
            command.stamp(config, BASELINE)
        if current(connection) != heads():
            command.upgrade(config, "heads")
