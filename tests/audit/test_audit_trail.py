"""Through the app: one audit record per decision, whatever happened to the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.audit import AuditQuery, run_query, verify
from gateway.config import Config
from gateway.policy.model import Target
from tests.fakes import KeywordClassifier, ScriptedAdapter

POLICY = Path(__file__).parent.parent / "data" / "routing.yaml"


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")
    adapters: dict[str, ScriptedAdapter] = {}

    def factory(name: str, target: Target) -> ScriptedAdapter:
        adapters[name] = ScriptedAdapter(name, f"Answer from {name}.")
        return adapters[name]

    config = Config(policy=str(POLICY), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)
    application = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    async with application.router.lifespan_context(application):
        application.state.adapters = adapters
        yield application


async def _chat(app: Any, key: str, content: str, model: str = "bank-standard") -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        body = {"model": model, "messages": [{"role": "user", "content": content}]}
        return await client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


async def test_every_decision_leaves_a_chained_record(app: Any) -> None:
    state = app.state.gateway
    key_id, key = state.keys.create("payments", ["user"])
    app.state.adapters["external"].fail = True
    responses = [
        await _chat(app, key, "What is a basis point?"),                       # on-prem answer
        await _chat(app, key, "Explain duration.", "bank-premium"),           # external fails, on-prem answers
        await _chat(app, key, "Card 4111 1111 1111 1111", "external-only"),   # nothing permitted: 503
        await _chat(app, key, "Status of Project Falcon?"),                   # denied by the policy: 403
        await _chat(app, key, "x", "no-such-model"),                          # refused before any decision
    ]
    assert [r.status_code for r in responses] == [200, 200, 503, 403, 404]
    await state.audit.flush()
    records = list(run_query(state.audit.store, AuditQuery()))
    assert [r["request_id"] for r in records] == [r.headers["x-request-id"] for r in responses[:4]]
    ok, fallback, refused, denied = records
    assert ok["key_id"] == key_id and ok["team"] == "payments" and ok["route"] == "default"
    assert ok["policy_version"] == state.policy.current.version and ok["reached"] == "on_prem"
    *failures, answer = fallback["attempts"]  # the external target may have been retried
    assert failures and all(a == {"target": "external", "residency": "external", "outcome": "error",
                                  "error_code": "upstream_error"} for a in failures)
    assert answer == {"target": "onprem", "residency": "on_prem", "outcome": "ok", "error_code": None}
    assert fallback["reached"] == "external"  # the failed attempt was sent: it counts
    assert (refused["level"], refused["entity_types"], refused["reached"]) == ("restricted", ["CREDIT_CARD"], "none")
    assert refused["outcome"] == "no_target_available" and refused["attempts"] == []
    assert denied["outcome"] == "policy_denied" and denied["entity_types"] == ["PROJECT_CODENAME"]
    assert verify(state.audit.store).ok
    stored = orjson.dumps(records).decode()  # hashes are hex: "4111" alone can occur in one by chance
    assert "4111 1111" not in stored and "4111111111111111" not in stored and "1111 1111" not in stored


async def test_restricted_data_never_reached_external_per_the_trail(app: Any) -> None:
    state = app.state.gateway
    _, key = state.keys.create("payments", ["user"])
    for content in ("Card 4111 1111 1111 1111 declined", "mail me at a.b@example.com", "hello"):
        assert (await _chat(app, key, content, "bank-premium")).status_code == 200
    await state.audit.flush()
    levels = list(state.policy.current.policy.levels)
    exposed = list(run_query(state.audit.store, AuditQuery(level_at_least="confidential", residency="external"),
                             levels))
    assert exposed == []
    assert len(list(run_query(state.audit.store, AuditQuery(residency="external"), levels))) == 1
