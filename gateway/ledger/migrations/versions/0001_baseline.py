"""Baseline: the tables as the gateway created them before migrations existed.

A database created by that older code (``metadata.create_all``) is stamped at
this revision by ``gateway.ledger.migrate`` instead of being created again.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Money = sa.Numeric(20, 10)


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("tier", sa.String(128)),
        sa.Column("level", sa.String(64), nullable=False),
        sa.Column("entity_types", sa.Text, nullable=False),
        sa.Column("classifier_error", sa.String(64)),
        sa.Column("route", sa.String(128)),
        sa.Column("target", sa.String(128)),
        sa.Column("target_model", sa.String(256)),
        sa.Column("residency", sa.String(16)),
        sa.Column("policy_version", sa.String(32), nullable=False),
        sa.Column("estimated_input_tokens", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_prompt_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", Money, nullable=False),
        sa.Column("reference_cost_usd", Money),
        sa.Column("price_input_per_m", Money),
        sa.Column("price_output_per_m", Money),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("cache_status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("attempt_log", sa.Text, nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64)),
    )
    op.create_index("ix_ledger_ts", "ledger", ["ts"])
    op.create_index("ix_ledger_team", "ledger", ["team"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("team", sa.String(128), nullable=False),
        sa.Column("roles", sa.String(256), nullable=False),
        sa.Column("models", sa.Text),
        sa.Column("description", sa.String(256)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_versions")
    op.drop_table("api_keys")
    op.drop_index("ix_ledger_team", "ledger")
    op.drop_index("ix_ledger_ts", "ledger")
    op.drop_table("ledger")
