"""A gateway served by uvicorn on loopback, for tests that need real HTTP (streams,
disconnects, the browser): its ledger read straight from the database."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from gateway.app import create_app
from gateway.config import Config
from gateway.ledger.schema import ledger
from gateway.ledger.store import Database
from tests.fakes import KeywordClassifier
from tests.upstreams.loopback import LoopbackServer


@dataclass
class Gateway:
    url: str
    key: str
    db: Database
    app: Any

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def chat(self, model: str, messages: list[dict[str, Any]], **extra: Any) -> httpx.Response:
        body = {"model": model, "messages": messages, **extra}
        return httpx.post(f"{self.url}/v1/chat/completions", json=body, headers=self.auth, timeout=30)

    def new_key(self, team: str, roles: list[str]) -> str:
        return str(self.app.state.gateway.keys.create(team, roles)[1])

    def row(self, request_id: str) -> dict[str, Any]:
        """The ledger row of one request, once the writer has stored it."""
        [found] = self.rows_of([request_id])
        return found

    def rows_of(self, request_ids: list[str]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 10
        while True:
            with self.db.engine.connect() as conn:
                query = select(ledger).where(ledger.c.request_id.in_(request_ids)).order_by(ledger.c.ts)
                rows = [dict(r._mapping) for r in conn.execute(query)]
            if len(rows) >= len(request_ids) or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def rows(self, count: int) -> list[dict[str, Any]]:
        """The ledger once it holds ``count`` rows (the writer batches off the request path)."""
        deadline = time.monotonic() + 10
        while True:
            with self.db.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(select(ledger).order_by(ledger.c.ts))]
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


@contextlib.contextmanager
def served(policy: str, database_url: str, work: Path, *, team: str = "payments",
           roles: tuple[str, ...] = ("user",), **config: Any) -> Iterator[Gateway]:
    """Serve a gateway with ``policy`` (YAML text) on ``database_url``; a key for ``team``."""
    path = work / "policy.yaml"
    path.write_text(policy)
    settings = Config(policy=str(path), database_url=database_url, var_dir=str(work), policy_watch_s=0, **config)
    app = create_app(settings, classifier=KeywordClassifier())
    with LoopbackServer(app, lifespan="on") as server:
        state = app.state.gateway
        _, key = state.keys.create(team, list(roles))
        yield Gateway(server.url, key, state.db, app)


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.ledger.served --policy P --database-url D [--redis-url R] --port N --var V``:
    a gateway in its own process, as ``gateway serve`` builds it but with the test classifier
    (loading Presidio takes seconds and is not what these tests are about)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser()
    for name in ("--policy", "--database-url", "--port", "--var"):
        parser.add_argument(name, required=True)
    parser.add_argument("--redis-url")
    args = parser.parse_args(argv)
    settings = Config(policy=args.policy, database_url=args.database_url, redis_url=args.redis_url,
                      var_dir=args.var, policy_watch_s=0)
    app = create_app(settings, classifier=KeywordClassifier())
    uvicorn.run(app, host="127.0.0.1", port=int(args.port), log_level="warning")


if __name__ == "__main__":
    main()
