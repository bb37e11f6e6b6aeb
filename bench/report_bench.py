"""The finance reports on a ledger of 10 million rows in PostgreSQL.

    .venv/bin/python -m bench.report_bench [--rows 10000000] [--admin-url postgresql://postgres@127.0.0.1:5432/test]

Creates a database of its own (``bench_ledger``) on the PostgreSQL server at
``--admin-url`` (default ``DATABASE_URL``, else the local one), prepares the
gateway's schema there (the migrations, the rollup trigger included), bulk-loads
the synthetic rows with ``COPY`` (a year of traffic: 40 teams, 400 keys, 10
routes, 6 targets, 3 virtual models, 4 levels; time-ordered as a ledger grows),
then measures, each the median of ``--runs``:

- the month-by-team report (``build_report``, November, ``group_by=team``), as the
  gateway reads it (the daily rollup) and straight from the ledger (what it did
  before the rollup; ``--ledger-runs``, they are slow);
- the finance page's API, through a real ``gateway serve`` on loopback: the six
  calls the page makes together for a month (``/v1/reports/costs`` by day and
  route, residency, day, team, route, and ``/v1/reports/budgets``), from the
  first request to the last answer.

The database is dropped at the end. Results: ``bench/results/reports-10m.md``
and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import yaml

from gateway.ledger.store import Database
from gateway.reports.query import ReportQuery, build_report

ROOT = Path(__file__).resolve().parent.parent
ROLLUP_ALL = importlib.import_module("gateway.ledger.migrations.versions.0003_daily_rollup")._UPSERT.format(
    source="ledger")  # the migration's own backfill statement
RESULTS = ROOT / "bench" / "results"
DATABASE = "bench_ledger"
KEY = "vr-bench-finance"
COLUMNS = ("request_id", "ts", "key_id", "team", "model", "tier", "level", "entity_types", "route", "target",
           "target_model", "residency", "policy_version", "estimated_input_tokens", "prompt_tokens",
           "completion_tokens", "cached_prompt_tokens", "cost_usd", "reference_cost_usd", "latency_ms", "cache_status",
           "attempts", "attempt_log", "stream", "outcome", "status_code", "usage_source", "cache_saved_usd")
POLICY = """
version: 1
name: bench-reports
levels: [public, internal, confidential, restricted]
classification: {default_level: internal, on_error: restricted}
targets:
  onprem: {kind: openai_compatible, api_base: "http://127.0.0.1:9/v1", model: llama, residency: on_prem}
models:
  bank-standard: {}
routes:
  - name: default
    targets: [onprem]
