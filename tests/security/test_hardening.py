"""Hardening: limits (413), strict parsing, routing fields refused, safe YAML only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.config import Config, ConfigError, Limits, load_config
from gateway.policy.loader import PolicyError, load_text
from gateway.policy.model import Target
from gateway.protocol import ROUTING_FIELDS
from tests.fakes import KeywordClassifier, ScriptedAdapter

POLICY = Path(__file__).parent.parent / "data" / "routing.yaml"
SECRET = "canary-4111111111111111"


@pytest.fixture
async def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")
    adapters: list[ScriptedAdapter] = []

    def factory(name: str, target: Target) -> ScriptedAdapter:
        adapters.append(ScriptedAdapter(name))
        return adapters[-1]

    config = Config(policy=str(POLICY), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0, limits=Limits(max_body_bytes=4096, max_messages=3))
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    async with app.router.lifespan_context(app):
        _, key = app.state.gateway.keys.create("payments", ["user"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw",
                                     headers={"Authorization": f"Bearer {key}"}) as c:
            yield c, adapters


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "bank-standard", "messages": [{"role": "user", "content": SECRET}], **extra}


def _is_contract_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert SECRET not in response.text
    return dict(error)


REDIRECTS = sorted(ROUTING_FIELDS | {"mock_response", "mock_testing_fallbacks", "mock_timeout", "extra_headers",
                                     "api_base", "base_url", "api_key", "fallbacks"})


@pytest.mark.parametrize("field", REDIRECTS)
async def test_fields_that_would_redirect_traffic_are_refused(client: Any, field: str) -> None:
    c, adapters = client
    value: Any = {"x-upstream": "http://attacker.example"} if "header" in field else "http://attacker.example"
    response = await c.post("/v1/chat/completions", json=_body(**{field: value}))
    error = _is_contract_error(response, 400)
    assert error["code"] == "invalid_request" and field in error["message"]
    assert "attacker" not in response.text
    assert all(not a.calls for a in adapters)


@pytest.mark.parametrize("where", ["message", "stream_options", "tool_call"])
async def test_unknown_nested_fields_are_refused(client: Any, where: str) -> None:
    c, _ = client
    body = _body()
    if where == "message":
        body["messages"][0]["api_base"] = "http://attacker.example"
    elif where == "stream_options":
        body["stream_options"] = {"include_usage": True, "base_url": "http://attacker.example"}
    else:
        body["messages"].append({"role": "assistant", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}, "api_key": "sk"}]})
    _is_contract_error(await c.post("/v1/chat/completions", json=body), 400)


async def test_an_oversized_body_is_413_whether_declared_or_streamed(client: Any) -> None:
    c, adapters = client
    big = orjson.dumps(_body(user="u" * 5000))
    _is_contract_error(await c.post("/v1/chat/completions", content=big), 413)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    response = await c.post("/v1/chat/completions", content=chunks())  # no content-length: chunked
    assert _is_contract_error(response, 413)["code"] == "request_too_large"
    assert all(not a.calls for a in adapters)


async def test_too_many_messages_is_413(client: Any) -> None:
    c, _ = client
    body = _body()
    body["messages"] = [{"role": "user", "content": "hi"}] * 4
    assert _is_contract_error(await c.post("/v1/chat/completions", json=body), 413)["param"] == "messages"
    body["messages"] = body["messages"][:3]
    assert (await c.post("/v1/chat/completions", json=body)).status_code == 200


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'{"model": 1}', b"\xff\xfe", b'{"model": "bank-standard",'
                                  b' "messages": [{"role": "user", "content": "' + SECRET.encode() + b'"}], "n": 2}'])
async def test_malformed_bodies_are_400_without_echo(client: Any, body: bytes) -> None:
    c, _ = client
    _is_contract_error(await c.post("/v1/chat/completions", content=body), 400)


async def test_an_unknown_model_is_not_echoed(client: Any) -> None:
    c, _ = client
    response = await c.post("/v1/chat/completions", json={**_body(), "model": SECRET})
    _is_contract_error(response, 404)


YAML_ATTACKS = {
    "python object tag": "version: 1\nname: !!python/object/apply:os.system ['true']\n",
    "custom tag": "version: 1\nname: !env HOME\n",
    "alias": "version: 1\nname: &n x\nlevels: [*n]\n",
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    "merge key": "base: &base {x: 1}\nother:\n  <<: *base\n",
    "duplicate key": "version: 1\nversion: 2\n",
    "template": "version: 1\nname: '{{ lookup(\"env\", \"HOME\") }}'\nlevels: [a]\n",
}


@pytest.mark.parametrize("attack", sorted(YAML_ATTACKS))
def test_the_policy_loader_refuses_unsafe_yaml(attack: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_text(YAML_ATTACKS[attack], "p.yaml")
    if attack == "template":  # no tag or alias: refused by validation, and never evaluated
        assert "HOME" not in refused.value.problems[0].message or "name" in str(refused.value)
    else:
        assert refused.value.problems[0].line >= 1


@pytest.mark.parametrize("attack", sorted(set(YAML_ATTACKS) - {"template"}))
def test_the_config_loader_refuses_unsafe_yaml(attack: str, tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(YAML_ATTACKS[attack].replace("version: 1", "port: 8080").replace("version: 2", "port: 1"))
    with pytest.raises(ConfigError) as refused:
        load_config(str(path), environ={})
    assert str(path) in str(refused.value)


def test_the_config_file_cannot_hold_a_secret_inline(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("telemetry:\n  otlp_headers: 'authorization=Bearer sk-live'\n")
    with pytest.raises(ConfigError):
        load_config(str(path), environ={})
    path.write_text("keys:\n  - {id: k1, sha256: not-a-hash, team: t}\n")
    with pytest.raises(ConfigError):
        load_config(str(path), environ={})
