"""Two gateway processes sharing Redis and PostgreSQL cannot together overspend a
team's budget by more than one request's worth, even with requests in flight on
both at once. (Each alone would admit the whole budget: the counter is shared.)

The processes are built by the app factory as ``gateway serve`` builds them, with
the test classifier (``tests/ledger/served.py``); Redis, PostgreSQL, HTTP and the
upstream are real."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from gateway.budget import REDIS_PREFIX, month_of
from gateway.keys import KeyStore
from gateway.ledger.store import Database
from tests.upstreams.openai_server import OpenAIUpstream

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
BUDGET = Decimal("0.05")
PER_REQUEST = Decimal("0.005")  # (20 + 30) tokens x 100 USD per million
POLICY = """
version: 1
name: replicas
levels: [public, internal]
classification: {{default_level: internal, on_error: internal}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {api_base}
    model: llama
    api_key_env: REPLICA_UPSTREAM_KEY
    residency: on_prem
    pricing: {{usd_per_million_input: 100, usd_per_million_output: 100}}
models:
  bank-standard: {{}}
routes:
  - name: default
    targets: [onprem]
budgets:
  - {{team: {team}, monthly_usd: {budget}, on_exceed: block}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def team(redis_url: str) -> Iterator[str]:
    name = f"replicas-{secrets.token_hex(4)}"
    yield name
    client = Redis.from_url(redis_url)
    client.delete(f"{REDIS_PREFIX}{month_of(datetime.now(UTC))}:{name}")
    client.close()


def test_two_processes_sharing_redis_hold_the_budget(
    team: str, redis_url: str, fresh_postgres: str, tmp_path: Path
) -> None:
    with OpenAIUpstream(api_key="sk-replicas") as upstream:
        upstream.set_reply("One two three.", prompt_tokens=20, completion_tokens=30)
        upstream.slow_stream(0.05)  # requests stay in flight on both gateways at once
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY.format(api_base=upstream.base_url, team=team, budget=BUDGET))
        db = Database(fresh_postgres)
        db.create_schema()
        _, key = KeyStore(db).create(team, ["user"])
        db.close()
        ports = [_free_port(), _free_port()]
        logs = [tmp_path / f"gateway-{p}.log" for p in ports]
        env = {**os.environ, "REPLICA_UPSTREAM_KEY": "sk-replicas"}
        procs = []
        for port, log in zip(ports, logs, strict=True):
            command = [sys.executable, "-m", "tests.ledger.served", "--policy", str(policy), "--database-url",
                       fresh_postgres, "--redis-url", redis_url, "--port", str(port), "--var", str(tmp_path)]
            with log.open("w") as out:
                procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT))
        try:
            for proc, port, log in zip(procs, ports, logs, strict=True):
                _wait_ready(proc, port, key, log)
            statuses = asyncio.run(_burst([f"http://127.0.0.1:{p}" for p in ports], key, per_gateway=12))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)

    engine = create_engine(fresh_postgres.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        spent, answered = conn.execute(
            text("SELECT coalesce(sum(cost_usd), 0), count(*) FILTER (WHERE outcome = 'ok') "
                 "FROM ledger WHERE team = :t"),
            {"t": team},
        ).one()
    engine.dispose()
    ok, refused = statuses.count(200), statuses.count(429)
    assert ok + refused == len(statuses) == 24
    assert ok == answered and Decimal(spent) == PER_REQUEST * ok
    assert refused > 0 and ok >= 2  # both the refusal and the sharing were exercised
    assert Decimal(spent) <= BUDGET + PER_REQUEST  # never more than one request's worth over
    assert Decimal(spent) < BUDGET  # and here not even that: estimates are above the actual cost
    counter = Redis.from_url(redis_url).get(f"{REDIS_PREFIX}{month_of(datetime.now(UTC))}:{team}")
    assert counter is not None and Decimal(int(counter)) / 10**10 == Decimal(spent)


async def _burst(urls: list[str], key: str, per_gateway: int) -> list[int]:
    body = {"model": "bank-standard", "messages": [{"role": "user", "content": "Count to three."}],
            "max_tokens": 40, "stream": True}

    async def one(client: httpx.AsyncClient, url: str) -> int:
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {key}"}) as response:
            await response.aread()
            return response.status_code

    async with httpx.AsyncClient(timeout=60) as client:
        return list(await asyncio.gather(*(one(client, url) for url in urls for _ in range(per_gateway))))


def _wait_ready(proc: subprocess.Popen[bytes], port: int, key: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"gateway exited early:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", headers={"Authorization": f"Bearer {key}"})
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"gateway not ready in time:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
