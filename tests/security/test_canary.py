"""The canary test: personal data sent through every path leaves no trace anywhere.

Requests carry a card number, an IBAN, a Chinese resident ID, a name and an
e-mail address, through every path: success, cache (miss then hit), stream,
classifier timeout, fallback (plain and streamed), upstream error (whose body
echoes the prompt), and refused requests. Logging is at DEBUG through the
production JSON handler, tracing is on (in-memory exporter), the cache is a
real Redis, the upstreams are real HTTP servers on loopback, the classifier is
the real one. Then every log line (and anything written to stdout or stderr),
every span (names, attributes, events, status), every metric sample, every
ledger row, every audit record and every Redis key and value is searched for
the canaries: zero hits. The upstreams, which are on-prem targets the policy
permits, are the only place they may be.
"""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select, text

from gateway.app import create_app
from gateway.classify import PresidioClassifier
from gateway.classify.engine import DetectionEngine
from gateway.config import CacheSettings, Config
from gateway.ledger.schema import ledger
from gateway.logs import configure_logging
from tests.upstreams.openai_server import OpenAIUpstream

CARD = "4539 1488 0343 6467"
IBAN = "DE89 3704 0044 0532 0130 00"
CN_ID = "11010519491231002X"
NAME = "Margarethe Vollenweider"
EMAIL = "margarethe.vollenweider@example.org"
UPSTREAM_KEY = "sk-canary-upstream-7f3a"
NEEDLES = [
    CARD, CARD.replace(" ", ""), "0343 6467", IBAN, IBAN.replace(" ", ""), "0532 0130", CN_ID, CN_ID[:14],
    NAME, "Vollenweider", "vollenweider", EMAIL, UPSTREAM_KEY,
]
PROMPT = f"Please review card {CARD}, IBAN {IBAN}, ID {CN_ID} of {NAME} <{EMAIL}>"

POLICY = """
version: 1
name: canary
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, IBAN_CODE: restricted, CN_RESIDENT_ID: restricted,
              PERSON: confidential, EMAIL_ADDRESS: confidential}}
targets:
  primary:
    kind: openai_compatible
    api_base: {primary}
    model: m-primary
    api_key_env: CANARY_UPSTREAM_KEY
    residency: on_prem
    pricing: {{usd_per_million_input: 1, usd_per_million_output: 2}}
  backup:
    kind: openai_compatible
    api_base: {backup}
    model: m-backup
    api_key_env: CANARY_UPSTREAM_KEY
    residency: on_prem
    pricing: {{usd_per_million_input: 1, usd_per_million_output: 2}}
  closed:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {closed}
    api_key_env: CANARY_UPSTREAM_KEY
    residency: external
    max_level: internal
models:
  bank-standard: {{tier: standard}}
routes:
  - name: sensitive-stays-on-prem
    when: {{level_at_least: confidential}}
    targets: [primary, backup]
    cache: {{ttl_s: 60, max_level: restricted}}
  - name: default
    targets: [closed, primary]
"""


@pytest.fixture
def upstreams() -> Iterator[dict[str, OpenAIUpstream]]:
    ups = {name: OpenAIUpstream(api_key=UPSTREAM_KEY).start() for name in ("primary", "backup", "closed")}
    try:
        yield ups
    finally:
        for up in ups.values():
            up.stop()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The production log handler at DEBUG, into a buffer; the root logger restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    configure_logging("DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


@pytest.fixture
async def gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstreams: dict[str, OpenAIUpstream], redis_url: str,
    detection_engine: DetectionEngine, json_logs: io.StringIO,
) -> AsyncIterator[tuple[Any, InMemorySpanExporter]]:
    monkeypatch.setenv("CANARY_UPSTREAM_KEY", UPSTREAM_KEY)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(**{name: up.base_url for name, up in upstreams.items()}))
    config = Config(policy=str(policy), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0, redis_url=redis_url,
                    cache=CacheSettings(key_prefix=f"canary-{secrets.token_hex(4)}:", timeout_s=2))
    exporter = InMemorySpanExporter()
    classifier = PresidioClassifier(engine=detection_engine, timeout_s=30)
    app = create_app(config, classifier=classifier, span_exporter=exporter)
    async with app.router.lifespan_context(app):
        yield app, exporter
    classifier.close()


