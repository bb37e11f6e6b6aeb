"""Merging the workers' metrics: counters add up, a dead worker's gauges go, shared-state gauges are not summed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from prometheus_client import generate_latest

from gateway.metrics import Metrics
from gateway.workermetrics import MergedRegistry, WorkerMetrics, prepare

ROOT = Path(__file__).resolve().parent.parent


def _other_worker(directory: Path, *, alive: bool) -> subprocess.Popen[bytes] | None:
    """A second worker process with 5 requests and a queue of 3, which writes its snapshot and then lives
    on (``alive``) or exits."""
    script = f"""
import asyncio, os, sys
from pathlib import Path
from gateway.metrics import Metrics
async def main():
    m = Metrics()
    for _ in range(5):
        m.requests.labels("default", "onprem", "internal", "on_prem", "200").inc()
    m.gauge("gateway_ledger_pending", "Rows.", [], lambda: {{(): 3.0}})
    m.gauge("gateway_circuit_state", "State.", ["target"], lambda: {{("onprem",): 2.0}})
    m.share({str(directory)!r})
    while not Path({str(directory)!r}, f"worker-{{os.getpid()}}.json").exists():  # its first snapshot
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    if {alive!r}:
        sys.stdin.read()
    await m.close()
asyncio.run(main())
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    if alive:
        return proc
    proc.wait(10)
    return None


def _value(text: str, prefix: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.rsplit(" ", 1)[1])


async def test_counters_add_up_and_gauges_merge_by_their_meaning(tmp_path: Path) -> None:
    prepare(tmp_path)
    other = _other_worker(tmp_path, alive=True)
    try:
        ours = Metrics()
        for _ in range(7):
            ours.requests.labels("default", "onprem", "internal", "on_prem", "200").inc()
        ours.gauge("gateway_ledger_pending", "Rows.", [], lambda: {(): 1.0})
        ours.gauge("gateway_circuit_state", "State.", ["target"], lambda: {("onprem",): 2.0})
        ours.share(str(tmp_path))
        text = ours.render().decode()
        await ours.close()
    finally:
        assert other is not None and other.stdin is not None
        other.stdin.close()
        other.wait(10)
    assert _value(text, 'gateway_requests_total{level="internal"') == 12.0  # 7 here, 5 there
    assert _value(text, "gateway_ledger_pending ") == 4.0  # per-process queues add up
    assert _value(text, 'gateway_circuit_state{target="onprem"}') == 2.0  # one shared circuit, not 4
    assert _value(text, "gateway_workers ") == 2.0
    assert "process_cpu_seconds_total" in text and "_created" not in text


async def test_a_dead_workers_counters_stay_and_its_gauges_go(tmp_path: Path) -> None:
    prepare(tmp_path)
    _other_worker(tmp_path, alive=False)
    assert len(list(tmp_path.glob("worker-*.json"))) == 1  # its last snapshot stays
    ours = Metrics()
    ours.share(str(tmp_path))
    text = generate_latest(MergedRegistry(ours.workers)).decode()  # type: ignore[arg-type]
    await ours.close()
    assert _value(text, 'gateway_requests_total{level="internal"') == 5.0  # a total never goes down
    assert "gateway_ledger_pending" not in text and "gateway_circuit_state" not in text
    assert _value(text, "gateway_workers ") == 1.0


def test_serve_starts_from_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "worker-1.json").write_bytes(orjson.dumps([]))
    (tmp_path / "worker-1.lock").touch()
    prepare(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_snapshot_is_replaced_whole(tmp_path: Path) -> None:
    worker = WorkerMetrics(Metrics().registry, tmp_path)
    worker._write([{"name": "x", "type": "counter", "help": "", "unit": "", "samples": []}])
    assert orjson.loads((tmp_path / f"worker-{os.getpid()}.json").read_bytes())[0]["name"] == "x"
    assert not list(tmp_path.glob("*.tmp"))
    worker._lock.close()
