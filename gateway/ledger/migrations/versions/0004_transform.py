"""The ledger records pseudonymisation: which entity types were replaced, and how many values.

New nullable column ``transform`` (for example ``pseudonymize:EMAIL_ADDRESS=1,PERSON=2``):
set when the target that answered received the request pseudonymised
(``docs/pseudonymization.md``); counts and types only, never values or placeholders.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("transform", sa.String(256)))


def downgrade() -> None:
    # Both PostgreSQL and SQLite (3.35+) drop a column in place: no table copy, the triggers stay.
    op.execute("ALTER TABLE ledger DROP COLUMN transform")