async def test_canary_values_leave_no_trace(
    gateway: tuple[Any, InMemorySpanExporter], upstreams: dict[str, OpenAIUpstream], redis_url: str,
    detection_engine: DetectionEngine, json_logs: io.StringIO, capfd: pytest.CaptureFixture[str],
) -> None:
    app, exporter = gateway
    state = app.state.gateway
    _, key = state.keys.create("payments", ["user", "monitor"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw",
                                 headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:

        async def chat(suffix: str, **extra: Any) -> httpx.Response:
            body = {"model": "bank-standard", "messages": [{"role": "user", "content": f"{PROMPT} {suffix}"}],
                    **extra}
            if extra.get("stream"):
                async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                    await response.aread()
                    return response
            return await client.post("/v1/chat/completions", json=body)

        success = await chat("(success)")
        assert success.status_code == 200, success.text
        assert (success.headers["x-gateway-level"], success.headers["x-gateway-target"]) == ("restricted", "primary")

        miss = await chat("(cache)", temperature=0)
        hit = await chat("(cache)", temperature=0)
        assert (miss.headers["x-gateway-cache"], hit.headers["x-gateway-cache"]) == ("miss", "hit")

        streamed = await chat("(stream)", stream=True, stream_options={"include_usage": True})
        assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")

        state.chat.services.classifier = PresidioClassifier(engine=detection_engine, timeout_s=1e-6)
        timed_out = await chat("(classifier timeout)")
        state.chat.services.classifier.close()
        state.chat.services.classifier = PresidioClassifier(engine=detection_engine, timeout_s=30)
        assert timed_out.status_code == 200 and timed_out.headers["x-gateway-level"] == "restricted"

        upstreams["primary"].fail_next(500, times=None)  # its error body quotes the prompt
        fallback = await chat("(fallback)")
        assert fallback.status_code == 200 and fallback.headers["x-gateway-target"] == "backup"
        fallback_stream = await chat("(fallback stream)", stream=True)
        assert fallback_stream.status_code == 200 and fallback_stream.headers["x-gateway-target"] == "backup"

        upstreams["backup"].fail_next(500, times=None)
        failed = await chat("(upstream error)")
        assert failed.status_code in (502, 503), failed.text
        for up in upstreams.values():
            up.clear_faults()

        refused = [
            await client.post("/v1/chat/completions", json={"model": "bank-standard", "messages": [
                {"role": "user", "content": PROMPT, "bogus": PROMPT}]}),
            await client.post("/v1/chat/completions", json={"model": PROMPT, "messages": [
                {"role": "user", "content": PROMPT}]}),
            await client.post("/v1/chat/completions", content=PROMPT.encode()),
            await client.get(f"/v1/{CARD.replace(' ', '')}/{EMAIL}"),
        ]
        assert [r.status_code for r in refused] == [400, 404, 400, 404]
        metrics = (await client.get("/metrics")).text

    assert upstreams["closed"].chat_requests == []
    assert any(PROMPT in str(r.body) for r in upstreams["primary"].chat_requests)  # the canary did travel
    await state.ledger.flush()
    await state.audit.flush()

    sinks: dict[str, str] = {}
    sinks["logs"] = json_logs.getvalue()
    captured = capfd.readouterr()
    sinks["stdout+stderr"] = captured.out + captured.err
    spans = exporter.get_finished_spans()
    sinks["spans"] = "\n".join(span.to_json() for span in spans)
    sinks["metrics"] = metrics
    with state.db.engine.connect() as conn:
        sinks["ledger"] = repr([dict(r._mapping) for r in conn.execute(select(ledger))])
        sinks["audit"] = repr([dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log"))])
    sinks["redis"] = _redis_dump(redis_url)
    sinks["error bodies"] = failed.text + "".join(r.text for r in refused)

    # The sinks are not empty: what they should hold is there.
    assert '"request_id"' in sinks["logs"] and "gateway.access" in sinks["logs"]
    assert {"gateway.auth", "gateway.classify", "gateway.decide", "gateway.cache", "gateway.ledger",
            "chat m-primary", "chat m-backup", "POST /v1/chat/completions"} <= {s.name for s in spans}
    assert "gateway_requests_total" in metrics and "CREDIT_CARD" in sinks["audit"]
    assert success.headers["x-request-id"] in sinks["ledger"]
    assert len(sinks["redis"]) > 0

    hits = [(sink, needle) for sink, content in sinks.items() for needle in NEEDLES
            if needle.lower() in content.lower()]
    assert hits == []


def _redis_dump(url: str) -> str:
    """Every key and value in the Redis database, as text."""
    client = redis.Redis.from_url(url)
    out = []
    try:
        for name in client.scan_iter(count=1000):
            kind = client.type(name)
            value: Any
            if kind == b"string":
                value = client.get(name)
            elif kind == b"hash":
                value = client.hgetall(name)
            elif kind == b"list":
                value = client.lrange(name, 0, -1)
            elif kind == b"set":
                value = client.smembers(name)
            elif kind == b"zset":
                value = client.zrange(name, 0, -1)
            else:
                value = kind
            out.append(f"{name!r}={value!r}")
    finally:
        client.close()
    return "\n".join(out)


def test_the_needles_would_be_found() -> None:
    """The search itself works: a log line with a canary is a hit."""
    line = orjson.dumps({"message": f"user said {CARD}"}).decode()
    assert any(needle.lower() in line.lower() for needle in NEEDLES)
