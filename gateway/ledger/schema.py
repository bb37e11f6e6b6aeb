"""Tables of the gateway's database: the ledger, API keys and policy versions.

These ``Table`` objects are what the code queries; the database itself is
created and changed only by the Alembic migrations in ``migrations/`` (a test
checks that the migrations produce exactly these tables, on SQLite and on
PostgreSQL). Changing a table here means adding a migration.

The ledger is append-only: one row per accepted request, written once, never
updated or deleted (the migrations install triggers that refuse both). Entity
types are stored as names only, never the values found, and no prompt or
answer text is ever stored.

Money columns are exact decimals with ten places (``Money``). Each row carries
the prices that produced its cost (``price_*_per_m``: USD per million tokens),
where they came from (``price_source``), what the same usage would have cost on
the policy's ``reference_model`` and at which prices, and whether its token
counts were reported by the upstream or counted by the gateway
(``usage_source``), so that a later price change never rewrites history.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TypedDict

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Money is kept as exact decimals: reports must add up to the cent.
Money = Numeric(20, 10)

ledger = Table(
    "ledger",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("key_id", String(64), nullable=False),
    Column("team", String(128), nullable=False, index=True),
    Column("model", String(256), nullable=False),
    Column("tier", String(128)),
    Column("level", String(64), nullable=False),
    Column("entity_types", Text, nullable=False, default=""),
    Column("classifier_error", String(64)),
    Column("route", String(128)),
    Column("target", String(128)),
    Column("target_model", String(256)),
    Column("residency", String(16)),
    Column("policy_version", String(32), nullable=False),
    Column("estimated_input_tokens", Integer, nullable=False, default=0),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cached_prompt_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Money, nullable=False, default=0),
    Column("reference_cost_usd", Money),
    Column("price_input_per_m", Money),
    Column("price_output_per_m", Money),
    Column("latency_ms", Float, nullable=False, default=0),
    Column("cache_status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("attempt_log", Text, nullable=False, default=""),
    Column("stream", Boolean, nullable=False, default=False),
    Column("outcome", String(32), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("error_code", String(64)),
    # Added by migration 0002 (cost accounting).
    Column("price_cached_input_per_m", Money),
    Column("price_source", String(16)),  # policy | table | gpu_hour; NULL: unpriced
    Column("usage_source", String(16)),  # upstream | counted | cache | none
    Column("reference_model", String(256)),
    Column("reference_price_input_per_m", Money),
    Column("reference_price_output_per_m", Money),
    Column("cache_saved_usd", Money),  # a cache hit: what the cached answer cost when it was made
    # Added by migration 0004: ``pseudonymize:EMAIL_ADDRESS=1,PERSON=2`` when the answering target
    # received the request pseudonymised (types and counts, never values).
    Column("transform", String(256)),
    # Added by migration 0005: which API was called (chat, embeddings, responses, messages).
    Column("api", String(16), default="chat"),  # NULL: written before 0005, when chat was the only API
)


class LedgerRow(TypedDict, total=False):
    """One ``ledger`` row as Python values, typed: a misspelt column is a type error, not a lost value.

    Written from a request's record by ``row.py`` (the one place); columns left out take the
    table's defaults (``Database.insert_ledger``). A test holds these keys to the table's columns."""

    request_id: str
    ts: datetime
    key_id: str
    team: str
    model: str
    tier: str | None
    level: str
    entity_types: str  # comma-separated, sorted: types, never values
    classifier_error: str | None
    route: str | None
    target: str | None
    target_model: str | None
    residency: str | None
    policy_version: str
    estimated_input_tokens: int
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    cost_usd: Decimal
    reference_cost_usd: Decimal | None
    price_input_per_m: Decimal | None
    price_output_per_m: Decimal | None
    latency_ms: float
    cache_status: str
    attempts: int
    attempt_log: str
    stream: bool
    outcome: str
    status_code: int
    error_code: str | None
    price_cached_input_per_m: Decimal | None
    price_source: str | None
    usage_source: str | None
    reference_model: str | None
    reference_price_input_per_m: Decimal | None
    reference_price_output_per_m: Decimal | None
    cache_saved_usd: Decimal | None
    transform: str | None
    api: str | None  # chat, embeddings, responses, messages


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("team", String(128), nullable=False),
    Column("roles", String(256), nullable=False),
    Column("models", Text),
    Column("description", String(256)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("version", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("source", Text, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
)


# Migration 0003: the ledger summed per UTC day and reporting dimensions, kept exact by a trigger on
# PostgreSQL (the reports read it there: gateway/reports/query.py). Keys hold '' where the ledger has NULL.
# On SQLite the table exists and stays empty: reports read the ledger.
RollupMoney = Numeric(30, 10)
ROLLUP_KEYS = ("day", "team", "route", "target", "model", "level", "residency")
ROLLUP_COUNTS = ("requests", "errors", "cache_hits", "prompt_tokens", "completion_tokens", "cached_prompt_tokens")
ROLLUP_MONEY = ("cost_usd", "reference_cost_usd", "cost_with_reference_usd", "onprem_reference_usd", "onprem_cost_usd",
                "cache_saved_usd")
ledger_daily = Table(
    "ledger_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("team", String(128), primary_key=True),
    Column("route", String(128), primary_key=True),
    Column("target", String(128), primary_key=True),
    Column("model", String(256), primary_key=True),
    Column("level", String(64), primary_key=True),
    Column("residency", String(16), primary_key=True),
    *(Column(name, BigInteger, nullable=False) for name in ROLLUP_COUNTS),
    *(Column(name, RollupMoney, nullable=False) for name in ROLLUP_MONEY),
)
