"""Cost accounting: the prices and usage source on each row; the ledger made append-only.

New nullable ledger columns (rows written before this migration keep NULL):
``price_cached_input_per_m``, ``price_source``, ``usage_source``,
``reference_model``, ``reference_price_input_per_m``,
``reference_price_output_per_m`` and ``cache_saved_usd``.

Append-only is enforced by the database: triggers refuse ``UPDATE`` and
``DELETE`` on the ledger (and ``TRUNCATE`` on PostgreSQL). A retention job that
must remove old rows drops the trigger in its own reviewed migration.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Money = sa.Numeric(20, 10)
MESSAGE = "the ledger is append-only"

_COLUMNS = (
    ("price_cached_input_per_m", Money),
    ("price_source", sa.String(16)),
    ("usage_source", sa.String(16)),
    ("reference_model", sa.String(256)),
    ("reference_price_input_per_m", Money),
    ("reference_price_output_per_m", Money),
    ("cache_saved_usd", Money),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("ledger", sa.Column(name, type_))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER ledger_no_change BEFORE UPDATE OR DELETE ON ledger "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )
        op.execute(
            "CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_no_{event.lower()} BEFORE {event} ON ledger "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_no_truncate ON ledger")
        op.execute("DROP TRIGGER ledger_no_change ON ledger")
        op.execute("DROP FUNCTION ledger_append_only()")
    else:
        op.execute("DROP TRIGGER ledger_no_update")
        op.execute("DROP TRIGGER ledger_no_delete")
    with op.batch_alter_table("ledger") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
