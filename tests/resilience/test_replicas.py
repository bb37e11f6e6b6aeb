"""Two gateway processes sharing one Redis and one PostgreSQL: one rate limit, one circuit; graceful shutdown.

Replica ``one`` is ``python -m gateway serve`` in its own process (the network
guard applies there too); replica ``two`` is the same app served by uvicorn
inside the test process (it reuses the session's classifier: loading a second
one in a second subprocess costs 10 to 20 s). Both start from the same
operator configuration, with the same static API keys, and share nothing but
Redis and PostgreSQL. The last test stops replica one with SIGTERM while it
streams an answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import yaml

from gateway.app import create_app
from gateway.config import load_config
from tests.resilience.conftest import (
    EXTERNAL_KEY,
    EXTERNAL_KEY_ENV,
    NonClosingClassifier,
    policy_text,
    sse_text,
    wait_for_rows,
)
from tests.resilience.servers import free_port, reachable
from tests.upstreams.loopback import LoopbackServer
from tests.upstreams.openai_server import OpenAIUpstream

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LIMITED_KEY = "vr-resilience-replicas-payments"  # team payments: 4 requests a minute, in all
OPS_KEY = "vr-resilience-replicas-ops"  # team ops: no rate limit


@dataclass
class Replica:
    name: str
    url: str
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def client(self, key: str = OPS_KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {key}"}, timeout=30)

    def chat(self, model: str = "onprem-only", key: str = OPS_KEY) -> httpx.Response:
        with self.client(key) as client:
            body = {"model": model, "messages": [{"role": "user", "content": "What is a basis point?"}]}
            return client.post("/v1/chat/completions", json=body)


@dataclass
class Pair:
    one: Replica
    two: Replica
    onprem: OpenAIUpstream
    external: OpenAIUpstream
    database_url: str
    redis_url: str
    prefix: str

    def reset(self) -> None:
        """Upstreams back to normal, and the shared state (limits, circuits) forgotten."""
        self.onprem.reset()
        self.external.reset()
        client = redis.Redis.from_url(self.redis_url)
        try:
            for key in client.scan_iter(match=self.prefix + "*"):
                client.delete(key)
        finally:
            client.close()


def _static_key(key: str, team: str) -> dict[str, object]:
    return {"id": team, "sha256": hashlib.sha256(key.encode()).hexdigest(), "team": team, "roles": ["user", "monitor"]}


def _start(name: str, work: Path, config: dict[str, object], env: dict[str, str]) -> Replica:
    port = free_port()
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**config, "port": port, "var_dir": str(work / name)}))
    log = work / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(path)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )
    return Replica(name, f"http://127.0.0.1:{port}", proc, log)


def _wait_ready(replica: Replica, deadline: float) -> None:
    assert replica.proc is not None and replica.log is not None
    while True:
        if replica.proc.poll() is not None:
            pytest.fail(f"replica {replica.name} exited early:\n{replica.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(replica.url + "/readyz", headers={"authorization": f"Bearer {OPS_KEY}"}).status_code == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"replica {replica.name} not ready:\n{replica.log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextlib.contextmanager
def _in_process(work: Path, config: dict[str, object], classifier: NonClosingClassifier) -> Iterator[Replica]:
    path = work / "two.yaml"
    path.write_text(yaml.safe_dump({**config, "var_dir": str(work / "two")}))
    app = create_app(load_config(str(path), environ={}), classifier=classifier)  # type: ignore[arg-type]
    server = LoopbackServer(app, lifespan="on")
    server.start()
    try:
        yield Replica("two", server.url)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, postgres_url: str, real_classifier: NonClosingClassifier
) -> Iterator[Pair]:
    import psycopg

    work = tmp_path_factory.mktemp("replicas")
    database = f"gw_replicas_{os.getpid()}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    database_url = f"{admin.rsplit('/', 1)[0]}/{database}"
    prefix = f"vr-test-replicas-{os.getpid()}-{time.time_ns()}:"
    with OpenAIUpstream(models=("onprem-model",)) as onprem, OpenAIUpstream(api_key=EXTERNAL_KEY) as external:
        (work / "policy.yaml").write_text(policy_text(onprem.base_url, external.base_url))
        config = {
            "policy": str(work / "policy.yaml"),
            "database_url": database_url,
            "redis_url": redis_url,
            "policy_watch_s": 0,
            "keys": [_static_key(LIMITED_KEY, "payments"), _static_key(OPS_KEY, "ops")],
            "telemetry": {"log_level": "WARNING"},
            "resilience": {
                "redis_prefix": prefix,
                "rate_limits": {"teams": {"payments": {"requests_per_minute": 4}}},
                "breaker": {"consecutive_failures": 3, "open_s": 60},
                "retries": {"max_attempts": 1},
                "shutdown_grace_s": 10,
            },
        }
        secrets = {EXTERNAL_KEY_ENV: EXTERNAL_KEY, "RESILIENCE_ONPREM_KEY": "sk-onprem"}
        env = {**os.environ, **secrets}
        for name in ("GATEWAY_CONFIG", "GATEWAY_POLICY", "DATABASE_URL", "REDIS_URL", "GATEWAY_PORT"):
            env.pop(name, None)
        one = _start("one", work, config, env)
        try:
            with pytest.MonkeyPatch.context() as patch:
                for name, value in secrets.items():
                    patch.setenv(name, value)
                with _in_process(work, config, real_classifier) as two:
                    _wait_ready(one, time.monotonic() + 120)
                    yield Pair(one, two, onprem, external, database_url, redis_url, prefix)
        finally:
            assert one.proc is not None
            if one.proc.poll() is None:
                one.proc.terminate()
                one.proc.wait(30)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_two_replicas_sharing_redis_enforce_one_rate_limit(pair: Pair) -> None:
    pair.reset()
    responses = [(pair.one if i % 2 == 0 else pair.two).chat(key=LIMITED_KEY) for i in range(8)]
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 4 + [429] * 4  # 4 a minute for the team in all, not 4 per replica
    assert all(int(r.headers["retry-after"]) >= 1 for r in responses[4:])
    assert {r.json()["error"]["code"] for r in responses[4:]} == {"rate_limit_exceeded"}
    assert len(pair.onprem.chat_requests) == 4  # refused requests were sent nowhere
    ids = {r.headers["x-request-id"] for r in responses[:4]}
    rows = wait_for_rows(pair.database_url, 4)
    assert ids <= {r["request_id"] for r in rows}


def test_a_circuit_opened_through_one_replica_is_open_on_the_other(pair: Pair) -> None:
    pair.reset()
    pair.onprem.fail_next(500, times=None)
    through_one = [pair.one.chat(model="onprem-first") for _ in range(3)]
    assert [r.headers["x-gateway-target"] for r in through_one] == ["external"] * 3  # fell back each time
    assert len(pair.onprem.chat_requests) == 3
    with pair.two.client() as client:
        ready = client.get("/readyz").json()
        metrics = client.get("/metrics").text
    assert ready["circuits"]["onprem"] == "open"
    assert ready["targets"]["onprem"].startswith("unavailable: circuit open (3 failures in a row)")
    assert 'gateway_circuit_state{target="onprem"} 2.0' in metrics
    through_two = pair.two.chat(model="onprem-first")
    assert through_two.headers["x-gateway-target"] == "external"
    assert len(pair.onprem.chat_requests) == 3  # replica two never tried the open target


def test_sigterm_stops_accepting_finishes_in_flight_streams_and_flushes_the_ledger(pair: Pair) -> None:
    pair.reset()
    words = " ".join(f"w{i}" for i in range(12))
    pair.onprem.set_reply(words, completion_tokens=12)
    pair.onprem.slow_stream(0.15)
    replica = pair.one
    result: dict[str, object] = {}

    def stream() -> None:
        body = {"model": "onprem-only", "messages": [{"role": "user", "content": "Count."}], "stream": True}
        with replica.client() as client, client.stream("POST", "/v1/chat/completions", json=body) as response:
            result["status"] = response.status_code
            result["request_id"] = response.headers.get("x-request-id")
            result["lines"] = [line for line in response.iter_lines() if line.startswith("data: ")]

    thread = threading.Thread(target=stream)
    thread.start()
    deadline = time.monotonic() + 10
    while not pair.onprem.chat_requests and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # a chunk or two is out
    replica.proc.send_signal(signal.SIGTERM)
    port = int(replica.url.rsplit(":", 1)[1])
    refused_by = time.monotonic() + 5
    while reachable(port) and time.monotonic() < refused_by:
        time.sleep(0.02)
    assert not reachable(port), "the replica still accepts connections after SIGTERM"
    thread.join(20)
    assert replica.proc is not None
    assert replica.proc.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    lines = result["lines"]
    assert result["status"] == 200 and isinstance(lines, list)
    assert lines[-1] == "data: [DONE]"  # the in-flight stream was finished, not cut
    assert sse_text(lines) == words
    rows = wait_for_rows(pair.database_url, 0, timeout_s=0)
    mine = [r for r in rows if r["request_id"] == result["request_id"]]
    assert len(mine) == 1 and mine[0]["outcome"] == "ok"  # written before the process exited
    assert pair.two.chat().status_code == 200  # the other replica serves on
