"""A bounded load, from its own process: ``python -m tests.scaleout.load PLAN.json OUT.json``.

The plan (JSON) names the load balancer's ``url``, a start time ``t0`` (epoch
seconds, shared with the test that injects the faults), and ``streams``: each
sends ``count`` requests with ``key`` at ``rate`` a second from ``start_s``
after ``t0`` (``rate`` 0: all at once, a burst), with ``max_tokens`` and,
every ``sensitive_every``-th request, a card number in the text. At most
``concurrency`` requests are in flight; each waits at most ``timeout_s``.

Every request leaves one line in the results: its stream, when it was sent,
how long it took, the status, the error code (OpenAI shape) or ``invalid_body``
when the body was not that shape, and ``x-request-id``. A request that got no
answer in time is ``status: 0, code: "client_timeout"`` (the test fails on it).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

CARD = "The card 4111 1111 1111 1111 was declined twice."
PLAIN = "What is a basis point, in one sentence?"


async def _one(client: httpx.AsyncClient, stream: dict[str, Any], n: int, t0: float) -> dict[str, Any]:
    every = int(stream.get("sensitive_every") or 0)
    text = CARD if every and n % every == 0 else PLAIN
    body: dict[str, Any] = {"model": stream.get("model", "bank-standard"),
                            "messages": [{"role": "user", "content": f"{text} (#{n})"}]}
    if stream.get("max_tokens"):
        body["max_tokens"] = stream["max_tokens"]
    started = time.time()
    result: dict[str, Any] = {"stream": stream["name"], "sent_s": round(started - t0, 3), "status": 0,
                              "code": None, "request_id": None}
    try:
        response = await client.post("/v1/chat/completions", json=body,
                                     headers={"authorization": f"Bearer {stream['key']}"})
        result["status"] = response.status_code
        result["request_id"] = response.headers.get("x-request-id")
        if response.status_code != 200:
            try:
                error = response.json()["error"]
                result["code"] = str(error["code"])
                assert {"message", "type", "code", "param"} <= set(error)
            except (ValueError, KeyError, TypeError, AssertionError):
                result["code"] = "invalid_body"
    except httpx.TimeoutException:
        result["code"] = "client_timeout"
    except httpx.TransportError as exc:
        result["code"] = f"transport:{type(exc).__name__}"
    result["elapsed_s"] = round(time.time() - started, 3)
    return result


async def run(plan: dict[str, Any]) -> list[dict[str, Any]]:
    t0 = float(plan["t0"])
    gate = asyncio.Semaphore(int(plan.get("concurrency", 32)))
    limits = httpx.Limits(max_connections=int(plan.get("concurrency", 32)), max_keepalive_connections=0)
    results: list[dict[str, Any]] = []

    async def paced(client: httpx.AsyncClient, stream: dict[str, Any], n: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        async with gate:
            results.append(await _one(client, stream, n, t0))

    # No keep-alive: each request opens its own connection, so the balancer spreads them over replicas.
    async with httpx.AsyncClient(base_url=plan["url"], timeout=float(plan["timeout_s"]), limits=limits) as client:
        tasks = []
        for stream in plan["streams"]:
            rate = float(stream.get("rate") or 0)
            for n in range(int(stream["count"])):
                at = t0 + float(stream["start_s"]) + (n / rate if rate else 0.0)
                tasks.append(paced(client, stream, n, at))
        await asyncio.gather(*tasks)
    return results


def main(argv: list[str]) -> int:
    plan = orjson.loads(Path(argv[0]).read_bytes())
    results = asyncio.run(run(plan))
    Path(argv[1]).write_bytes(orjson.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
