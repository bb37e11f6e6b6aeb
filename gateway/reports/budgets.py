"""Budget burn: each budgeted team's month-to-date spend against its monthly limit.

Read from the ledger (what has been recorded), so it can lag the live budget
counters (``gateway/budget.py``) by the ledger writer's batch interval, and it
does not include requests still in flight.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.budget import month_bounds, month_of
from gateway.ledger.store import Database
from gateway.policy.model import Policy
from gateway.reports.query import ReportQuery, build_report


def budget_burn(db: Database, policy: Policy, now: datetime) -> dict[str, Any]:
    """``{"month", "budgets": [{team, monthly_usd, spent_usd, burn, ...}]}`` for the month of ``now``.

    ``burn`` is spent / limit (a float, 1.0 = the whole budget); ``over`` and
    ``soft_reached`` use ``>=`` as the enforcement does.
    """
    month = month_of(now)
    start, end = month_bounds(month)
    report = build_report(db, ReportQuery(start, end, ("team",)))
    spent = {row.group["team"]: row.figures["cost_usd"] for row in report.rows}
    budgets = []
    for budget in policy.budgets:
        limit = Decimal(str(budget.monthly_usd))
        used = Decimal(spent.get(budget.team, Decimal(0)))
        budgets.append(
            {
                "team": budget.team,
                "monthly_usd": f"{limit:f}",
                "spent_usd": f"{used:f}",
                "burn": float(used / limit),
                "on_exceed": budget.on_exceed,
                "soft_threshold": budget.soft_threshold,
                "soft_reached": used >= limit * Decimal(str(budget.soft_threshold)),
                "over": used >= limit,
            }
        )
    return {"object": "budget_burn", "month": month, "currency": "USD", "budgets": budgets}
