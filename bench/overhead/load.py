"""Load generators: wrk for a fixed number of connections, our own for a fixed arrival rate.

Closed loop (``closed``): ``wrk`` (C, one thread) keeps ``connections``
requests in flight, each connection sending its next request as soon as the
last answer arrives, every request a new prompt (``chat.lua``). Its
latencies are per request, send to last byte.

Open loop (``open_loop``): requests are *scheduled* at a fixed rate
(``rate`` per second, evenly spaced) whatever the server does, on as many
keep-alive connections as needed. Latency is measured from the scheduled
time, not the send time, so a server that falls behind is charged for the
queue it builds (no coordinated omission). A request not answered within
``timeout_s`` counts as an error.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.overhead.prompts import unique

LUA = Path(__file__).with_name("chat.lua")


@dataclass(frozen=True, slots=True)
class Result:
    """One measurement: what was sent, what came back, how long it took (milliseconds)."""

    mode: str  # "c=1", "c=16", "rate=50/s"
    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def write_stems(path: Path, stems: Sequence[str]) -> None:
    """The prompt stems, JSON-escaped, one a line, for ``chat.lua``."""
    path.write_text("".join(orjson.dumps(s).decode()[1:-1] + "\n" for s in stems))


def closed(
    url: str, key: str, model: str, stems_file: Path, *, connections: int, duration_s: float, cpu: int | None
) -> Result:
    """``wrk`` with ``connections`` connections on one thread for ``duration_s``."""
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "30s", "-s", str(LUA), url,
        "--", str(stems_file), model, key, "/v1/chat/completions",
    ]  # fmt: skip
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration_s + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    data = orjson.loads(line.removeprefix("WRK_JSON "))
    errors = sum(data["errors"].values())
    lat = data["latency_us"]
    return Result(
        mode=f"c={connections}",
        requests=int(data["requests"]),
        errors=int(errors),
        duration_s=data["duration_us"] / 1e6,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        mean_ms=lat["mean"] / 1000,
        max_ms=lat["max"] / 1000,
    )


# -- open loop ------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self) -> None:
        import httptools

        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._done: asyncio.Future[int] | None = None
        self._status = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError("connection closed"))

    def on_status(self, _: bytes) -> None:
        self._status = self._parser.get_status_code()

    def on_message_complete(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(self._status)

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self._done = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._done


async def _open_loop(
    host: str, port: int, key: str, model: str, stems: Sequence[str], rate: float, duration_s: float,
    timeout_s: float, start: int,
) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    idle: list[_Connection] = []
    latencies: list[float] = []
    errors = 0
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {key}\r\n"
        "content-type: application/json\r\n"
    ).encode()

    async def connection() -> _Connection:
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        _, conn = await loop.create_connection(_Connection, host, port)
        return conn

    async def one(n: int, scheduled: float) -> None:
        nonlocal errors
        body = orjson.dumps(
            {"model": model, "messages": [{"role": "user", "content": unique(stems[n % len(stems)], n)}],
             "temperature": 0}
        )  # fmt: skip
        request = head + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        try:
            async with asyncio.timeout(timeout_s):
                conn = await connection()
                status = await conn.send(request)
        except (TimeoutError, OSError, ConnectionError):
            errors += 1
            return
        idle.append(conn)
        if status != 200:
            errors += 1
            return
        latencies.append((time.perf_counter() - scheduled) * 1000)

    total = int(rate * duration_s)
    interval = 1.0 / rate
    began = time.perf_counter()
    tasks = []
    for i in range(total):
        scheduled = began + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(start + i, scheduled)))
    await asyncio.gather(*tasks)
    for conn in idle:
        if conn.transport is not None:
            conn.transport.close()
    return latencies, errors


def open_loop(
    url: str, key: str, model: str, stems: Sequence[str], *, rate: float, duration_s: float,
    timeout_s: float = 30.0, start: int = 10_000_000,
) -> Result:
    """``rate`` requests a second for ``duration_s``, latency from each request's scheduled time."""
    import uvloop

    hostport = url.split("://", 1)[1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    began = time.perf_counter()
    latencies, errors = uvloop.run(
        _open_loop(host, int(port), key, model, stems, rate, duration_s, timeout_s, start)
    )
    elapsed = time.perf_counter() - began
    latencies.sort()
    if not latencies:
        return Result(f"rate={rate:g}/s", 0, errors, elapsed, *(float("nan"),) * 5)
    return Result(
        mode=f"rate={rate:g}/s",
        requests=len(latencies),
        errors=errors,
        duration_s=elapsed,
        p50_ms=_pct(latencies, 50),
        p90_ms=_pct(latencies, 90),
        p99_ms=_pct(latencies, 99),
        mean_ms=sum(latencies) / len(latencies),
        max_ms=latencies[-1],
    )


def _pct(ordered: Sequence[float], p: float) -> float:
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def pin(cpu: int | None) -> None:
    """Run this process (the open-loop generator) on one CPU, beside the upstream."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
