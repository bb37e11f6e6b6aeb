"""One scrape, every worker: the metrics of ``gateway serve --workers N`` merged.

Each worker keeps its own metrics (``gateway/metrics.py``: the request path's
series are plain numbers, updated without a lock). With ``--workers`` above 1,
``serve`` gives the workers a directory (``GATEWAY_METRICS_DIR``, emptied at
start) and each one writes a snapshot of its registry there every
``interval_s`` (0.5 s: collected on the event loop, written in a thread,
renamed into place), and holds ``worker-<pid>.lock`` while it lives. The
worker that answers a scrape merges its live registry with the others'
snapshots, so the answer is the replica's: counters and histograms summed over
the workers, the others at most ``interval_s`` behind. Nothing is added to
the request path.

A worker that died (its lock is free) keeps counting in its counters and
histograms (its last snapshot: a total never goes down while the replica
lives); its gauges are dropped, as prometheus_client's multi-process mode
does. Gauges are summed (queues, requests in flight, memory), except those in
``GAUGE_MERGE``: shared state every worker reads alike (the maximum), and
``gateway_shared_state_up`` (the minimum: one worker that cannot reach Redis
shows). ``gateway_workers`` says how many workers answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

METRICS_DIR_ENV = "GATEWAY_METRICS_DIR"
INTERVAL_S = 0.5
GAUGE_MERGE: dict[str, Callable[[Iterable[float]], float]] = {
    "gateway_circuit_state": max,
    "gateway_target_unavailable": max,
    "gateway_cache_degraded": max,
    "gateway_budget_spent_usd": max,
    "gateway_budget_limit_usd": max,
    "gateway_budget_soft_threshold_reached": max,
    "gateway_local_batch_size": max,
    "gateway_shared_state_up": min,
    "process_start_time_seconds": min,
    "process_max_fds": max,
}
_SUMMED = frozenset({"counter", "histogram", "summary", "gaugehistogram", "info", "stateset", "unknown"})

log = logging.getLogger("gateway.metrics")

Family = dict[str, Any]  # {"name", "type", "help", "unit", "samples": [[name, labels, value], ...]}


def prepare(directory: Path | str) -> None:
    """Empty ``directory`` for a new ``serve`` (its workers start from zero; stale snapshots would add up)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("worker-*"):
        old.unlink(missing_ok=True)


class WorkerMetrics:
    """This worker's side: write its snapshots, and merge everyone's at a scrape."""

    def __init__(self, registry: CollectorRegistry, directory: Path | str, *, interval_s: float = INTERVAL_S) -> None:
        self.registry = registry
        self.directory = Path(directory)
        self.interval_s = interval_s
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pid = os.getpid()
        self._snapshot = self.directory / f"worker-{self._pid}.json"
        self._lock = open(self.directory / f"worker-{self._pid}.lock", "a+b")  # noqa: SIM115 - held for life
        fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="worker-metrics")

    async def close(self) -> None:
        """A last snapshot (the counters of a worker that stops keep counting), then let go of the lock."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self._write, _families(self.registry.collect()))
        self._lock.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                families = _families(self.registry.collect())  # on the loop: the path's series live here
                await asyncio.to_thread(self._write, families)
            except OSError as exc:
                log.warning("worker metrics snapshot not written (%s)", type(exc).__name__)

    def _write(self, families: list[Family]) -> None:
        temporary = self._snapshot.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps(families))
        temporary.replace(self._snapshot)

    def collect(self) -> Iterator[Metric]:
        """The replica's metrics: this worker's live ones merged with the other workers' snapshots."""
        sources = [(_families(self.registry.collect()), True)]
        for path in self.directory.glob("worker-*.json"):
            if path == self._snapshot:
                continue
            try:
                families = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue  # removed or being replaced: its next snapshot counts
            sources.append((families, self._alive(path)))
        yield from _merge(sources)

    def _alive(self, snapshot: Path) -> bool:
        try:
            with open(snapshot.with_suffix(".lock"), "rb") as lock:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                return False
        except FileNotFoundError:
            return False


class MergedRegistry(Collector):
    """What ``generate_latest`` renders for a multi-worker replica."""

    def __init__(self, workers: WorkerMetrics) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        return self.workers.collect()


def _families(metrics: Iterable[Metric]) -> list[Family]:
    return [
        {"name": m.name, "type": m.type, "help": m.documentation, "unit": m.unit,
         "samples": [[s.name, s.labels, s.value] for s in m.samples if not s.name.endswith("_created")]}
        for m in metrics
    ]  # fmt: skip


def _merge(sources: list[tuple[list[Family], bool]]) -> Iterator[Metric]:
    merged: dict[str, tuple[Family, dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]]] = {}
    for families, alive in sources:
        for family in families:
            if family["type"] not in _SUMMED and not alive:
                continue  # a dead worker's gauges say nothing about now
            entry = merged.setdefault(family["name"], (family, {}))
            for name, labels, value in family["samples"]:
                entry[1].setdefault((name, tuple(sorted(labels.items()))), []).append(float(value))
    for name, (family, values) in merged.items():
        metric = Metric(name, family["help"], family["type"], family.get("unit") or "")
        combine = sum if family["type"] in _SUMMED else GAUGE_MERGE.get(name, sum)
        metric.samples = [Sample(sample, dict(labels), float(combine(found)), None, None)
                          for (sample, labels), found in values.items()]  # fmt: skip
        yield metric
    workers = Metric("gateway_workers", "Worker processes of this replica whose metrics are in this scrape.", "gauge")
    workers.samples = [Sample("gateway_workers", {}, float(sum(1 for _, alive in sources if alive)), None, None)]
    yield workers
