"""The fast paths' budget: each one measured side by side with the library it replaces, in one run.

``python bench/fast_paths.py [--quick] [--output bench/results/fast_paths.md]``

Each fast path of ``gateway/fastpaths.py`` against its switch turned off, on the
same inputs, in the same run (the ratio is what counts; a busy machine moves
both sides):

- ``http_client``: ``adapters.httpclient.HttpClient`` against ``LibraryClient``
  (aiohttp), posting a chat completion to ``bench/overhead/upstream.py`` (its own
  process) and parsing the answer, 1 and 16 at a time: CPU of this process per request;
- ``compiled_ner``: ``CompiledNer`` against spaCy's NER component on the
  benchmark's prompts, alone and in batches of 16: thread CPU per prompt, and
  whether the entities are the same;
- ``retry_loop``: ``Retrying`` against the tenacity loop, for a call that
  answers at once (every request's case) and one that fails once: CPU per call.

The table goes to ``--output`` (``bench/results/fast_paths.md``) and is quoted in
``docs/performance.md`` (*The fast paths and what they buy*). A fast path that
buys less than ``KEEP_AT`` (fast over library, on its main figure) is marked for
removal. (The fourth, a transport writing each response in one call, was measured
here at 1.16x its library's server CPU per response, about 3 µs, and removed.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEEP_AT = 1.25  # a fast path must save at least a fifth of its library's cost to carry its weight
BODY = b'{"model":"bench-model","messages":[{"role":"user","content":"' + b"hello there " * 20 + b'"}]}'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# -- http_client ------------------------------------------------------------------------


async def _client_figures(base: str, requests: int) -> dict[str, dict[int, float]]:
    from adapters.httpclient import HttpClient
    from adapters.libraryclient import LibraryClient

    headers = [(b"content-type", b"application/json"), (b"x-request-id", b"bench")]
    out: dict[str, dict[int, float]] = {}
    for name, kind in (("fast", HttpClient), ("library", LibraryClient)):
        client = kind(base, max_connections=100)

        async def call(client: Any = client) -> None:
            response = await client.request(b"POST", "/chat/completions", headers=headers, body=BODY)
            try:
                await response.read()
            finally:
                response.release()

        out[name] = {c: await _cpu_per_call(call, c, requests) for c in (1, 16)}
        await client.close()
    return out


async def _cpu_per_call(call: Callable[[], Awaitable[None]], concurrency: int, requests: int) -> float:
    """Microseconds of this process's CPU per call, ``concurrency`` at a time."""
    await asyncio.gather(*(call() for _ in range(concurrency)))
    rounds = max(requests // concurrency, 1)
    started = time.process_time()
    for _ in range(rounds):
        await asyncio.gather(*(call() for _ in range(concurrency)))
    return (time.process_time() - started) / (rounds * concurrency) * 1e6


def http_client(requests: int) -> dict[str, Any]:
    import uvloop

    port = _free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "bench.overhead.upstream", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        _wait_for(port)
        figures = uvloop.run(_client_figures(f"http://127.0.0.1:{port}/v1", requests))
    finally:
        upstream.terminate()
        upstream.wait(10)
    return {
        "measure": "CPU µs per upstream call (c=1 / c=16)",
        "fast": f"{figures['fast'][1]:.0f} / {figures['fast'][16]:.0f}",
        "library": f"{figures['library'][1]:.0f} / {figures['library'][16]:.0f}",
        "ratio": figures["library"][16] / figures["fast"][16],
    }


# -- compiled_ner ---------------------------------------------------------------------------


def compiled_ner(prompts: int, rounds: int) -> dict[str, Any]:
    from bench.overhead.prompts import prompt_stems, unique
    from gateway.classify.fastner import CompiledNer, limit_blas_threads
    from gateway.classify.nlp import keep_vocabulary, load_ner_pipeline

    limit_blas_threads()
    nlp = load_ner_pipeline("en_core_web_sm")
    keep_vocabulary(nlp)
    compiled = CompiledNer(nlp.get_pipe("ner"))
    texts = [unique(stem, n) for n, stem in enumerate(prompt_stems(prompts))]

    def entities(docs: Any) -> list[list[tuple[int, int, str]]]:
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]

    def library(batch: list[str]) -> Any:
        return entities(nlp.pipe(batch, batch_size=len(batch)))

    def fast(batch: list[str]) -> Any:
        docs = [nlp.make_doc(text) for text in batch]
        compiled(docs)
        return entities(docs)

    def over(run: Callable[[list[str]], Any], size: int) -> list[Any]:
        return [found for start in range(0, len(texts), size) for found in run(texts[start : start + size])]

    same = all(over(library, size) == over(fast, size) for size in (1, 16))
    cost: dict[tuple[str, int], float] = {}
    for size in (1, 16):
        for name, run in (("fast", fast), ("library", library)):
            best = float("inf")
            for _ in range(rounds):
                started = time.thread_time()
                over(run, size)
                best = min(best, (time.thread_time() - started) / len(texts) * 1000)
            cost[(name, size)] = best
    return {
        "measure": "CPU ms per ~30-word prompt (alone / batches of 16)" + ("" if same else ", ENTITIES DIFFER"),
        "fast": f"{cost[('fast', 1)]:.2f} / {cost[('fast', 16)]:.2f}",
        "library": f"{cost[('library', 1)]:.2f} / {cost[('library', 16)]:.2f}",
        "ratio": cost[("library", 1)] / cost[("fast", 1)],
    }


