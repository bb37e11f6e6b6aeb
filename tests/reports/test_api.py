"""``GET /v1/reports/costs``, ``/v1/reports/budgets`` and the ``/reports`` page, in-process."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import Config
from gateway.reports.page import ASSETS
from tests.fakes import KeywordClassifier, ScriptedAdapter
from tests.reports.seed import ledger_rows

POLICY = Path(__file__).parents[1] / "data" / "routing.yaml"


class Client:
    def __init__(self, http: httpx.AsyncClient, state: Any) -> None:
        self.http = http
        self.state = state
        self.keys = {role: state.keys.create("finance-team", [role])[1] for role in ("user", "finance", "admin")}

    async def get(self, path: str, role: str | None = "finance", **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return await self.http.get(path, params=params, headers=headers)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.read_text() + "budgets:\n  - {team: payments, monthly_usd: 50}\n"
                      "  - {team: research, monthly_usd: 2, on_exceed: on_prem_only}\n")
    config = Config(policy=str(policy), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=lambda name, _: ScriptedAdapter(name))
    async with app.router.lifespan_context(app):
        state = app.state.gateway
        state.db.insert_ledger(ledger_rows(datetime(2026, 10, 3, tzinfo=UTC)))
        month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        state.db.insert_ledger(ledger_rows(month, days=1, per_day=40, seed=99))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            yield Client(http, state)


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("user", 403), ("finance", 200), ("admin", 200)])
async def test_only_finance_and_admin_read_costs(client: Client, role: str | None, status: int) -> None:
    for path in ("/v1/reports/costs", "/v1/reports/budgets"):
        response = await client.get(path, role)
        assert response.status_code == status, path


async def test_json_and_csv_agree_to_the_last_digit(client: Client) -> None:
    params = {"from": "2026-10-01", "to": "2026-10-31", "group_by": "route,day"}
    body = (await client.get("/v1/reports/costs", **params)).json()
    assert body["object"] == "cost_report" and body["group_by"] == ["route", "day"]
    assert body["from"] == "2026-10-01T00:00:00+00:00" and body["to"] == "2026-11-01T00:00:00+00:00"
    expected = sum(r["cost_usd"] for r in ledger_rows(datetime(2026, 10, 3, tzinfo=UTC)))
    assert Decimal(body["totals"]["cost_usd"]) == expected
    response = await client.get("/v1/reports/costs", **params, format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[-1]["route"] == "TOTAL" and Decimal(rows[-1]["cost_usd"]) == expected
    assert len(rows) - 1 == len(body["rows"])


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "route,colour"},
        {"from": "last week"},
        {"format": "xml"},
        {"from": "2026-10-05", "to": "2026-10-01"},
    ],
)
async def test_bad_options_are_400(client: Client, params: dict[str, str]) -> None:
    response = await client.get("/v1/reports/costs", **params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


async def test_budget_burn_for_the_month(client: Client) -> None:
    body = (await client.get("/v1/reports/budgets")).json()
    assert body["month"] == datetime.now(UTC).strftime("%Y-%m")
    this_month = ledger_rows(datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0),
                             days=1, per_day=40, seed=99)
    burn = {b["team"]: b for b in body["budgets"]}
    assert set(burn) == {"payments", "research"}
    spent = sum(r["cost_usd"] for r in this_month if r["team"] == "research")
    assert Decimal(burn["research"]["spent_usd"]) == spent
    assert burn["research"]["on_exceed"] == "on_prem_only" and Decimal(burn["research"]["monthly_usd"]) == 2
    assert burn["research"]["over"] == (spent >= 2)


async def test_the_page_is_a_locked_down_shell(client: Client) -> None:
    response = await client.get("/reports", role=None)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY" and response.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in response.text and "http" not in response.text.replace("http-equiv", "")
    for name in ASSETS:
        asset = await client.get(f"/reports/static/{name}", role=None)
        assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
        assert b"sourceMappingURL" not in asset.content


@pytest.mark.parametrize("name", ["reports.html.bak", "..%2F..%2Fapp.py", "VENDORED.md", "%2Fetc%2Fpasswd"])
async def test_only_the_page_assets_are_served(client: Client, name: str) -> None:
    assert (await client.get(f"/reports/static/{name}", role=None)).status_code == 404
