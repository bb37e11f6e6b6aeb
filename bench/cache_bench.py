"""Response cache latency: a hit against a miss, and what the cache adds to a miss.

The gateway is served over real HTTP on loopback (uvicorn) and called by an
httpx client on the same event loop, one request at a time; the upstream is a
minimal OpenAI-compatible server (starlette + uvicorn, as vLLM's is) in a
separate process on loopback, answering at once, behind the real
``openai_compatible`` adapter. Classification uses the keyword fake from ``tests/fakes.py``, so the
figures are the request path without the NER pass (which costs the same on a
hit and a miss: classification runs before the cache lookup).

Per store (Redis at ``REDIS_URL`` or 127.0.0.1:6379, and in-process memory),
three scenarios, interleaved request by request so drift hits all alike:

- ``off``: a route without ``cache``: the baseline (no key, no lookup, no write);
- ``miss``: a cached route, a new prompt each time: key, lookup, upstream call, sealed write;
- ``hit``: a cached route, the same prompt: key, lookup, open, answer; no upstream call.

Usage: ``python bench/cache_bench.py [--requests N] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLICY = """
version: 1
name: cache-bench
levels: [public, internal, confidential, restricted]
classification: {{default_level: internal, on_error: restricted}}
targets:
  up:
    kind: openai_compatible
    api_base: {api_base}
    model: test-model
    api_key_env: CACHE_BENCH_UPSTREAM_KEY
    residency: on_prem
    pricing: {{usd_per_million_input: 1.0, usd_per_million_output: 2.0}}
models:
  bank-cached: {{tier: cached}}
  bank-uncached: {{tier: uncached}}
routes:
  - name: uncached
    when: {{model: [bank-uncached]}}
    targets: [up]
  - name: cached
    targets: [up]
    cache: {{ttl_s: 600}}
"""

UPSTREAM = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

TEXT = "A short answer of about a dozen words, as a cached reply might be."

async def chat(request):
    body = await request.json()
    return JSONResponse({
        "id": "chatcmpl-upstream", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 14, "total_tokens": 54},
    })

async def models(request):
    return JSONResponse({"object": "list", "data": [{"id": "test-model", "object": "model"}]})

app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

PROMPT = "Summarise the bank's policy on overdraft fees for retail customers in three sentences."
SCENARIOS = ("off", "miss", "hit")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def gateway(
    api_base: str, work: Path, redis_url: str | None, prefix: str
) -> AsyncIterator[tuple[str, dict[str, list[float]]]]:
    import uvicorn

    from gateway.app import create_app
    from gateway.config import CacheSettings, Config
    from tests.fakes import KeywordClassifier

    work.mkdir(parents=True, exist_ok=True)
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(api_base=api_base))
    config = Config(policy=str(policy), database_url=f"sqlite:///{work}/gw.db", var_dir=str(work),
                    policy_watch_s=0, redis_url=redis_url, cache=CacheSettings(key_prefix=prefix))
    app = create_app(config, classifier=KeywordClassifier())
    port = _free_port()
    stage: dict[str, list[float]] = {}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        _, key = app.state.gateway.keys.create("bench", ["user"])
        time_cache_calls(app.state.gateway.chat.services.cache, stage)
        yield f"http://127.0.0.1:{port}|{key}", stage
    finally:
        server.should_exit = True
        await task


def time_cache_calls(cache: Any, into: dict[str, list[float]]) -> None:
    """Time the cache stage's three calls in the server (key, lookup, store), in ms."""

    def timed(name: str, call: Any, is_async: bool) -> Any:
        if is_async:
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await call(*args, **kwargs)
                finally:
                    into.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            return async_wrapper

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                into.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return wrapper

    cache.key = timed("key", cache.key, False)
    cache.lookup = timed("lookup", cache.lookup, True)
    cache.store = timed("store", cache.store, True)


