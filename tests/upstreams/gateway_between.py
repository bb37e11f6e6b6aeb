"""A real gateway (uvicorn on loopback, the real classifier) between two recording loopback upstreams.

``gateway_between(tmp, policy, env={...})`` starts an external and an on-prem
``OpenAIUpstream`` (both requiring ``UPSTREAM_KEY``), writes ``policy`` with
``{external}`` and ``{onprem}`` filled in with their base URLs, serves the app
on a free port and yields a ``RunningGateway``: its URL, a user key of team
``team``, both upstreams, and an HTTP client carrying the key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.classify import PresidioClassifier
from gateway.classify.engine import DetectionEngine
from gateway.config import Config
from tests.upstreams.loopback import LoopbackServer
from tests.upstreams.openai_server import OpenAIUpstream

UPSTREAM_KEY = "sk-loopback-upstream"


@dataclass
class RunningGateway:
    url: str
    key: str
    external: OpenAIUpstream
    onprem: OpenAIUpstream
    http: httpx.Client
    database: Path

    def chat(self, body: object) -> httpx.Response:
        return self.http.post("/v1/chat/completions", content=orjson.dumps(body))

    def external_received(self) -> str:
        """Everything the external upstream received (bodies and headers), as one text."""
        return b"".join(orjson.dumps(r.body) + orjson.dumps(r.headers) for r in self.external.requests).decode()


@contextmanager
def gateway_between(
    tmp: Path, policy: str, *, engine: DetectionEngine | None = None, env: Mapping[str, str] | None = None,
    team: str = "tests",
) -> Iterator[RunningGateway]:  # fmt: skip
    external = OpenAIUpstream(api_key=UPSTREAM_KEY).start()
    onprem = OpenAIUpstream(api_key=UPSTREAM_KEY).start()
    mp = pytest.MonkeyPatch()
    for name, value in {"LOOPBACK_UPSTREAM_KEY": UPSTREAM_KEY, **(env or {})}.items():
        mp.setenv(name, value)
    path = tmp / "policy.yaml"
    path.write_text(policy.format(external=external.base_url, onprem=onprem.base_url))
    config = Config(policy=str(path), database_url=f"sqlite:///{tmp}/gw.db", var_dir=str(tmp), policy_watch_s=0)
    classifier = PresidioClassifier(engine=engine or DetectionEngine(), timeout_s=30)
    app = create_app(config, classifier=classifier)
    server = LoopbackServer(app, lifespan="on", start_timeout_s=120)  # start-up loads litellm
    server.start()
    try:
        _, key = app.state.gateway.keys.create(team, ["user"])
        http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        with http:
            yield RunningGateway(server.url, key, external, onprem, http, tmp / "gw.db")
    finally:
        server.stop()
        classifier.close()
        external.stop()
        onprem.stop()
        mp.undo()