# -- retry_loop -----------------------------------------------------------------------------


async def _retry_figures(calls: int) -> dict[str, dict[str, float]]:
    from gateway.errors import UpstreamError
    from gateway.resilience.retry import RetryBudget, RetryPolicy
    from gateway.resilience.settings import RetrySettings

    settings = RetrySettings(backoff_initial_s=0, backoff_max_s=0, jitter_s=0, max_attempts=2, budget_min_retries=10**9)
    out: dict[str, dict[str, float]] = {}
    for name, fast in (("fast", True), ("library", False)):
        policy = RetryPolicy(settings, RetryBudget(settings), fast=fast)

        async def answers() -> str:
            return "ok"

        async def fails_once(failed: list[bool] = [False]) -> str:  # noqa: B006 - the call's own state
            failed[0] = not failed[0]
            if failed[0]:
                raise UpstreamError("503", upstream_status=503)
            return "ok"

        figures = {}
        for case, call in (("answers", answers), ("fails once", fails_once)):
            deadline = asyncio.get_running_loop().time() + 3600
            started = time.process_time()
            for _ in range(calls):
                await policy.retrying("t", deadline)(call)
            figures[case] = (time.process_time() - started) / calls * 1e6
        out[name] = figures
    return out


def retry_loop(calls: int) -> dict[str, Any]:
    figures = asyncio.run(_retry_figures(calls))
    return {
        "measure": "CPU µs per call (answers at once / fails once)",
        "fast": f"{figures['fast']['answers']:.1f} / {figures['fast']['fails once']:.1f}",
        "library": f"{figures['library']['answers']:.1f} / {figures['library']['fails once']:.1f}",
        "ratio": figures["library"]["answers"] / figures["fast"]["answers"],
    }


# -- the report -----------------------------------------------------------------------------

LIBRARIES = {
    "http_client": "aiohttp (adapters/libraryclient.py)",
    "compiled_ner": "spaCy's NER component",
    "retry_loop": "tenacity (gateway/resilience/tenacity_retry.py)",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter phases")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "fast_paths.md")
    args = parser.parse_args()
    quick = args.quick
    rows = {
        "http_client": http_client(1000 if quick else 4000),
        "compiled_ner": compiled_ner(100 if quick else 300, 2 if quick else 3),
        "retry_loop": retry_loop(2000 if quick else 20000),
    }
    command = "python bench/fast_paths.py" + (" --quick" if quick else "")
    lines = [
        "# The fast paths' budget",
        "",
        f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end. Each fast path against its "
        f"switch turned off (`gateway/fastpaths.py`), in one run; ratio: the library's cost over the fast "
        f"path's on the main figure (the last one for the client: c=16; alone for NER; answering at once for "
        f"retries). Kept when the ratio is at least {KEEP_AT}.",
        "",
        "| switch | library when off | measure | fast path | library | ratio | verdict |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for name, row in rows.items():
        verdict = "keep" if row["ratio"] >= KEEP_AT else "remove: does not buy enough"
        lines.append(f"| `{name}` | {LIBRARIES[name]} | {row['measure']} | {row['fast']} | {row['library']} "
                     f"| {row['ratio']:.2f}x | {verdict} |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
