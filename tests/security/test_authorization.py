"""Every endpoint against every role: who gets in, who gets 403, who gets 401.

The matrix is the contract (docs/security.md). A route the matrix does not
know fails the suite, so a new endpoint cannot ship without its row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import Config
from gateway.http.dataplane import ENDPOINTS
from gateway.http.openapi import endpoints
from gateway.keys import ROLES
from gateway.policy.model import Target
from tests.fakes import KeywordClassifier, ScriptedAdapter

POLICY = Path(__file__).parent.parent / "data" / "routing.yaml"
ANY_KEY = frozenset(ROLES)
# (method, path) -> roles let in. Admin passes every check.
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/v1/chat/completions"): frozenset({"user", "admin"}),
    ("POST", "/v1/messages"): frozenset({"user", "admin"}),
    ("POST", "/v1/responses"): frozenset({"user", "admin"}),
    ("GET", "/v1/models"): frozenset({"user", "admin"}),
    ("POST", "/v1/embeddings"): frozenset({"user", "admin"}),
    ("GET", "/healthz"): ANY_KEY,
    ("GET", "/readyz"): ANY_KEY,
    ("GET", "/openapi.json"): ANY_KEY,
    ("GET", "/metrics"): frozenset({"monitor", "admin"}),
    ("GET", "/admin/policy"): frozenset({"compliance", "admin"}),
    ("POST", "/admin/policy/reload"): frozenset({"compliance", "admin"}),
    ("GET", "/v1/reports/costs"): frozenset({"finance", "admin"}),
    ("GET", "/v1/reports/budgets"): frozenset({"finance", "admin"}),
    # The reports page shell and its assets hold no data; the page calls /v1/reports/* with a key.
    ("GET", "/reports"): ANY_KEY,
    ("GET", "/reports/static/{name}"): ANY_KEY,
}
# Answered without an Authorization header: probes (a platform's probes send no key) and the page shell.
NO_KEY_NEEDED = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/reports"), ("GET", "/reports/static/{name}")}
# Of those, the ones that check a key when one is sent (and refuse a bad one, like every other route).
KEY_CHECKED_IF_SENT = {("GET", "/readyz")}
CHAT = {"model": "bank-standard", "messages": [{"role": "user", "content": "Hello"}]}
BODIES = {
    "/v1/chat/completions": CHAT,
    "/v1/messages": {**CHAT, "max_tokens": 16},
    "/v1/responses": {"model": "bank-standard", "input": "Hello"},
    "/v1/embeddings": {"model": "bank-standard", "input": "Hello"},
}
ANTHROPIC_SHAPED = {"/v1/messages"}  # its errors are Anthropic's: {"type": "error", "error": {"type", "message"}}


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")

    def factory(name: str, target: Target) -> ScriptedAdapter:
        return ScriptedAdapter(name, "Fine.")

    config = Config(policy=str(POLICY), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)
    application = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    async with application.router.lifespan_context(application):
        yield application


def _routes(app: Any) -> set[tuple[str, str]]:
    found = {(method, path) for path, route in endpoints(app.routes) for method in route.methods if method != "HEAD"}
    found |= {(endpoint.method, path) for path, endpoint in ENDPOINTS.items()}  # the data plane's
    assert len(found) >= 8, "the app's routes could not be listed"
    return found


async def _call(client: httpx.AsyncClient, method: str, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if path in BODIES:
        return await client.post(path, json=BODIES[path], headers=headers)
    return await client.request(method, path, headers=headers)


def test_every_route_is_in_the_matrix(app: Any) -> None:
    assert _routes(app) - set(MATRIX) == set(), "add the new endpoint to MATRIX and docs/security.md"


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_its_endpoints(app: Any, role: str) -> None:
    _, key = app.state.gateway.keys.create("team-a", [role])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        for method, path in sorted(_routes(app)):
            response = await _call(client, method, path, key)
            if role in MATRIX[(method, path)]:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
                assert response.status_code < 500 or path == "/readyz", (method, path, response.text)
            else:
                assert response.status_code == 403, (method, path, role)
                if path in ANTHROPIC_SHAPED:
                    assert response.json()["error"]["type"] == "permission_error"
                else:
                    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("credential", ["none", "unknown", "revoked", "malformed"])
async def test_without_a_valid_key_only_probes_and_the_page_shell_answer(app: Any, credential: str) -> None:
    keys = app.state.gateway.keys
    key_id, key = keys.create("team-a", list(ROLES))
    presented: str | None = {"none": None, "unknown": "vr-" + "x" * 43, "revoked": key, "malformed": "%%%"}[credential]
    if credential == "revoked":
        assert keys.revoke(key_id)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        for method, path in sorted(_routes(app)):
            response = await _call(client, method, path, presented)
            if (method, path) in NO_KEY_NEEDED and (presented is None or (method, path) not in KEY_CHECKED_IF_SENT):
                assert response.status_code in (200, 404), (method, path)  # 404: no such asset
                continue
            assert response.status_code == 401, (method, path, credential)
            shape = {"message", "type"} if path in ANTHROPIC_SHAPED else {"message", "type", "code", "param"}
            assert set(response.json()["error"]) == shape
            assert key not in response.text


async def test_a_key_limited_to_models_sees_and_uses_only_those(app: Any) -> None:
    _, key = app.state.gateway.keys.create("team-a", ["user"], ["bank-standard"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        headers = {"Authorization": f"Bearer {key}"}
        models = (await client.get("/v1/models", headers=headers)).json()
        assert [m["id"] for m in models["data"]] == ["bank-standard"]
        body = {**CHAT, "model": "bank-premium"}
        response = await client.post("/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


async def test_readiness_details_are_for_operators(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        _, user = app.state.gateway.keys.create("team-a", ["user"])
        _, monitor = app.state.gateway.keys.create("ops", ["monitor"])
        plain = (await client.get("/readyz", headers={"Authorization": f"Bearer {user}"})).json()
        detailed = (await client.get("/readyz", headers={"Authorization": f"Bearer {monitor}"})).json()
    assert set(plain) == {"status", "policy_version"}
    assert {"targets", "database"} <= set(detailed)


async def test_a_probe_without_a_key_gets_the_status_only(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        ready = await client.get("/readyz")
        live = await client.get("/healthz")
        app.state.gateway.ready = False  # as during start-up or shutdown
        not_ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (not_ready.status_code, not_ready.json()) == (503, {"status": "not_ready"})


async def test_every_response_carries_a_request_id(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        for response in (await client.get("/healthz"), await client.get("/metrics"), await client.get("/nope")):
            assert len(response.headers["x-request-id"]) == 24
