"""Fixtures for the resilience tests: the real gateway served on loopback, real upstreams with faults.

``gateway_server`` runs ``create_app`` under uvicorn in a thread (real HTTP, real
lifespan), with the real classifier (loaded once per session), real adapters
(``openai_compatible`` for the on-prem target, litellm for the external one)
talking to two loopback OpenAI servers that misbehave on demand, a real SQLite
or PostgreSQL ledger and, where a test asks for it, real Redis.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, select

from gateway.app import create_app
from gateway.classify.base import Classification, Classifier, PolicyRecognizer
from gateway.config import Config
from gateway.ledger.schema import ledger
from tests.upstreams.loopback import LoopbackServer
from tests.upstreams.openai_server import OpenAIUpstream

EXTERNAL_KEY_ENV = "RESILIENCE_EXTERNAL_KEY"
EXTERNAL_KEY = "sk-resilience-external"
CARD = "My card 4111 1111 1111 1111 was declined at the ATM, why?"

POLICY = """
version: 1
name: resilience
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, IBAN_CODE: restricted, EMAIL_ADDRESS: confidential}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: onprem-model
    api_key_env: RESILIENCE_ONPREM_KEY
    residency: on_prem
    timeout_s: {onprem_timeout_s}
    first_token_timeout_s: 0.5
    connect_timeout_s: 0.5
    {onprem_extra}
  external:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {external}
    api_key_env: RESILIENCE_EXTERNAL_KEY
    residency: external
    max_level: internal
    timeout_s: 5
models:
  ext-first: {{tier: ext-first}}
  onprem-first: {{tier: onprem-first}}
  onprem-only: {{tier: onprem-only}}
  short-deadline: {{tier: short-deadline}}
routes:
  - name: sensitive
    when: {{level_at_least: confidential}}
    targets: [onprem, external]          # external is excluded by the invariant at these levels
  - name: ext-first
    when: {{tier: ext-first}}
    targets: [external, onprem]
  - name: onprem-first
    when: {{tier: onprem-first}}
    targets: [onprem, external]
  - name: short-deadline
    when: {{tier: short-deadline}}
    targets: [onprem, external]
    deadline_s: 1.5
  - name: onprem-only
    targets: [onprem]
"""

FAST_RESILIENCE: dict[str, Any] = {
    "retries": {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "jitter_s": 0.05, "retry_after_cap_s": 2},
    "breaker": {"consecutive_failures": 3, "open_s": 1.0, "min_calls": 50},
    "backpressure": {"queue_wait_s": 0.3},
}


class NonClosingClassifier:
    """The session's classifier, shared by every gateway: a gateway's shutdown must not close it."""

    def __init__(self, inner: Classifier) -> None:
        self._inner = inner

    async def classify(
        self, texts: Any, *, recognizers: tuple[PolicyRecognizer, ...] = (), min_score: float = 0.5,
        entities: frozenset[str] | None = None,
    ) -> Classification:
        return await self._inner.classify(texts, recognizers=recognizers, min_score=min_score, entities=entities)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (a connection to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def real_classifier() -> NonClosingClassifier:
    """Loaded once; litellm is imported here too, so that no gateway's start-up pays for it (the
    loopback server gives a start-up 10 s)."""
    from adapters.litellm_client import load_litellm
    from gateway.classify import PresidioClassifier

    load_litellm()
    classifier = PresidioClassifier()
    classifier.load()
    return NonClosingClassifier(classifier)


@pytest.fixture(scope="module")
def onprem_upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(models=("onprem-model",)) as up:
        yield up


@pytest.fixture(scope="module")
def external_upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(api_key=EXTERNAL_KEY, models=("gpt-4o-mini",)) as up:
        yield up


@pytest.fixture
def upstreams(onprem_upstream: OpenAIUpstream, external_upstream: OpenAIUpstream) -> Iterator[Upstreams]:
    onprem_upstream.reset()
    external_upstream.reset()
    onprem_upstream.set_reply("Hello from on-prem", prompt_tokens=11, completion_tokens=4)
    external_upstream.set_reply("Hello from external", prompt_tokens=11, completion_tokens=4)
    yield Upstreams(onprem_upstream, external_upstream)
    onprem_upstream.clear_faults()
    external_upstream.clear_faults()


class Upstreams:
    def __init__(self, onprem: OpenAIUpstream, external: OpenAIUpstream) -> None:
        self.onprem = onprem
        self.external = external


class RunningGateway:
    """A gateway served on loopback; ``client`` speaks HTTP to it with a user+monitor key."""

    def __init__(self, server: LoopbackServer, app: Any, key: str, database_url: str) -> None:
        self.server = server
        self.app = app
        self.key = key
        self.database_url = database_url
        self.client = httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {key}"}, timeout=30)

    @property
    def state(self) -> Any:
        return self.app.state.gateway

    @property
    def url(self) -> str:
        return self.server.url

    def chat(self, content: str = "What is a basis point?", model: str = "onprem-only", **extra: Any) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
        return self.client.post("/v1/chat/completions", json=body)

    def stream_lines(self, content: str = "Say hello.", model: str = "onprem-only") -> tuple[httpx.Response, list[str]]:
        body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": True,
                "stream_options": {"include_usage": True}}
        with self.client.stream("POST", "/v1/chat/completions", json=body) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data: ")]
        return response, lines

    def rows(self, expect: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The ledger's rows once at least ``expect`` are there (written off the request path)."""
        return wait_for_rows(self.database_url, expect, timeout_s)

    def close(self) -> None:
        self.client.close()


