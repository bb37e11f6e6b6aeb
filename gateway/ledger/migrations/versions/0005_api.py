"""The ledger records which API was called: ``chat``, ``embeddings``, ``responses`` or ``messages``.

New nullable column ``api`` (``RequestRecord.asked.api``). Rows written before it keep
NULL (the ledger is append-only: its triggers refuse updates); they were all ``chat``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("api", sa.String(16)))


def downgrade() -> None:
    # Both PostgreSQL and SQLite (3.35+) drop a column in place: no table copy, the triggers stay.
    op.execute("ALTER TABLE ledger DROP COLUMN api")
