"""HTTP routes for finance: the cost report, budget burn, and the reports page.

``GET /v1/reports/costs?from=&to=&group_by=&format=json|csv`` and
``GET /v1/reports/budgets`` need the ``finance`` role (``admin`` has every
role). ``GET /reports`` is the page shell, served without a key: see
``gateway/reports/page.py`` for how the browser authenticates. Report data is never cached by
browsers or proxies (``Cache-Control: no-store``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from gateway.errors import GatewayError, InvalidRequest
from gateway.http.deps import ORJSONResponse, State, require
from gateway.ledger.store import StoreUnavailable
from gateway.reports import page
from gateway.reports.budgets import budget_burn
from gateway.reports.formats import render_csv
from gateway.reports.query import ReportError, ReportQuery, build_report

router = APIRouter()
NO_STORE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


@router.get("/v1/reports/costs", dependencies=[require("finance")])
async def costs(
    gateway: State,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    group_by: str | None = None,
    format: str = "json",
) -> Response:
    if format not in ("json", "csv"):
        raise InvalidRequest("'format' must be json or csv.", param="format")
    try:
        query = ReportQuery.parse(start, end, group_by)
    except ReportError as exc:
        raise InvalidRequest(str(exc)) from None
    try:
        report = await asyncio.to_thread(build_report, gateway.db, query)
    except StoreUnavailable:
        raise _ledger_unavailable() from None
    if format == "csv":
        headers = {**NO_STORE, "content-disposition": 'attachment; filename="vaultroute-costs.csv"'}
        return Response(render_csv(report), media_type="text/csv; charset=utf-8", headers=headers)
    return ORJSONResponse(report.to_json(), headers=NO_STORE)


@router.get("/v1/reports/budgets", dependencies=[require("finance")])
async def budgets(gateway: State) -> Response:
    policy = gateway.policy.current.policy
    try:
        body = await asyncio.to_thread(budget_burn, gateway.db, policy, datetime.now(UTC))
    except StoreUnavailable:
        raise _ledger_unavailable() from None
    return ORJSONResponse(body, headers=NO_STORE)


@router.get("/reports")
async def reports_page() -> Response:
    return page.page()


@router.get("/reports/static/{name}")
async def reports_asset(name: str) -> Response:
    return page.asset(name)


def _ledger_unavailable() -> GatewayError:
    error = GatewayError("The ledger database is unavailable; try again shortly.")
    error.status, error.code = 503, "ledger_unavailable"
    return error
