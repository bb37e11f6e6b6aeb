"""Budgets on the request path (in process): checked before the call with the
request's estimated cost, settled after with the actual cost; ``block`` gives 429
``budget_exceeded``, ``on_prem_only`` serves through on-prem targets only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import Usage
from gateway.app import create_app
from gateway.config import Config
from gateway.ledger.charge import money
from gateway.pricing import Price
from gateway.tokens import TokenCounter
from tests.fakes import KeywordClassifier, ScriptedAdapter
from tests.reports.seed import ledger_rows

ROUTING = Path(__file__).parent / "data" / "routing.yaml"
BUDGETS = """
budgets:
  - {team: payments, monthly_usd: 1, on_exceed: block, soft_threshold: 0.8}
  - {team: research, monthly_usd: 0.000005, on_exceed: on_prem_only}
"""
ONPREM = Price(Decimal("0.05"), Decimal("0.10"))
EXTERNAL = Price(Decimal("0.15"), Decimal("0.60"))


class Harness:
    def __init__(self, app: Any, http: httpx.AsyncClient, adapters: dict[str, ScriptedAdapter]) -> None:
        self.app, self.http, self.adapters = app, http, adapters
        self.state = app.state.gateway
        self.keys = {team: self.state.keys.create(team, ["user"])[1] for team in ("payments", "research", "risk")}
        self.admin = self.state.keys.create("ops", ["admin"])[1]

    def spent_already(self, team: str, amount: Decimal) -> None:
        """A row this month, as if earlier requests had cost ``amount``."""
        row = ledger_rows(datetime.now(UTC).replace(day=1, hour=0, minute=0), days=1, per_day=1, seed=len(team))[0]
        self.state.db.insert_ledger([{**row, "request_id": f"earlier-{team}", "team": team, "cost_usd": amount}])

    async def chat(self, team: str, model: str = "bank-standard", **extra: Any) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": "What is a basis point?"}], **extra}
        return await self.http.post("/v1/chat/completions", json=body,
                                    headers={"Authorization": f"Bearer {self.keys[team]}"})


@pytest.fixture
async def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")
    policy = tmp_path / "policy.yaml"
    policy.write_text(ROUTING.read_text() + BUDGETS)
    adapters: dict[str, ScriptedAdapter] = {}

    def factory(name: str, _: Any) -> ScriptedAdapter:
        adapters[name] = ScriptedAdapter(name, f"Answer from {name}.")
        return adapters[name]

    config = Config(policy=str(policy), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        yield Harness(app, http, adapters)


async def test_a_spent_budget_blocks_with_429_naming_the_budget(gw: Harness) -> None:
    gw.spent_already("payments", Decimal(1))  # exactly the limit: spent (>=)
    response = await gw.chat("payments")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert error["message"] == "The monthly budget of team 'payments' (1 USD) is spent."
    assert all(not a.calls for a in gw.adapters.values())
    assert (await gw.chat("risk")).status_code == 200  # other teams are not affected


async def test_the_estimate_is_checked_before_the_call(gw: Harness) -> None:
    gw.spent_already("payments", Decimal("0.999"))
    # Up to 1,000 tokens at 0.10 USD per million may come back: 0.999 + 0.0001 + the prompt < 1.
    assert (await gw.chat("payments", max_tokens=1000)).status_code == 200
    # Up to 10,000 tokens: 0.999 + 0.001 + the prompt >= 1, so it is refused before any call.
    calls = len(gw.adapters["onprem"].calls)
    blocked = await gw.chat("payments", max_tokens=10_000)
    assert blocked.status_code == 429 and len(gw.adapters["onprem"].calls) == calls


async def test_actual_cost_is_settled_after_the_call(gw: Harness) -> None:
    gw.spent_already("payments", Decimal("0.5"))
    response = await gw.chat("payments")
    assert response.status_code == 200
    cost = Decimal(response.headers["x-gateway-cost-usd"])
    await gw.state.chat.services.budgets.close()  # settlement runs in a task
    assert await gw.state.chat.services.budgets.spent("payments") == Decimal("0.5") + cost
    assert cost == money(ONPREM.cost(Usage(prompt_tokens=7, completion_tokens=3))) > 0


async def test_on_prem_only_serves_through_on_prem_targets(gw: Harness) -> None:
    """research may spend 5 micro-dollars; one external answer costs 2.85 of them."""
    first = await gw.chat("research", model="bank-premium", max_tokens=3)
    assert first.headers["x-gateway-target"] == "external"
    assert Decimal(first.headers["x-gateway-cost-usd"]) == money(EXTERNAL.cost(Usage(7, 3)))
    # 2.85 spent + this request's estimate (its prompt and 3 tokens out, at the external price) >= 5
    second = await gw.chat("research", model="bank-premium", max_tokens=3)
    assert second.status_code == 200
    assert second.headers["x-gateway-target"] == "onprem" and second.headers["x-gateway-residency"] == "on_prem"
    assert len(gw.adapters["external"].calls) == 1


async def test_soft_threshold_is_logged_and_exported(gw: Harness, caplog: pytest.LogCaptureFixture) -> None:
    gw.spent_already("payments", Decimal("0.85"))
    with caplog.at_level(logging.WARNING, logger="gateway.budget"):
        assert (await gw.chat("payments")).status_code == 200
    assert "team payments reached 80% of its monthly budget" in caplog.text
    metrics = await gw.http.get("/metrics", headers={"Authorization": f"Bearer {gw.admin}"})
    assert 'gateway_budget_soft_threshold_reached{team="payments"} 1.0' in metrics.text
    assert 'gateway_budget_limit_usd{team="payments"} 1.0' in metrics.text


async def test_a_refused_or_failed_request_gives_its_reservation_back(gw: Harness) -> None:
    gw.spent_already("payments", Decimal("0.5"))
    gw.adapters["onprem"].fail = True
    assert (await gw.chat("payments")).status_code >= 500
    await gw.state.chat.services.budgets.close()
    assert await gw.state.chat.services.budgets.spent("payments") == Decimal("0.5")


def test_estimates_count_the_prompt_with_the_tokenizer() -> None:
    assert TokenCounter().count_messages("x", [{"role": "user", "content": "What is a basis point?"}]) > 5
