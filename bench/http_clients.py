"""What one upstream call costs the gateway's process: httpx, aiohttp and ``adapters.httpclient``.

Each client posts the same chat completion body to the benchmark upstream
(``bench/overhead/upstream.py``, its own process) with keep-alive, one at a
time and 16 at a time, and reads and parses the answer. Reported: wall time
and this process's CPU time per request (the CPU time is what the client costs
the gateway: on a busy machine it is what limits throughput).

    python bench/http_clients.py [--requests 3000] [--cpu 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
import uvloop  # noqa: E402

from adapters.httpclient import HttpClient  # noqa: E402

BODY = orjson.dumps({"model": "bench-model", "messages": [{"role": "user", "content": "hello there " * 20}]})
HEADERS = {"content-type": "application/json", "x-request-id": "bench"}

Call = Callable[[], Awaitable[None]]


async def _measure(call: Call, concurrency: int, requests: int) -> tuple[float, float]:
    await asyncio.gather(*(call() for _ in range(concurrency)))  # connections opened, code warm
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests // concurrency):
        await asyncio.gather(*(call() for _ in range(concurrency)))
    n = requests // concurrency * concurrency
    return (time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6


async def run(base: str, requests: int) -> list[tuple[str, int, float, float]]:
    out = []
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits) as hx:
        async def with_httpx() -> None:
            orjson.loads((await hx.post(f"{base}/chat/completions", content=BODY, headers=HEADERS)).content)

        for c in (1, 16):
            out.append(("httpx", c, *await _measure(with_httpx, c, requests)))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        async def with_aiohttp() -> None:
            async with session.post(f"{base}/chat/completions", data=BODY, headers=HEADERS) as response:
                orjson.loads(await response.read())

        for c in (1, 16):
            out.append(("aiohttp", c, *await _measure(with_aiohttp, c, requests)))
    client = HttpClient(base, max_connections=100)
    headers = [(k.encode(), v.encode()) for k, v in HEADERS.items()]

    async def with_ours() -> None:
        response = await client.request(b"POST", "/chat/completions", headers=headers, body=BODY)
        try:
            orjson.loads(await response.read())
        finally:
            response.release()

    for c in (1, 16):
        out.append(("adapters.httpclient", c, *await _measure(with_ours, c, requests)))
    await client.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU (the upstream to another)")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "bench.overhead.upstream", "--port", str(port)]
    if args.cpu is not None and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        command = ["taskset", "-c", str((args.cpu + 1) % os.cpu_count()), *command]  # type: ignore[operator]
        os.sched_setaffinity(0, {args.cpu})
    upstream = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        rows = uvloop.run(run(f"http://127.0.0.1:{port}/v1", args.requests))
    finally:
        upstream.terminate()
        upstream.wait(10)
    print("| client | concurrency | wall us/request | CPU us/request |\n|---|---:|---:|---:|")
    for name, c, wall, cpu in rows:
        print(f"| {name} | {c} | {wall:.0f} | {cpu:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
