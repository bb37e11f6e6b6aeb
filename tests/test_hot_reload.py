"""Hot reload against a running server: valid changes go live between requests,
in-flight requests finish under the version they started with, and a broken
file is refused while the old policy keeps serving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from adapters.base import Chunk, ModelCall
from gateway.app import create_app
from gateway.config import Config
from gateway.policy.model import Target
from tests.fakes import KeywordClassifier, ScriptedAdapter
from tests.upstreams.loopback import LoopbackServer

POLICY = Path(__file__).parent / "data" / "routing.yaml"


class SlowAdapter(ScriptedAdapter):
    async def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        await asyncio.sleep(0.3)
        async for chunk in super().stream(call):
            yield chunk


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, Path]]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.read_text())

    def factory(name: str, target: Target) -> ScriptedAdapter:
        return SlowAdapter(name, f"Answer from {name}.")

    config = Config(policy=str(policy), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0.1)
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    with LoopbackServer(app, lifespan="on") as running:
        _, key = app.state.gateway.keys.create("ops", ["user", "compliance"])
        yield running.url, key, policy


def _chat(client: httpx.Client, url: str, key: str) -> httpx.Response:
    return client.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json={"model": "bank-standard", "messages": [{"role": "user", "content": "hi"}]})


def test_valid_change_goes_live_without_failing_in_flight_requests(server: tuple[str, str, Path]) -> None:
    url, key, policy = server
    with httpx.Client(timeout=30) as client:
        before = _chat(client, url, key)
        assert before.headers["x-gateway-route"] == "default"
        old_version = before.headers["x-gateway-policy"]

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            in_flight = [pool.submit(_chat, httpx.Client(timeout=30), url, key) for _ in range(8)]
            time.sleep(0.05)
            policy.write_text(policy.read_text().replace("- name: default\n", "- name: everyday\n"))
            results = [f.result() for f in in_flight]
        assert all(r.status_code == 200 for r in results)
        assert {r.headers["x-gateway-route"] for r in results} <= {"default", "everyday"}

        deadline = time.monotonic() + 10
        while (after := _chat(client, url, key)).headers["x-gateway-route"] != "everyday":
            assert time.monotonic() < deadline, "the new policy never went live"
            time.sleep(0.1)
        assert after.headers["x-gateway-policy"] != old_version
        status = client.get(f"{url}/admin/policy", headers={"Authorization": f"Bearer {key}"}).json()
        assert status["version"] == after.headers["x-gateway-policy"] and status["error"] is None


def test_invalid_change_is_refused_and_the_old_policy_keeps_serving(server: tuple[str, str, Path]) -> None:
    url, key, policy = server
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=30) as client:
        version = _chat(client, url, key).headers["x-gateway-policy"]
        policy.write_text(policy.read_text().replace("targets: [onprem]\n", "targets: [no-such-target]\n", 1))
        reload = client.post(f"{url}/admin/policy/reload", headers=auth)
        assert reload.status_code == 422
        problems = reload.json()["error"]["problems"]
        assert any("no-such-target" in p and ":" in p for p in problems)
        still = _chat(client, url, key)
        assert still.status_code == 200 and still.headers["x-gateway-policy"] == version
        assert client.get(f"{url}/admin/policy", headers=auth).json()["error"] is not None
