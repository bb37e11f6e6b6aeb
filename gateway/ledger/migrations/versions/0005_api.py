"""The ledger records which API a request came through: ``chat``, ``embeddings``, ``responses``, ``messages``.

New column ``api`` (not null, ``chat`` for every row written before it: the only API there was).
Reports and ``policy replay`` read it: a route may match on the API (``when.api``).

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
    op.add_column("ledger", sa.Column("api", sa.String(16), nullable=False, server_default="chat"))


def downgrade() -> None:
    op.execute("ALTER TABLE ledger DROP COLUMN api")