async def run(requests: int, redis_url: str) -> tuple[dict[tuple[str, str], list[float]], dict[str, Any]]:
    import httpx
    import redis

    os.environ["CACHE_BENCH_UPSTREAM_KEY"] = "sk-bench"
    os.environ["GATEWAY_CACHE_SECRET"] = secrets.token_urlsafe(48)
    os.environ["GATEWAY_CACHE_KEY"] = base64.b64encode(os.urandom(32)).decode()
    port = _free_port()
    upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(port)])
    api_base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or upstream.poll() is not None:
                raise RuntimeError("the upstream did not start") from None
            await asyncio.sleep(0.05)
    prefix = f"gw:bench:{secrets.token_hex(4)}:"
    timings: dict[tuple[str, str], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="cache-bench-") as tmp:
            async with gateway(api_base, Path(tmp) / "redis", redis_url, prefix) as on_redis, \
                    gateway(api_base, Path(tmp) / "memory", None, prefix) as in_memory:  # fmt: skip
                stores = {"redis": on_redis[0].split("|"), "memory": in_memory[0].split("|")}
                stages = {"redis": on_redis[1], "memory": in_memory[1]}
                async with httpx.AsyncClient(timeout=30) as client:

                    async def one(store: str, scenario: str, i: int) -> float:
                        url, key = stores[store]
                        content = PROMPT if scenario == "hit" else f"{PROMPT} (#{i} {secrets.token_hex(4)})"
                        model = "bank-uncached" if scenario == "off" else "bank-cached"
                        body = {"model": model, "temperature": 0, "messages": [{"role": "user", "content": content}]}
                        started = time.perf_counter()
                        response = await client.post(f"{url}/v1/chat/completions", json=body,
                                                     headers={"Authorization": f"Bearer {key}"})
                        elapsed = (time.perf_counter() - started) * 1000
                        expected = {"off": "skip", "miss": "miss", "hit": "hit"}[scenario]
                        if i >= 0 and response.headers.get("x-gateway-cache") != expected:
                            raise RuntimeError(f"{store}/{scenario}: got {response.headers.get('x-gateway-cache')}")
                        return elapsed

                    for store in stores:  # warm-up: pools, the hit entry, JIT-ish caches
                        for scenario in SCENARIOS:
                            for _ in range(20):
                                await one(store, scenario, -1)
                    for recorded in stages.values():
                        recorded.clear()
                    for i in range(requests):
                        for store in stores:
                            for scenario in SCENARIOS:
                                timings.setdefault((store, scenario), []).append(await one(store, scenario, i))
            timings[("redis", "GET round trip")] = await redis_round_trips(redis_url, requests)
            client_sync = redis.Redis.from_url(redis_url)
            for name in client_sync.scan_iter(match=prefix + "*", count=1000):
                client_sync.delete(name)
            client_sync.close()
    finally:
        upstream.terminate()
        upstream.wait(10)
    return timings, stages


async def redis_round_trips(redis_url: str, requests: int) -> list[float]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    out = []
    try:
        await client.get("gw:bench:absent")
        for _ in range(requests):
            started = time.perf_counter()
            await client.get("gw:bench:absent")
            out.append((time.perf_counter() - started) * 1000)
    finally:
        await client.aclose()
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    except (OSError, IndexError):
        redis_version = "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()} on {platform.system()}; "
        f"redis-server {redis_version.removeprefix('v=')}, redis-py {metadata.version('redis')}; "
        f"load average before the run {load}"
    )


def report(
    timings: dict[tuple[str, str], list[float]], stages: dict[str, Any], requests: int, took: float, about: str
) -> str:
    lines = [
        "# Response cache latency",
        "",
        f"Machine: {about}. Run time {took:.0f} s. Command: `python bench/cache_bench.py --requests {requests}`.",
        "",
        "| store | scenario | p50 ms | p95 ms | mean ms | requests |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (store, scenario), values in timings.items():
        lines.append(
            f"| {store} | {scenario} | {statistics.median(values):.2f} | {pct(values, 0.95):.2f} | "
            f"{statistics.fmean(values):.2f} | {len(values)} |"
        )
    lines += ["", "| store | hit / miss (p50) | miss − off (p50) | miss / off (p50) |", "|---|---:|---:|---:|"]
    for store in ("redis", "memory"):
        off, miss, hit = (statistics.median(timings[(store, s)]) for s in SCENARIOS)
        lines.append(f"| {store} | {hit / miss:.2f} | {miss - off:+.2f} ms | {miss / off:.2f} |")
    lines += [
        "",
        "Time inside the gateway for the cache stage's calls (server side, µs, p50 / p95; a miss makes all "
        "three, a hit the first two):",
        "",
        "| store | key (HMAC) | lookup | store (seal + write) |",
        "|---|---:|---:|---:|",
    ]
    for store, recorded in stages.items():
        cells = [
            f"{statistics.median(recorded[n]) * 1000:.0f} / {pct(recorded[n], 0.95) * 1000:.0f}"
            for n in ("key", "lookup", "store")
        ]
        lines.append(f"| {store} | {' | '.join(cells)} |")
    lines += [
        "",
        "- *off*: a route without `cache` (the baseline); *miss*: a cached route and a new prompt each time "
        "(HMAC key, lookup, upstream call, AES-GCM seal, write); *hit*: the same prompt (lookup, open, answer, "
        "no upstream call).",
        "- Client-side wall time of one request over HTTP on loopback, one at a time, scenarios interleaved.",
        "- The upstream answers at once (a loopback server, not a model): with a real model the miss grows by the "
        "model's latency and the hit does not, so *hit / miss* here is the least favourable case.",
        "- Classification is the keyword fake (no NER pass); the real classifier adds the same few ms to hits and "
        "misses alike (see `bench/results/classify.md`).",
        "- *GET round trip*: one redis-py GET of an absent key on the same Redis, for scale.",
        "- End-to-end differences of a millisecond are within the noise on a busy machine (see the load average; "
        "Redis, the upstream and the gateway share its cores): the server-side stage times are the steadier "
        "measure of what the cache adds to a miss (key + lookup + store).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests per scenario and store")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    about = machine()
    started = time.monotonic()
    timings, stages = asyncio.run(run(args.requests, redis_url))
    text = report(timings, stages, args.requests, time.monotonic() - started, about)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