def wait_for_rows(database_url: str, expect: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(select(ledger).order_by(ledger.c.ts))]
            if len(rows) >= expect or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)
    finally:
        engine.dispose()


def sse_events(lines: list[str]) -> list[Any]:
    return [line[6:] if line == "data: [DONE]" else orjson.loads(line[6:]) for line in lines]


def sse_text(lines: list[str]) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in sse_events(lines)
        if isinstance(e, dict) and e.get("choices")
    )


def policy_text(onprem_url: str, external_url: str, *, onprem_timeout_s: float = 5, onprem_extra: str = "") -> str:
    return POLICY.format(
        onprem=onprem_url, external=external_url, onprem_timeout_s=onprem_timeout_s, onprem_extra=onprem_extra
    )


GatewayFactory = Callable[..., contextlib.AbstractContextManager[RunningGateway]]


@pytest.fixture
def gateway_server(
    tmp_path: Path, real_classifier: NonClosingClassifier, monkeypatch: pytest.MonkeyPatch
) -> GatewayFactory:
    """``with gateway_server(policy, resilience=..., redis_url=..., database_url=...) as gw: ...``"""
    monkeypatch.setenv(EXTERNAL_KEY_ENV, EXTERNAL_KEY)
    monkeypatch.setenv("RESILIENCE_ONPREM_KEY", "sk-onprem")

    @contextlib.contextmanager
    def start(
        policy: str,
        *,
        resilience: dict[str, Any] | None = None,
        redis_url: str | None = None,
        database_url: str | None = None,
        keys: list[dict[str, Any]] | None = None,
        key: str | None = None,
        work: Path | None = None,
    ) -> Iterator[RunningGateway]:
        """``work``: the directory for the policy, var_dir and SQLite ledger (a restart passes the same)."""
        work = work or tmp_path / secrets.token_hex(4)
        work.mkdir(exist_ok=True)
        (work / "policy.yaml").write_text(policy)
        database_url = database_url or f"sqlite:///{work}/ledger.db"
        settings = resilience if resilience is not None else FAST_RESILIENCE
        settings = {"redis_prefix": f"vr-test-{secrets.token_hex(4)}:", **settings}
        config = Config.model_validate({
            "policy": str(work / "policy.yaml"),
            "database_url": database_url,
            "redis_url": redis_url,
            "var_dir": str(work / "var"),
            "policy_watch_s": 0,
            "keys": keys or [],
            "resilience": settings,
        })
        app = create_app(config, classifier=real_classifier)  # type: ignore[arg-type]
        server = LoopbackServer(app, lifespan="on")
        server.start()
        try:
            if key is None:
                _, key_value = app.state.gateway.keys.create("payments", ["user", "monitor"])
            else:
                key_value = key
            gateway = RunningGateway(server, app, key_value, database_url)
            try:
                yield gateway
            finally:
                gateway.close()
        finally:
            server.stop()

    return start