budgets:
"""


def _templates(count: int, seed: int = 7) -> list[str]:
    """Row tails (every column after ``ts``), varied as real traffic is: a policy's route follows from the
    level and the virtual model, its first target answers nearly always, a few requests are refused."""
    rng = random.Random(seed)
    teams = [f"team-{i:02d}" for i in range(40)]
    models = ["bank-standard", "bank-premium", "bank-code"]
    levels = ["public", "internal", "internal", "confidential", "restricted"]
    targets = {"onprem-llama": ("meta-llama/Llama-3.1-8B", "on_prem"), "local-small": ("smollm2", "on_prem"),
               "vllm-70b": ("Llama-3.1-70B", "on_prem"), "gpt-4o": ("openai/gpt-4o", "external"),
               "gpt-4o-mini": ("openai/gpt-4o-mini", "external"), "claude": ("anthropic/claude-3-5", "external")}
    names = list(targets)
    routes = {(level, model): (f"route-{i}", rng.sample(names[:3] if level in ("confidential", "restricted")
                                                         else names, 2))
              for i, (level, model) in enumerate((lv, m) for lv in dict.fromkeys(levels) for m in models)}
    out = []
    for _ in range(count):
        team = rng.choice(teams)
        key = f"key-{team[-2:]}-{rng.randint(0, 9)}"
        level, model = rng.choice(levels), rng.choice(models)
        route, chain = routes[(level, model)]
        target = chain[0] if rng.random() < 0.97 else chain[1]  # a fallback now and then
        target_model, residency = targets[target]
        refused = rng.random() < 0.03
        hit = not refused and rng.random() < 0.1
        prompt, completion = rng.randint(20, 2000), rng.randint(10, 800)
        cost = "0" if hit or refused else f"{(prompt * 2.5 + completion * 10) / 1e6:.10f}"
        reference = "\\N" if refused else f"{(prompt * 2.5 + completion * 10) / 1e6:.10f}"
        fields = [key, team, model, "standard", level, "PERSON" if level == "confidential" else "",
                  "\\N" if refused else route, "\\N" if refused else target, "\\N" if refused else target_model,
                  "\\N" if refused else residency, "3f2a9c1d0b7e4a55", str(prompt + 5), str(prompt),
                  str(completion), str(rng.randint(0, prompt // 4)), cost, reference, f"{rng.uniform(50, 4000):.1f}",
                  "hit" if hit else "miss", "0" if refused else "1", "" if refused else f"{target}:ok",
                  "f", "policy_denied" if refused else "ok", "403" if refused else "200",
                  "cache" if hit else "upstream", f"{(prompt * 2.5) / 1e6:.10f}" if hit else "\\N"]
        out.append("\t".join(fields))
    return out


def _lines(rows: int, start: datetime, span: timedelta, first: int, count: int, tails: list[str]) -> Iterator[str]:
    step = span / rows
    minute_cache: dict[int, str] = {}
    for i in range(first, first + count):
        moment = start + step * i
        minute = int(moment.timestamp()) // 60
        prefix = minute_cache.get(minute)
        if prefix is None:
            minute_cache.clear()
            prefix = minute_cache[minute] = moment.strftime("%Y-%m-%d %H:%M")
        yield f"{i:024x}\t{prefix}:{moment.second:02d}.{moment.microsecond:06d}+00\t{tails[i % len(tails)]}\n"


def load(url: str, rows: int, chunk: int = 1_000_000) -> dict[str, float]:
    """COPY ``rows`` rows. As a bulk import would: the secondary indexes are built after the load, and the
    rollup once at the end with the migration's own statement (its trigger is off during the COPY)."""
    tails = _templates(20_000)
    start, span = datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=365)
    timings: dict[str, float] = {}
    began = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ledger' "
                               "AND indexname <> 'ledger_pkey'").fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("ALTER TABLE ledger DISABLE TRIGGER ledger_daily_add")
        for first in range(0, rows, chunk):
            with conn.cursor() as cur, cur.copy(f"COPY ledger ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                block: list[str] = []
                for line in _lines(rows, start, span, first, min(chunk, rows - first), tails):
                    block.append(line)
                    if len(block) == 20_000:
                        copy.write("".join(block))
                        block = []
                if block:
                    copy.write("".join(block))
            print(f"  loaded {first + min(chunk, rows - first):,} rows ({time.monotonic() - began:.0f} s)", flush=True)
        timings["copy_s"] = time.monotonic() - began
        conn.execute("ALTER TABLE ledger ENABLE TRIGGER ledger_daily_add")
        conn.execute(ROLLUP_ALL)
        timings["rollup_s"] = time.monotonic() - began - timings["copy_s"]
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE ledger")
        conn.execute("VACUUM ANALYZE ledger_daily")
        timings["index_and_analyze_s"] = time.monotonic() - began - timings["copy_s"] - timings["rollup_s"]
        sizes = conn.execute("SELECT pg_total_relation_size('ledger'), pg_total_relation_size('ledger_daily'), "
                             "(SELECT count(*) FROM ledger_daily)").fetchone()
        assert sizes is not None
        timings.update(ledger_bytes=float(sizes[0]), rollup_bytes=float(sizes[1]), rollup_rows=float(sizes[2]))
    return timings


def _median_s(call: Callable[[], Any], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def _serve(url: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    policy = work / "policy.yaml"
    policy.write_text(POLICY + "".join(f"  - {{team: team-{i:02d}, monthly_usd: 5000}}\n" for i in range(40)))
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump({
        "port": port, "policy": str(policy), "database_url": url, "var_dir": str(work / "var"), "policy_watch_s": 0,
        "telemetry": {"log_level": "WARNING"},
        "keys": [{"id": "finance", "sha256": hashlib.sha256(KEY.encode()).hexdigest(), "team": "finance",
                  "roles": ["finance", "monitor"]}],
    }))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_CONFIG", "GATEWAY_POLICY", "DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=(work / "serve.log").open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gateway serve did not start:\n{(work / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(base + "/readyz", headers={"authorization": f"Bearer {KEY}"}).status_code in (200, 503):
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _page(base: str, month: tuple[str, str]) -> list[int]:
    """The six calls the page makes together (gateway/reports/static/reports.js, ``load``)."""
    period = {"from": month[0], "to": month[1]}
    groupings = ("day,route", "residency", "day", "team", "route")
    calls = [("/v1/reports/costs", {**period, "group_by": g}) for g in groupings]
    calls.append(("/v1/reports/budgets", {}))
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {KEY}"}, timeout=120) as client:
        answers = await asyncio.gather(*(client.get(path, params=params) for path, params in calls))
    return [a.status_code for a in answers]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--admin-url", default=os.environ.get("DATABASE_URL")
                        or "postgresql://postgres@127.0.0.1:5432/test")  # fmt: skip
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ledger-runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database (to measure again)")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept by --keep")
    args = parser.parse_args(argv)
    admin = args.admin_url.replace("postgresql+psycopg://", "postgresql://")
    url = f"{admin.rsplit('/', 1)[0]}/{DATABASE}"
    results: dict[str, Any] = {"rows": args.rows, "started": datetime.now(UTC).isoformat(timespec="seconds")}
    if not args.reuse:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    try:
        db = Database(url)
        db.create_schema()
        if not args.reuse:
            print(f"loading {args.rows:,} rows into {DATABASE} with COPY", flush=True)
            results["load"] = load(url, args.rows)
        month = ReportQuery.parse("2026-11-01", "2026-11-30", ["team"])
        rollup, rollup_runs = _median_s(lambda: build_report(db, month), args.runs)
        direct, direct_runs = _median_s(lambda: build_report(db, month, source="ledger"), args.ledger_runs)
        assert build_report(db, month).to_json() == build_report(db, month, source="ledger").to_json()
        results["month_by_team"] = {"p50_s": rollup, "runs_s": rollup_runs, "teams": len(build_report(db, month).rows),
                                    "ledger_rows_in_month": _count(url, "2026-11-01", "2026-12-01")}
        results["month_by_team_from_ledger"] = {"p50_s": direct, "runs_s": direct_runs}
        db.close()
        with tempfile.TemporaryDirectory() as work:
            proc, base = _serve(url, Path(work))
            try:
                asyncio.run(_page(base, ("2026-11-01", "2026-11-30")))  # a first load: connections, caches
                statuses: list[list[int]] = []
                page, page_runs = _median_s(lambda: statuses.append(asyncio.run(_page(base, ("2026-11-01",
                                                                                                "2026-11-30")))),
                                            args.runs)  # fmt: skip
            finally:
                proc.terminate()
                proc.wait(30)
        assert all(s == [200] * 6 for s in statuses), statuses
        results["page_api"] = {"p50_s": page, "runs_s": page_runs, "calls": 6}
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    _write(results)
    return 0


def _count(url: str, start: str, end: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger WHERE ts >= %s AND ts < %s", (start, end)).fetchone()
    return int(row[0]) if row else 0


def _write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reports-10m.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    load_ = results.get("load", {})
    lines = [
        f"# Reports on a ledger of {results['rows']:,} rows (PostgreSQL)", "",
        f"`python -m bench.report_bench`, {results['started']}, the shared development machine (2 cores, "
        "PostgreSQL 15, other work running). Medians of the runs listed in `reports-10m.json`.", "",
        "| what | p50 |", "|---|---|",
        "| month-by-team report, as the gateway reads it (daily rollup) | "
        f"{results['month_by_team']['p50_s'] * 1000:.0f} ms |",
        f"| the same, straight from the ledger ({results['month_by_team']['ledger_rows_in_month']:,} rows in the "
        f"month) | {results['month_by_team_from_ledger']['p50_s'] * 1000:.0f} ms |",
        f"| the finance page's API: its 6 calls for a month, together, through `gateway serve` | "
        f"{results['page_api']['p50_s'] * 1000:.0f} ms |",
    ]  # fmt: skip
    if load_:
        lines += ["", f"Load: COPY {load_['copy_s']:.0f} s, rollup {load_['rollup_s']:.0f} s, indexes and ANALYZE "
                  f"{load_['index_and_analyze_s']:.0f} s; "
                  f"ledger {load_['ledger_bytes'] / 2**30:.1f} GiB with indexes, rollup {int(load_['rollup_rows']):,} "
                  f"rows, {load_['rollup_bytes'] / 2**20:.0f} MiB."]  # fmt: skip
    (RESULTS / "reports-10m.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
