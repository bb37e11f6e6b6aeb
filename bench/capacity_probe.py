"""What one request costs Redis and PostgreSQL: the inputs of docs/capacity.md.

    .venv/bin/python -m bench.capacity_probe [--requests 400] [--admin-url postgresql://postgres@127.0.0.1:5432/test]

Runs ``gateway serve`` (the default classifier) on a PostgreSQL database of its
own (``bench_capacity``, dropped afterwards) and a ``redis-server`` of its own on
a free port, in front of ``bench/overhead/upstream.py``, with what a production
replica enables: rate limits per key and team, a team budget, shared circuit
breakers. It sends ``--requests`` chat requests (a third carry a person's name,
none a card number), then reads the counters both servers keep: Redis's
``total_commands_processed`` and ``commandstats``, PostgreSQL's committed
transactions and rows inserted or updated per table (``pg_stat_*``), and the
gateway process's CPU time. A second pass sends the same number of requests to
a route with the response cache on (every request a miss, then the same again:
every one a hit). Results: ``bench/results/capacity.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import redis
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATABASE = "bench_capacity"
KEY = "vr-capacity-probe"
POLICY = """
version: 1
name: capacity
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {CREDIT_CARD: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential}
targets:
  onprem:
    kind: openai_compatible
    api_base: http://127.0.0.1:UPSTREAM/v1
    model: llama
    residency: on_prem
    pricing: {usd_per_million_input: 0.05, usd_per_million_output: 0.10}
models:
  bank-standard: {}
  bank-cached: {tier: cached}
routes:
  - name: cached
    when: {tier: cached}
    targets: [onprem]
    cache: {ttl_s: 3600}
  - name: default
    targets: [onprem]
budgets:
  - {team: payments, monthly_usd: 100000, on_exceed: block}
