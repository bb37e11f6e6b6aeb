"""The data plane's front door (``gateway/http/dataplane.py``): the same contract as any route.

``POST /v1/chat/completions`` is answered by the ``DataPlane`` middleware, not
by FastAPI's router (the path has no FastAPI route: one route per path): these
tests check that what it skips changes nothing a client can see (keys, roles,
limits, errors, streams, request ids, another method on its path), and that
every other path still reaches FastAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.config import Config, Limits
from gateway.policy.model import Target
from tests.fakes import KeywordClassifier, ScriptedAdapter

POLICY = Path(__file__).parent / "data" / "routing.yaml"
CHAT = {"model": "bank-standard", "messages": [{"role": "user", "content": "Hello"}]}


def _app(tmp_path: Path) -> Any:
    def factory(name: str, target: Target) -> ScriptedAdapter:
        return ScriptedAdapter(name, f"Answer from {name}.")

    config = Config(policy=str(POLICY), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0, limits=Limits(max_body_bytes=4096))  # fmt: skip
    return create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[httpx.AsyncClient, Any, str]]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")
    app = _app(tmp_path)
    async with app.router.lifespan_context(app):
        _, key = app.state.gateway.keys.create("payments", ["user"])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a server answers 500, it does not raise
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client, app, key


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_an_answer_with_every_header(served: tuple[httpx.AsyncClient, Any, str]) -> None:
    client, _, key = served
    response = await client.post("/v1/chat/completions", json=CHAT, headers=_auth(key))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Answer from onprem."
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert {"x-request-id", "x-gateway-level", "x-gateway-route", "x-gateway-target", "x-gateway-residency",
            "x-gateway-policy", "x-gateway-cache", "x-gateway-fallbacks", "x-gateway-cost-usd"} <= set(response.headers)
    assert response.json()["id"] == f"chatcmpl-{response.headers['x-request-id']}"


async def test_keys_and_roles(served: tuple[httpx.AsyncClient, Any, str]) -> None:
    client, app, _ = served
    missing = await client.post("/v1/chat/completions", json=CHAT)
    wrong = await client.post("/v1/chat/completions", json=CHAT, headers=_auth("vr-not-a-key"))
    _, finance = app.state.gateway.keys.create("finance", ["finance"])
    forbidden = await client.post("/v1/chat/completions", json=CHAT, headers=_auth(finance))
    assert (missing.status_code, wrong.status_code, forbidden.status_code) == (401, 401, 403)
    for response in (missing, wrong, forbidden):
        error = response.json()["error"]
        assert set(error) == {"message", "type", "code", "param"}
        assert response.headers["x-request-id"]


async def test_body_limits(served: tuple[httpx.AsyncClient, Any, str]) -> None:
    client, _, key = served
    big = {"model": "bank-standard", "messages": [{"role": "user", "content": "x" * 5000}]}
    declared = await client.post("/v1/chat/completions", json=big, headers=_auth(key))

    async def unsized() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
        yield b'{"model": "bank-standard", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}]}'

    streamed = await client.post("/v1/chat/completions", content=unsized(), headers=_auth(key))
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert streamed.json()["error"]["message"] == "The request body is larger than 4096 bytes."


async def test_bad_json_is_400_and_never_echoed(served: tuple[httpx.AsyncClient, Any, str]) -> None:
    client, _, key = served
    response = await client.post("/v1/chat/completions", content=b"{card 4111 1111 1111 1111", headers=_auth(key))
    assert response.status_code == 400 and "4111" not in response.text


async def test_streams_end_in_done(served: tuple[httpx.AsyncClient, Any, str]) -> None:
    client, _, key = served
    async with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=_auth(key)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-gateway-target"] == "onprem"
        lines = [line async for line in r.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"


async def test_a_bug_is_a_generic_500(served: tuple[httpx.AsyncClient, Any, str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    client, app, key = served

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("internal detail with card 4111 1111 1111 1111")

    monkeypatch.setattr(app.state.gateway.chat, "handle", broken)
    response = await client.post("/v1/chat/completions", json=CHAT, headers=_auth(key))
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "The gateway failed to handle the request."
    assert "4111" not in response.text and "internal detail" not in response.text


async def test_other_methods_and_paths_reach_fastapi(served: tuple[httpx.AsyncClient, Any, str]) -> None:
    client, app, key = served
    other_method = await client.get("/v1/chat/completions", headers=_auth(key))
    assert other_method.status_code == 405 and other_method.headers["allow"] == "POST"
    assert set(other_method.json()["error"]) == {"message", "type", "code", "param"}
    assert not any(getattr(route, "path", "") == "/v1/chat/completions" for route in app.routes)  # one route
    assert (await client.get("/v1/models", headers=_auth(key))).status_code == 200
    assert (await client.get("/healthz")).status_code == 200
    document = (await client.get("/openapi.json", headers=_auth(key))).json()
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["security"] == [{"bearer": []}] and "413" in chat["responses"]
