"""End to end: the real server, the real classifier, the real local model, litellm
calling a real HTTP server on loopback, all driven by the official ``openai`` client.

The gateway runs as ``python -m gateway serve`` in a subprocess (the network
guard is installed there too), so these tests also cover the command line.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import create_engine, select

from gateway.ledger.schema import ledger
from tests.upstreams.openai_server import OpenAIUpstream

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
CARD = "My card 4111 1111 1111 1111 was declined at the ATM, why?"

POLICY = """
version: 1
name: e2e
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, IBAN_CODE: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential}}
targets:
  local-small:
    kind: transformers
    model: smollm2-135m-instruct
    residency: on_prem
    pricing: {{usd_per_gpu_hour: 2.5, tokens_per_second: 800}}
  closed:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {api_base}
    api_key_env: E2E_UPSTREAM_KEY
    residency: external
    max_level: internal
models:
  bank-standard: {{tier: standard}}
  bank-premium: {{tier: premium}}
  closed-only: {{tier: closed}}
routes:
  - name: sensitive-stays-on-prem
    when: {{level_at_least: confidential, tier: [standard, premium]}}
    targets: [local-small]
  - name: closed-only
    when: {{tier: closed}}
    targets: [closed]
  - name: premium
    when: {{tier: premium}}
    targets: [closed, local-small]
  - name: default
    targets: [local-small]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    def __init__(self, base_url: str, key: str, database_url: str, log: Path) -> None:
        self.base_url = base_url
        self.key = key
        self.database_url = database_url
        self.log = log

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url + "/v1", api_key=self.key, max_retries=0, timeout=120)

    def ledger_rows(self) -> list[dict[str, object]]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(select(ledger).order_by(ledger.c.ts))]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(api_key="sk-e2e-upstream") as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: OpenAIUpstream, tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Gateway]:
    work = tmp_path_factory.mktemp("e2e")
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(api_base=upstream.base_url))
    database_url = f"sqlite:///{work}/gateway.db"
    port = _free_port()
    env = {
        **os.environ,
        "E2E_UPSTREAM_KEY": "sk-e2e-upstream",
        "GATEWAY_POLICY": str(policy),
        "DATABASE_URL": database_url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_MODEL_CACHE": str(model_cache),
    }
    env.pop("GATEWAY_CONFIG", None)
    config = work / "config.yaml"
    config.write_text(f"var_dir: {work}\nmodel_cache_dir: {model_cache}\npolicy_watch_s: 0\n")
    created = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "create", "--team", "payments", "--config", str(config)],
        env=env, capture_output=True, text=True, check=True, cwd=ROOT,
    )
    key = re.search(r"key:\s+(\S+)", created.stdout).group(1)  # type: ignore[union-attr]
    log = work / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"gateway exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/readyz", headers={"Authorization": f"Bearer {key}"}).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"gateway not ready in time:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    try:
        yield Gateway(base_url, key, database_url, log)
    finally:
        proc.terminate()
        proc.wait(30)


def test_local_model_answers_through_the_openai_client(gateway: Gateway) -> None:
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="bank-standard",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=24,
    )
    completion = raw.parse()
    assert "Paris" in (completion.choices[0].message.content or "")
    assert raw.headers["x-gateway-target"] == "local-small"
    assert raw.headers["x-gateway-residency"] == "on_prem"
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_local_model_streams_through_the_openai_client(gateway: Gateway) -> None:
    with gateway.client().chat.completions.with_streaming_response.create(
        model="bank-standard",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-gateway-target"] == "local-small"
        assert response.headers["x-gateway-level"] == "internal"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_closed_api_is_really_called_through_litellm(gateway: Gateway, upstream: OpenAIUpstream) -> None:
    before = len(upstream.chat_requests)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="bank-premium", messages=[{"role": "user", "content": "Explain what a yield curve is."}]
    )
    assert raw.parse().choices[0].message.content == "Hello from upstream"
    assert raw.headers["x-gateway-target"] == "closed"
    assert raw.headers["x-gateway-residency"] == "external"
    received = upstream.chat_requests[before:]
    assert len(received) == 1
    assert received[0].bearer == "sk-e2e-upstream"
    assert received[0].body["model"] == "gpt-4o-mini"
    assert received[0].body["messages"][-1]["content"] == "Explain what a yield curve is."


def test_closed_api_streams(gateway: Gateway, upstream: OpenAIUpstream) -> None:
    stream = gateway.client().chat.completions.create(
        model="bank-premium", messages=[{"role": "user", "content": "Say hello."}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello from upstream"


def test_card_number_never_arrives_at_the_closed_api(gateway: Gateway, upstream: OpenAIUpstream) -> None:
    before = len(upstream.chat_requests)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="bank-premium", messages=[{"role": "user", "content": CARD}], max_tokens=8
    )
    assert raw.headers["x-gateway-level"] == "restricted"
    assert raw.headers["x-gateway-residency"] == "on_prem"
    with pytest.raises(openai.APIStatusError) as refused:
        gateway.client().chat.completions.create(model="closed-only", messages=[{"role": "user", "content": CARD}])
    assert refused.value.status_code == 503
    assert refused.value.body["code"] == "no_target_available"  # type: ignore[index]
    assert len(upstream.chat_requests) == before
    assert all("4111" not in str(r.body) for r in upstream.requests)


def test_every_request_is_in_the_ledger_without_values(gateway: Gateway) -> None:
    deadline = time.monotonic() + 10
    while True:
        rows = gateway.ledger_rows()
        if len(rows) >= 6 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(rows) >= 6
    refused = [r for r in rows if r["outcome"] == "no_target_available"]
    assert refused and refused[0]["entity_types"] == "CREDIT_CARD" and refused[0]["target"] is None
    assert all("4111" not in str(r) for r in rows)
    assert "4111" not in gateway.log.read_text()
