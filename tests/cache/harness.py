"""A gateway with a real Redis cache and a real upstream on loopback, driven in-process.

The app runs under ``httpx.ASGITransport``; the upstream is ``OpenAIUpstream``
(real HTTP on 127.0.0.1) behind the real ``openai_compatible`` adapter; the
cache store is the real ``RedisCache`` on the Redis at ``redis_url``. Each
gateway gets its own key prefix, so tests sharing one Redis never see each
other's entries. Only the classifier is the keyword fake: classification is
not what these tests are about, and the real one takes seconds to load.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from gateway.app import create_app
from gateway.config import CacheSettings, Config
from tests.fakes import KeywordClassifier
from tests.upstreams.openai_server import OpenAIUpstream

POLICY = """
version: 1
name: cache-tests
levels: [public, internal, confidential, restricted]
classification:
  default_level: public
  on_error: restricted
  entities: {{EMAIL_ADDRESS: confidential, CREDIT_CARD: restricted}}
targets:
  up:
    kind: openai_compatible
    api_base: {api_base}
    model: test-model
    api_key_env: CACHE_TEST_UPSTREAM_KEY
    residency: on_prem
    pricing: {{usd_per_million_input: 1.0, usd_per_million_output: 2.0}}
models:
  bank-standard: {{tier: standard}}
  bank-shared: {{tier: shared}}
  bank-short: {{tier: short}}
  bank-loose: {{tier: loose}}
  bank-uncached: {{tier: uncached}}
routes:
  - name: shared
    when: {{model: [bank-shared]}}
    targets: [up]
    cache: {{ttl_s: 60, max_level: public, scope: organisation}}
  - name: short
    when: {{model: [bank-short]}}
    targets: [up]
    cache: {{ttl_s: 1}}
  - name: loose
    when: {{model: [bank-loose]}}
    targets: [up]
    cache: {{ttl_s: 60, nondeterministic: true}}
  - name: uncached
    when: {{model: [bank-uncached]}}
    targets: [up]
  - name: default
    targets: [up]
    cache: {{ttl_s: 60}}
"""


class CacheGateway:
    """One gateway app, its API keys by team, and a view of its Redis entries."""

    def __init__(self, app: Any, client: httpx.AsyncClient, prefix: str, redis_url: str) -> None:
        self.app = app
        self.client = client
        self.prefix = prefix
        self.redis = redis.Redis.from_url(redis_url)
        self.keys: dict[str, str] = {}

    @property
    def state(self) -> Any:
        return self.app.state.gateway

    def key_for(self, team: str) -> str:
        if team not in self.keys:
            _, self.keys[team] = self.state.keys.create(team, ["user", "admin"])
        return self.keys[team]

    def headers(self, team: str = "payments", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key_for(team)}", **extra}

    async def chat(
        self, content: str, *, team: str = "payments", model: str = "bank-standard", cache_control: str = "",
        **params: Any,
    ) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": content}], "temperature": 0, **params}
        extra = {"Cache-Control": cache_control} if cache_control else {}
        return await self.client.post("/v1/chat/completions", json=body, headers=self.headers(team, **extra))

    async def stream(
        self, content: str, *, team: str = "payments", model: str = "bank-standard", cache_control: str = "",
        **params: Any,
    ) -> tuple[httpx.Headers, list[str]]:
        """The headers and the ``data:`` payloads of a streamed request."""
        body = {"model": model, "messages": [{"role": "user", "content": content}], "temperature": 0,
                "stream": True, **params}
        headers = self.headers(team, **({"Cache-Control": cache_control} if cache_control else {}))
        async with self.client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
            assert r.status_code == 200
            lines = [line[6:] async for line in r.aiter_lines() if line.startswith("data: ")]
            return r.headers, lines

    def entries(self) -> dict[bytes, bytes]:
        """This gateway's cache entries in Redis: key name -> stored value."""
        found: dict[bytes, bytes] = {}
        for name in self.redis.scan_iter(match=self.prefix + "*", count=1000):
            value = self.redis.get(name)
            if isinstance(value, bytes):
                found[bytes(name)] = value
        return found


def streamed_text(lines: list[str]) -> str:
    chunks = [orjson.loads(line) for line in lines if line != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@contextlib.asynccontextmanager
async def cache_gateway(
    tmp_path: Path, upstream: OpenAIUpstream, redis_url: str, *, prefix: str | None = None, **cache: Any
) -> AsyncIterator[CacheGateway]:
    """A gateway on ``redis_url``; ``cache`` overrides ``CacheSettings`` fields."""
    work = tmp_path / secrets.token_hex(4)
    work.mkdir()
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(api_base=upstream.base_url))
    prefix = prefix or f"gw:test:{secrets.token_hex(6)}:"
    settings = CacheSettings(**{"timeout_s": 0.25, "retry_s": 0.05, "key_prefix": prefix, **cache})
    config = Config(policy=str(policy), database_url=f"sqlite:///{work}/gw.db", var_dir=str(work),
                    policy_watch_s=0, redis_url=redis_url, cache=settings)
    app = create_app(config, classifier=KeywordClassifier())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30) as client:
            gateway = CacheGateway(app, client, prefix, redis_url)
            try:
                yield gateway
            finally:
                for name in gateway.redis.scan_iter(match=prefix + "*", count=1000):
                    gateway.redis.delete(name)
                gateway.redis.close()
