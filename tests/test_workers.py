"""``gateway serve --workers 2``: two processes on one port, one ledger, one audit chain.

The server runs as a subprocess with a content-blind policy in front of a real
OpenAI-compatible server on loopback. Concurrent requests are spread over the
two workers by the kernel; every one is answered, lands once in the shared
SQLite ledger, and the audit chain both workers extended verifies.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from gateway.ledger.schema import ledger
from tests.resilience.servers import free_port
from tests.upstreams.openai_server import OpenAIUpstream

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
POLICY = """
version: 1
name: workers
levels: [public, internal, confidential, restricted]
classification: {{default_level: internal, on_error: restricted, entities: {{}}}}
targets:
  onprem:
    kind: openai_compatible
    api_base: {api_base}
    model: served-model
    api_key_env: WORKERS_UPSTREAM_KEY
    residency: on_prem
models:
  bank-standard: {{tier: standard}}
routes:
  - name: default
    targets: [onprem]
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path, Path]]:
    work = tmp_path_factory.mktemp("workers")
    with OpenAIUpstream(api_key="sk-workers") as upstream:
        (work / "policy.yaml").write_text(POLICY.format(api_base=upstream.base_url))
        port = free_port()
        config = work / "config.yaml"
        config.write_text(
            f"var_dir: {work}\npolicy: {work / 'policy.yaml'}\ndatabase_url: sqlite:///{work}/gateway.db\n"
            f"port: {port}\npolicy_watch_s: 0\n"
        )
        env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_CONFIG", "GATEWAY_POLICY", "DATABASE_URL")}
        env["WORKERS_UPSTREAM_KEY"] = "sk-workers"
        created = subprocess.run(
            [sys.executable, "-m", "gateway", "keys", "create", "--team", "payments", "--config", str(config)],
            env=env, capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        key = re.search(r"key:\s+(\S+)", created.stdout).group(1)  # type: ignore[union-attr]
        log = work / "server.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--workers", "2"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while log.read_text().count("Application startup complete") < 2:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the workers did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        try:
            yield base, key, config, work
        finally:
            proc.terminate()
            proc.wait(60)


def _stored(work: Path, ids: set[str], expected: int) -> int:
    engine = create_engine(f"sqlite:///{work}/gateway.db")
    deadline = time.monotonic() + 20
    try:
        while True:
            with engine.connect() as conn:
                query = select(func.count()).select_from(ledger).where(ledger.c.request_id.in_(ids))
                count = int(conn.execute(query).scalar() or 0)
            if count >= expected or time.monotonic() > deadline:
                return count
            time.sleep(0.2)
    finally:
        engine.dispose()


async def _many(base: str, key: str, n: int) -> list[httpx.Response]:
    body = {"model": "bank-standard", "messages": [{"role": "user", "content": "Hello"}]}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=30) as client:  # fmt: skip
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=body) for _ in range(n)))


def test_two_workers_share_one_ledger_and_one_audit_chain(served: tuple[str, str, Path, Path]) -> None:
    base, key, config, work = served
    responses = asyncio.run(_many(base, key, 60))
    assert [r.status_code for r in responses] == [200] * 60
    ids = {r.headers["x-request-id"] for r in responses}
    assert len(ids) == 60
    assert _stored(work, ids, expected=60) == 60  # each worker writes its batches within a fifth of a second
    time.sleep(0.5)  # the audit writers flush on the same schedule
    verified = subprocess.run([sys.executable, "-m", "gateway", "audit", "verify", "--config", str(config)],
                              capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert re.search(r"ok: (\d+) records", verified.stdout)
    assert int(re.search(r"ok: (\d+) records", verified.stdout).group(1)) >= 60  # type: ignore[union-attr]


def _requests_total(text: str) -> float:
    lines = text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("gateway_requests_total{"))


def test_one_scrape_counts_the_requests_of_every_worker(served: tuple[str, str, Path, Path]) -> None:
    base, key, config, _ = served
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_CONFIG", "GATEWAY_POLICY", "DATABASE_URL")}
    created = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "create", "--team", "ops", "--role", "monitor", "--config",
         str(config)], env=env, capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    found = re.search(r"key:\s+(\S+)", created.stdout)
    assert found is not None
    monitor = {"Authorization": f"Bearer {found.group(1)}"}

    def scrapes(n: int) -> list[str]:  # a new connection each time: the kernel hands them to either worker
        return [httpx.get(f"{base}/metrics", headers=monitor, timeout=10).text for _ in range(n)]

    time.sleep(1.2)  # the snapshots of earlier traffic are written
    before = {_requests_total(text) for text in scrapes(6)}
    assert len(before) == 1
    responses = asyncio.run(_many(base, key, 12))
    assert [r.status_code for r in responses] == [200] * 12
    time.sleep(1.2)  # each worker publishes its counters every 0.5 s
    after = scrapes(8)
    assert {_requests_total(text) for text in after} == {before.pop() + 12}  # the replica's truth, every time
    for text in after:
        assert "gateway_workers 2.0" in text
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
            assert f"\n{name} " in text, name
