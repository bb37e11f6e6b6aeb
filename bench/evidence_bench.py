"""What the evidence journal and the multi-worker metrics cost the request path.

``python -m bench.evidence_bench`` (a few seconds): per record, ``BatchWriter.record`` with the
journal (a ledger row or an audit record encoded and written to the page cache) against the same
writer without one; and, per snapshot, what a worker of ``gateway serve --workers N`` spends every
0.5 s publishing its metrics (``gateway/workermetrics.py``; nothing is added per request). Results in
``bench/results/evidence.md``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from gateway.audit.record import AttemptFact, AuditRecord
from gateway.audit.writer import AuditSpool
from gateway.evidence.writer import BatchWriter
from gateway.ledger.spool import LedgerSpool
from gateway.metrics import Metrics
from gateway.workermetrics import WorkerMetrics, _families

RESULTS = Path(__file__).parent / "results" / "evidence.md"
N = 20_000


def _row(i: int) -> dict[str, Any]:
    return {"request_id": f"{i:024x}", "ts": datetime.now(UTC), "key_id": "key_1", "team": "payments",
            "model": "bank-standard", "tier": "standard", "level": "confidential", "entity_types": "PERSON",
            "route": "sensitive", "target": "onprem", "target_model": "llama", "residency": "on_prem",
            "policy_version": "3f2a9c1d0b7e", "estimated_input_tokens": 42, "prompt_tokens": 40,
            "completion_tokens": 120, "cost_usd": Decimal("0.0000140000"), "price_input_per_m": Decimal("0.05"),
            "price_output_per_m": Decimal("0.10"), "latency_ms": 812.4, "cache_status": "miss", "attempts": 1,
            "attempt_log": "onprem:ok", "stream": False, "outcome": "ok", "status_code": 200}


def _record(i: int) -> AuditRecord:
    return AuditRecord(request_id=f"{i:024x}", ts=datetime.now(UTC), key_id="key_1", team="payments",
                       model="bank-standard", level="confidential", policy_version="3f2a9c1d0b7e", outcome="ok",
                       status_code=200, entity_types=("PERSON",), route="sensitive", target="onprem",
                       residency="on_prem", attempts=(AttemptFact("onprem", "on_prem", "ok"),))


def _per_call_us(call: Callable[[int], None], n: int = N) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for i in range(n):
            call(i)
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)


async def main() -> None:
    lines = ["# Evidence journal and worker metrics: cost", "", f"`python -m bench.evidence_bench`, {N:,} calls "
             "a run, median of 5 runs, on the shared development machine (load average "
             f"{os.getloadavg()[0]:.1f} on 2 cores at the start: figures are inflated accordingly).", "",
             "| what | µs per call |", "|---|---|"]
    with tempfile.TemporaryDirectory() as work:
        for name, make, journal in (
            ("ledger row, in memory only", _row, None),
            ("ledger row, journal (encode + write)", _row, LedgerSpool(Path(work) / "ledger")),
            ("audit record, in memory only", _record, None),
            ("audit record, journal (encode + write)", _record, AuditSpool(Path(work) / "audit")),
        ):
            writer: BatchWriter[Any, Any] = BatchWriter("bench", lambda batch: None, journal=journal,
                                                        batch_size=10**9)
            items = [make(i) for i in range(N)]
            cost = _per_call_us(lambda i, w=writer, it=items: w.record(it[i]))  # type: ignore[misc]
            lines.append(f"| {name} | {cost:.2f} |")
            await writer.close()
        metrics = Metrics()
        for i in range(2000):  # a busy replica's series: routes x targets x levels x statuses
            route, target = f"route{i % 8}", f"target{i % 6}"
            metrics.requests.labels(route, target, "internal", "on_prem", str(200 + i % 5)).inc()
            metrics.latency.labels(route).observe(0.01 * (i % 30))
            metrics.upstream.labels(target, "ok").observe(0.02)
        for stage in ("auth", "parse", "classify", "decide", "cache", "adapter", "ledger"):
            metrics.stage(stage).observe(0.0001)
        workers = WorkerMetrics(metrics.registry, Path(work) / "metrics")
        families = _families(metrics.registry.collect())
        samples = sum(len(f["samples"]) for f in families)
        collect = _per_call_us(lambda _: _families(metrics.registry.collect()), 200)
        write = _per_call_us(lambda _: workers._write(families), 200)
        encoded = len(orjson.dumps(families))
        merge = _per_call_us(lambda _: list(workers.collect()), 200)
        lines += [
            f"| worker metrics snapshot: collect on the event loop ({samples} samples) | {collect:.0f} |",
            f"| worker metrics snapshot: encode and write in a thread ({encoded / 1024:.0f} KiB) | {write:.0f} |",
            f"| a scrape's merge (this worker alone) | {merge:.0f} |",
            "", "A snapshot every 0.5 s: the event loop spends the collect time twice a second, whatever the "
            "request rate; nothing is added per request.",
        ]
        workers._lock.close()
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