"""
PROMPTS = ("Summarise the liquidity coverage ratio rules for a retail bank in two sentences, number {n}.",
           "Draft a polite reminder to Maria Gonzalez about the overdue KYC documents, case {n}.",
           "Explain the difference between duration and convexity for a bond portfolio, variant {n}.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Any, what: str, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except (httpx.TransportError, redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def _pg(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables").fetchall()
        stats = {f"{r[0]}_{k}": int(v) for r in rows for k, v in zip(("ins", "upd"), r[1:], strict=True)}
        row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()
        stats["xact_commit"] = int(row[0]) if row else 0
    return stats


def _redis(client: redis.Redis) -> dict[str, int]:
    info = client.info("commandstats")
    out = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}
    out["_total"] = int(client.info("stats")["total_commands_processed"])
    return out


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pass(base: str, model: str, count: int, offset: int) -> None:
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for n in range(count):
            body: dict[str, Any] = {"model": model, "max_tokens": 64,
                                    "messages": [{"role": "user", "content": PROMPTS[n % 3].format(n=n + offset)}]}
            if model == "bank-cached":
                body["temperature"] = 0  # cacheable (gateway/cache/keys.py)
            response = client.post("/v1/chat/completions", json=body)
            assert response.status_code == 200, response.text


def _delta(after: dict[str, int], before: dict[str, int], count: int) -> dict[str, float]:
    return {k: round((after.get(k, 0) - before.get(k, 0)) / count, 3) for k in after
            if after.get(k, 0) != before.get(k, 0)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--admin-url", default=os.environ.get("DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/test")  # fmt: skip
    args = parser.parse_args(argv)
    admin = args.admin_url.replace("postgresql+psycopg://", "postgresql://")
    url = f"{admin.rsplit('/', 1)[0]}/{DATABASE}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    work = Path(tempfile.mkdtemp(prefix="vr-capacity-"))
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {"requests": args.requests}
    try:
        redis_port, upstream_port, port = _free_port(), _free_port(), _free_port()
        procs.append(subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(redis_port),
                                       "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL))
        procs.append(subprocess.Popen([sys.executable, "-m", "bench.overhead.upstream", "--port", str(upstream_port)],
                                      cwd=ROOT))
        (work / "policy.yaml").write_text(POLICY.replace("UPSTREAM", str(upstream_port)))
        (work / "config.yaml").write_text(yaml.safe_dump({
            "port": port, "policy": str(work / "policy.yaml"), "database_url": url, "var_dir": str(work / "var"),
            "redis_url": f"redis://127.0.0.1:{redis_port}/0", "policy_watch_s": 0,
            "telemetry": {"log_level": "WARNING", "access_log": False},
            "keys": [{"id": "probe", "sha256": hashlib.sha256(KEY.encode()).hexdigest(), "team": "payments",
                      "roles": ["user", "monitor"]}],
            "resilience": {"rate_limits": {"per_key": {"requests_per_minute": 100000, "tokens_per_minute": 10**8},
                                           "per_team": {"requests_per_minute": 100000}}},
        }))  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_CONFIG", "GATEWAY_POLICY", "DATABASE_URL",
                                                                  "REDIS_URL")}
        env.pop("GATEWAY_CACHE_SECRET", None)  # neither: a cache of this process's own, which is what is measured
        env.pop("GATEWAY_CACHE_KEY", None)
        gateway = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(work / "config.yaml")],
                                   cwd=ROOT, env=env, stdout=(work / "serve.log").open("wb"), stderr=subprocess.STDOUT)
        procs.append(gateway)
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(base + "/readyz", headers={"authorization": f"Bearer {KEY}"}).status_code == 200,
              "gateway serve", work / "serve.log")
        client = redis.Redis(port=redis_port)
        _pass(base, "bank-standard", 30, 10**6)  # warm: models loaded, connections open, budget counter present
        time.sleep(1.5)
        for name, model, offset in (("plain", "bank-standard", 0), ("cache_miss", "bank-cached", 0),
                                    ("cache_hit", "bank-cached", 0)):
            before_pg, before_redis, before_cpu = _pg(url), _redis(client), _cpu_s(gateway.pid)
            started = time.monotonic()
            _pass(base, model, args.requests, offset)
            elapsed = time.monotonic() - started
            cpu = _cpu_s(gateway.pid) - before_cpu
            time.sleep(2.0)  # the writers' batches and the statistics collector
            results[name] = {"postgres_per_request": _delta(_pg(url), before_pg, args.requests),
                             "redis_per_request": _delta(_redis(client), before_redis, args.requests),
                             "gateway_cpu_ms_per_request": round(cpu / args.requests * 1000, 3),
                             "sequential_req_per_s": round(args.requests / elapsed, 1)}
        client.close()
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "capacity.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    lines = ["# Per-request cost to Redis and PostgreSQL", "",
             f"`python -m bench.capacity_probe --requests {args.requests}`: one `gateway serve`, rate limits per key "
             "and team, a team budget, shared breakers; sequential requests. Per request:", ""]
    for name in ("plain", "cache_miss", "cache_hit"):
        r = results[name]
        lines.append(f"- **{name}**: Redis commands {r['redis_per_request']}; PostgreSQL "
                     f"{r['postgres_per_request']}; gateway CPU {r['gateway_cpu_ms_per_request']} ms")
    (RESULTS / "capacity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def writes(url: str, batch: int = 500, batches: int = 10) -> dict[str, float]:
    """Milliseconds per batch of ``batch`` rows: a ledger insert (with the rollup trigger) and an audit append
    (which holds the chain's lock for its whole transaction: the one serialised write of all replicas)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from gateway.audit.record import AttemptFact, AuditRecord
    from gateway.audit.store import AuditStore
    from gateway.ledger.store import Database

    db = Database(url)
    db.create_schema()
    store = AuditStore(db.engine, writer="probe")
    store.create_schema()
    ledger_ms, audit_ms = [], []
    for b in range(batches):
        now = datetime.now(UTC)
        rows = [{"request_id": f"w{b}-{i}", "ts": now, "key_id": "k", "team": f"team-{i % 20}", "model": "m",
                 "level": "internal", "entity_types": "", "policy_version": "v", "route": "default",
                 "target": "onprem", "residency": "on_prem", "cost_usd": Decimal("0.000012"), "cache_status": "miss",
                 "outcome": "ok", "status_code": 200} for i in range(batch)]  # fmt: skip
        records = [AuditRecord(request_id=r["request_id"], ts=now, key_id="k", team=r["team"], model="m",
                               level="internal", policy_version="v", outcome="ok", status_code=200, route="default",
                               target="onprem", residency="on_prem",
                               attempts=(AttemptFact("onprem", "on_prem", "ok"),)) for r in rows]  # fmt: skip
        started = time.perf_counter()
        db.insert_ledger(rows)
        ledger_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        store.append(records)
        audit_ms.append((time.perf_counter() - started) * 1000)
    db.close()
    return {"batch": batch, "ledger_insert_ms_p50": sorted(ledger_ms)[len(ledger_ms) // 2],
            "audit_append_ms_p50": sorted(audit_ms)[len(audit_ms) // 2]}
