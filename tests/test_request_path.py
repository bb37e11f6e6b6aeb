"""The request path in-process: the ASGI app with a fake classifier and fake adapters.

These are unit tests of routing, headers, errors and the ledger row; the
end-to-end tests in ``test_e2e.py`` repeat the important ones with the real
classifier, real models and a real upstream server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from gateway.app import create_app
from gateway.config import Config
from gateway.ledger.schema import ledger
from gateway.policy.model import Target
from tests.fakes import KeywordClassifier, ScriptedAdapter

POLICY = Path(__file__).parent / "data" / "routing.yaml"
CARD = "Card 4111 1111 1111 1111 was declined"


class Harness:
    def __init__(self, client: httpx.AsyncClient, app: Any, adapters: dict[str, ScriptedAdapter], key: str) -> None:
        self.client = client
        self.app = app
        self.adapters = adapters
        self.key = key

    @property
    def state(self) -> Any:
        return self.app.state.gateway

    async def chat(self, content: str = "Hello", model: str = "bank-standard", **extra: Any) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
        return await self.client.post("/v1/chat/completions", json=body, headers=self.auth)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def rows(self) -> list[dict[str, Any]]:
        await self.state.ledger.flush()
        with self.state.db.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(ledger).order_by(ledger.c.ts))]


@pytest.fixture
async def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")
    adapters: dict[str, ScriptedAdapter] = {}

    def factory(name: str, target: Target) -> ScriptedAdapter:
        adapters[name] = ScriptedAdapter(name, f"Answer from {name}.")
        return adapters[name]

    config = Config(policy=str(POLICY), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    async with app.router.lifespan_context(app):
        _, key = app.state.gateway.keys.create("payments", ["user"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield Harness(client, app, adapters, key)


async def test_plain_request_is_answered_on_prem_with_every_header(gw: Harness) -> None:
    response = await gw.chat("What is a basis point?")
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "Answer from onprem."
    h = response.headers
    assert h["x-gateway-level"] == "internal"
    assert h["x-gateway-route"] == "default"
    assert h["x-gateway-target"] == "onprem"
    assert h["x-gateway-residency"] == "on_prem"
    assert h["x-gateway-policy"] == gw.state.policy.current.version
    assert h["x-gateway-cache"] == "skip"
    assert h["x-gateway-fallbacks"] == "0"
    assert float(h["x-gateway-cost-usd"]) > 0
    [row] = await gw.rows()
    assert row["request_id"] == h["x-request-id"]
    assert (row["level"], row["route"], row["target"], row["outcome"]) == ("internal", "default", "onprem", "ok")


async def test_card_number_never_reaches_the_external_target(gw: Harness) -> None:
    response = await gw.chat(CARD, model="bank-premium")
    assert response.status_code == 200
    assert response.headers["x-gateway-residency"] == "on_prem"
    assert response.headers["x-gateway-level"] == "restricted"
    assert gw.adapters["external"].calls == []


async def test_no_permitted_target_fails_closed_and_sends_nothing(gw: Harness) -> None:
    response = await gw.chat(CARD, model="external-only")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_target_available"
    assert gw.adapters["external"].calls == []
    assert gw.adapters["onprem"].calls == []
    [row] = await gw.rows()
    assert row["outcome"] == "no_target_available" and row["target"] is None


async def test_external_failure_falls_back_on_prem(gw: Harness) -> None:
    gw.adapters["external"].fail = True
    response = await gw.chat("Explain duration.", model="bank-premium")
    assert response.status_code == 200
    assert response.headers["x-gateway-target"] == "onprem"
    # A retryable failure is retried once on the same target (resilience.retries.max_attempts: 2), then
    # the route's next target answers: two failed attempts before the answer.
    assert response.headers["x-gateway-fallbacks"] == "2"
    [row] = await gw.rows()
    assert row["attempts"] == 3
    assert row["attempt_log"] == "external:error:upstream_error external:error:upstream_error onprem:ok"


async def test_classifier_failure_applies_on_error_level(gw: Harness) -> None:
    gw.state.chat.services.classifier = KeywordClassifier(raises=True)
    response = await gw.chat("Explain duration.", model="bank-premium")
    assert response.status_code == 200
    assert response.headers["x-gateway-level"] == "restricted"
    assert response.headers["x-gateway-residency"] == "on_prem"
    assert gw.adapters["external"].calls == []


async def test_classifier_timeout_result_applies_on_error_level(gw: Harness) -> None:
    gw.state.chat.services.classifier = KeywordClassifier(error="timeout")
    response = await gw.chat("Explain duration.", model="external-only")
    assert response.status_code == 503
    assert gw.adapters["external"].calls == []


async def test_image_content_cannot_be_scanned_so_it_fails_closed(gw: Harness) -> None:
    """Unreadable, so restricted: only the on-prem target may take it, and it is a text model (no
    ``images`` capability): the client is told so (400), and nothing goes anywhere."""
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "data:,x"}}]
    response = await gw.chat(content, model="bank-premium")  # type: ignore[arg-type]
    assert response.status_code == 400 and "image input" in response.json()["error"]["message"]
    assert gw.adapters["external"].calls == [] and gw.adapters["onprem"].calls == []


async def test_deny_route_gives_policy_denied(gw: Harness) -> None:
    response = await gw.chat("Status of Project Falcon?")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "message": "Project codenames may not be sent to any model.",
        "type": "permission_error",
        "code": "policy_denied",
        "param": None,
    }
    assert all(not a.calls for a in gw.adapters.values())


async def test_streaming_carries_headers_and_ends_with_done(gw: Harness) -> None:
    body = {"model": "bank-standard", "messages": [{"role": "user", "content": "Hi"}], "stream": True,
            "stream_options": {"include_usage": True}}
    async with gw.client.stream("POST", "/v1/chat/completions", json=body, headers=gw.auth) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for header in ("x-request-id", "x-gateway-level", "x-gateway-route", "x-gateway-target",
                       "x-gateway-residency", "x-gateway-policy", "x-gateway-cache", "x-gateway-fallbacks"):
            assert header in response.headers
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Answer from onprem."
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    [row] = await gw.rows()
    assert row["stream"] and row["outcome"] == "ok" and row["completion_tokens"] == 3


async def test_cache_hit_on_identical_deterministic_request(gw: Harness) -> None:
    first = await gw.chat("Define convexity.", model="bank-premium", temperature=0)
    second = await gw.chat("Define convexity.", model="bank-premium", temperature=0)
    assert first.headers["x-gateway-cache"] == "miss"
    assert second.headers["x-gateway-cache"] == "hit"
    assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    assert len(gw.adapters["external"].calls) == 1


async def test_models_lists_the_policy_models(gw: Harness) -> None:
    response = await gw.client.get("/v1/models", headers=gw.auth)
    assert {m["id"] for m in response.json()["data"]} == {"bank-standard", "bank-premium", "external-only"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_request"),
        (b"[1, 2]", 400, "invalid_request"),
        (orjson.dumps({"model": "bank-standard"}), 400, "invalid_request"),
        (orjson.dumps({"model": "nope", "messages": [{"role": "user", "content": "x"}]}), 404, "model_not_found"),
        (orjson.dumps({"model": "bank-standard", "messages": "hello"}), 400, "invalid_request"),
        (orjson.dumps({"model": "bank-standard", "messages": [{"role": "user", "content": 5}]}), 400,
         "invalid_request"),
        (orjson.dumps({"model": "bank-standard", "messages": [{"role": "wizard", "content": "x"}]}), 400,
         "invalid_request"),
        (orjson.dumps({"model": "bank-standard", "messages": [{"role": "user", "content": "x"}],
                       "temperature": "hot"}), 400, "invalid_request"),
        (orjson.dumps({"model": "bank-standard", "messages": [{"role": "user", "content": "x"}],
                       "api_base": "http://evil"}), 400, "invalid_request"),
        (orjson.dumps({"model": "bank-standard", "messages": [{"role": "user", "content": "x"}], "n": 3}), 400,
         "invalid_request"),
    ],
)
async def test_bad_input_gets_the_contract_error_shape(gw: Harness, body: bytes, status: int, code: str) -> None:
    response = await gw.client.post("/v1/chat/completions", content=body, headers=gw.auth)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["code"] == code
    assert "evil" not in response.text and "hello" not in response.text


async def test_prompt_text_is_never_echoed_in_errors(gw: Harness) -> None:
    secret = "SECRET-PROMPT-4111111111111111"
    body = {"model": "bank-standard", "messages": [{"role": "user", "content": secret, "bogus": secret}]}
    response = await gw.client.post("/v1/chat/completions", json=body, headers=gw.auth)
    assert response.status_code == 400
    assert secret not in response.text


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc"])
async def test_missing_or_bad_key_is_401(gw: Harness, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await gw.client.post("/v1/chat/completions", json={"model": "x", "messages": []}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


async def test_revoked_key_is_refused(gw: Harness) -> None:
    key_id, key = gw.state.keys.create("payments")
    assert gw.state.keys.revoke(key_id)
    response = await gw.client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


async def test_oversized_body_is_413(gw: Harness) -> None:
    body = b'{"model": "bank-standard", "messages": [{"role": "user", "content": "' + b"a" * 2_100_000 + b'"}]}'
    response = await gw.client.post("/v1/chat/completions", content=body, headers=gw.auth)
    assert response.status_code == 413


async def test_unknown_path_and_health(gw: Harness) -> None:
    assert (await gw.client.get("/healthz")).json() == {"status": "ok"}
    missing = await gw.client.get("/v1/nothing", headers=gw.auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_data_plane_key_cannot_reload_policy(gw: Harness) -> None:
    response = await gw.client.post("/admin/policy/reload", headers=gw.auth)
    assert response.status_code == 403
