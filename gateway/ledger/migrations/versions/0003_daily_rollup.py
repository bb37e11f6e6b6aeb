"""A daily rollup of the ledger for the reports (PostgreSQL).

``ledger_daily`` holds, per UTC day and (team, route, target, model, level,
residency), the sums the cost report needs. A statement-level trigger on
``ledger`` adds each insert's rows to it in the same transaction, so it is
exact and never behind: a row the ledger refuses (same request id) is not
counted, whatever path inserted it. The reports read it instead of the ledger
when they can (``gateway/reports/query.py``); ``docs/capacity.md`` says why.
Rollup keys hold ``''`` where the ledger holds NULL (a refused request has no
route or target). Existing rows are summed once here. SQLite (one machine,
small ledgers) keeps reading the ledger: the table is created there and stays empty.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEYS = "day, team, route, target, model, level, residency"
SUMS = ("requests", "errors", "cache_hits", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "cost_usd",
        "reference_cost_usd", "cost_with_reference_usd", "onprem_reference_usd", "onprem_cost_usd", "cache_saved_usd")

_ONPREM = "n.reference_cost_usd IS NOT NULL AND n.residency = 'on_prem' AND n.cache_status <> 'hit'"
_SELECT = f"""
SELECT (n.ts AT TIME ZONE 'UTC')::date, n.team, coalesce(n.route, ''), coalesce(n.target, ''), n.model, n.level,
       coalesce(n.residency, ''),
       count(*), count(*) FILTER (WHERE n.outcome <> 'ok'), count(*) FILTER (WHERE n.cache_status = 'hit'),
       coalesce(sum(n.prompt_tokens), 0), coalesce(sum(n.completion_tokens), 0),
       coalesce(sum(n.cached_prompt_tokens), 0), coalesce(sum(n.cost_usd), 0), coalesce(sum(n.reference_cost_usd), 0),
       coalesce(sum(n.cost_usd) FILTER (WHERE n.reference_cost_usd IS NOT NULL), 0),
       coalesce(sum(n.reference_cost_usd) FILTER (WHERE {_ONPREM}), 0),
       coalesce(sum(n.cost_usd) FILTER (WHERE {_ONPREM}), 0), coalesce(sum(n.cache_saved_usd), 0)
FROM {{source}} n GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
"""  # ordered: replicas inserting at once lock the rollup rows they share in the same order (no deadlock)
_UPSERT = (f"INSERT INTO ledger_daily AS d ({KEYS}, {', '.join(SUMS)}) {_SELECT} ON CONFLICT ({KEYS}) DO UPDATE SET "
           + ", ".join(f"{name} = d.{name} + excluded.{name}" for name in SUMS))


def upgrade() -> None:
    counts = ", ".join(f"{name} BIGINT NOT NULL" for name in SUMS[:6])
    money = ", ".join(f"{name} NUMERIC(30, 10) NOT NULL" for name in SUMS[6:])
    op.execute(f"""CREATE TABLE ledger_daily (
        day DATE NOT NULL, team VARCHAR(128) NOT NULL, route VARCHAR(128) NOT NULL, target VARCHAR(128) NOT NULL,
        model VARCHAR(256) NOT NULL, level VARCHAR(64) NOT NULL, residency VARCHAR(16) NOT NULL,
        {counts}, {money}, PRIMARY KEY ({KEYS}))""")
    if op.get_bind().dialect.name != "postgresql":
        return  # the table stays empty: SQLite's reports read the ledger
    op.execute(f"""CREATE FUNCTION ledger_daily_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {_UPSERT.format(source="new_rows")}; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER ledger_daily_add AFTER INSERT ON ledger REFERENCING NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION ledger_daily_add()")
    op.execute(_UPSERT.format(source="ledger"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_daily_add ON ledger")
        op.execute("DROP FUNCTION ledger_daily_add()")
    op.execute("DROP TABLE ledger_daily")
