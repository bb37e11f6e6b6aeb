"""Local model serving: our batching engine against per-request ``generate()``, in one run.

For each concurrency C (default 1, 8 and 32) C clients run in a closed loop:
each sends a request, reads its stream to the end and sends the next, until
the workload's requests are used up. The workload is the same for both modes:
chat prompts from a fixed list, greedy decoding, each request with its own
``max_tokens`` (drawn from a seeded RNG), so clients fall out of step the way
real traffic does. A request ends at its ``max_tokens`` or at the model's
end-of-sequence token, whichever comes first.

- ``batched``: ``TransformersAdapter`` (the gateway's in-process target), the
  continuous-batching engine.
- ``generate``: the naive server: one ``model.generate(..., streamer=...)`` at a
  time on one worker thread, requests queued first come first served.

Measured per mode and concurrency: output tokens per second (all output tokens
over the wall time from the first request to the last token), time to first
token (client side: from sending the request to its first streamed token; p50
and p90 over all requests, and p50 over the requests after each client's first,
once the initial burst of C simultaneous arrivals is over), and how many
answers are identical between the two modes.

    python bench/local_model.py                              # CPU, SmolLM2, C = 1 8 32
    python bench/local_model.py --device cuda --model /models/Qwen2.5-7B-Instruct \\
        --concurrency 1 8 32 64 --output bench/results/local_model-gpu.md

``--model`` takes what a policy's ``model:`` takes: a built-in name, a model
directory or a ``.gguf`` file; nothing is downloaded. On CUDA the model runs in
bfloat16 unless ``--dtype`` says otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see adapters/transformers_local

import argparse
import asyncio
import platform
import random
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from transformers.generation.streamers import BaseStreamer  # noqa: E402

from adapters.base import ModelCall  # noqa: E402
from adapters.local_models import default_cache_dir, resolve_model  # noqa: E402
from adapters.transformers_local import TransformersAdapter  # noqa: E402

QUESTIONS = [
    "What is the capital of France?",
    "Explain what a savings account is in two sentences.",
    "What is compound interest?",
    "Give three tips for keeping a household budget.",
    "What does a central bank do?",
    "Write a short polite reply declining a meeting invitation.",
    "What is the difference between a debit card and a credit card?",
    "Why do interest rates affect house prices?",
    "Summarise what inflation means for savers.",
    "List four common types of bank accounts.",
    "What is a mortgage?",
    "How does a cheque clear?",
    "What is diversification in investing?",
    "Explain the word liquidity to a child.",
    "What should I do if I lose my bank card?",
    "Write a haiku about the sea.",
]


@dataclass(frozen=True, slots=True)
class Request:
    messages: list[dict[str, str]]
    max_tokens: int


@dataclass(slots=True)
class Result:
    ttft_s: float
    tokens: int
    text: str
    in_burst: bool = False  # a client's first request: all C of them arrive at once


Serve = Callable[[Request], Awaitable[Result]]


def workload(count: int, min_tokens: int, max_tokens: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    return [
        Request([{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}], rng.randint(min_tokens, max_tokens))
        for i in range(count)
    ]


async def run_closed_loop(serve: Serve, requests: Sequence[Request], concurrency: int) -> tuple[list[Result], float]:
    """C clients, each sending its next request when the previous one has finished."""
    pending = list(enumerate(requests))
    pending.reverse()
    results: dict[int, Result] = {}

    async def client() -> None:
        first = True
        while pending:
            index, request = pending.pop()
            results[index] = await serve(request)
            results[index].in_burst, first = first, False

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return [results[i] for i in range(len(requests))], wall


# -- the two servers ----------------------------------------------------------


def batched_server(adapter: TransformersAdapter) -> Serve:
    async def serve(request: Request) -> Result:
        sent = time.perf_counter()
        ttft = 0.0
        parts: list[str] = []
        tokens = 0
        call = ModelCall(request.messages, {"max_tokens": request.max_tokens, "temperature": 0}, deadline_s=3600)
        async for chunk in adapter.stream(call):
            if chunk.content:
                if not parts:
                    ttft = time.perf_counter() - sent
                parts.append(chunk.content)
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        return Result(ttft, tokens, "".join(parts))

    return serve


class _TokenStreamer(BaseStreamer):
    """Hands each new token to the event loop as ``generate`` produces it (the prompt comes first)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[int | None]) -> None:
        self._loop, self._queue, self._prompt_seen = loop, queue, False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self._loop.call_soon_threadsafe(self._queue.put_nowait, token)

    def end(self) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, None)


class GenerateServer:
    """The baseline: per-request ``model.generate`` with a streamer, one request at a time."""

    def __init__(self, path: Path, device: torch.device, dtype: torch.dtype) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
        self.model = model.to(device).eval()  # type: ignore[arg-type]  # transformers wraps `to` untypably
        eos = self.model.generation_config.eos_token_id
        eos_ids = {eos} if isinstance(eos, int) else set(eos or ())
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        self.eos_ids = sorted(eos_ids)
        self.device = device
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")  # FIFO, one at a time

    def close(self) -> None:
        self.worker.shutdown()

    def _generate(self, ids: list[int], max_tokens: int, streamer: _TokenStreamer) -> None:
        with torch.inference_mode():
            input_ids = torch.tensor([ids], device=self.device)
            self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                max_new_tokens=max_tokens,
                do_sample=False,
                eos_token_id=self.eos_ids,
                pad_token_id=self.eos_ids[0],
                streamer=streamer,
            )

    async def serve(self, request: Request) -> Result:
        sent = time.perf_counter()
        loop = asyncio.get_running_loop()
        ids = list(self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, return_dict=False))
        queue: asyncio.Queue[int | None] = asyncio.Queue()
        job = loop.run_in_executor(self.worker, self._generate, ids, request.max_tokens, _TokenStreamer(loop, queue))
        ttft, generated = 0.0, list[int]()
        while (token := await queue.get()) is not None:
            if not generated:
                ttft = time.perf_counter() - sent
            generated.append(token)
        await job
        text = str(self.tokenizer.decode(generated, skip_special_tokens=True))
        return Result(ttft, len(generated), text)


# -- measuring ------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    mode: str
    concurrency: int
    requests: int
    tokens: int
    wall_s: float
    ttft_p50_ms: float
    ttft_p90_ms: float
    steady_ttft_p50_ms: float | None
    texts: list[str]
    load: tuple[float, float, float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s


def summarise(mode: str, concurrency: int, results: list[Result], wall: float) -> Row:
    ttfts = [r.ttft_s * 1000 for r in results]
    steady = [r.ttft_s * 1000 for r in results if not r.in_burst]
    return Row(
        mode=mode,
        concurrency=concurrency,
        requests=len(results),
        tokens=sum(r.tokens for r in results),
        wall_s=wall,
        ttft_p50_ms=statistics.median(ttfts),
        ttft_p90_ms=_percentile(ttfts, 0.9),
        steady_ttft_p50_ms=statistics.median(steady) if steady else None,
        texts=[r.text for r in results],
        load=os.getloadavg(),
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    mode: str, serve: Serve, concurrency: int, requests: list[Request], log: Callable[[str], None]
) -> Row:
    results, wall = await run_closed_loop(serve, requests, concurrency)
    row = summarise(mode, concurrency, results, wall)
    log(
        f"{mode:>8} C={concurrency:<3} {row.tokens:>5} tokens in {row.wall_s:6.1f} s"
        f" = {row.tokens_per_s:7.1f} tok/s"
        f"  TTFT p50 {row.ttft_p50_ms:7.0f} ms  p90 {row.ttft_p90_ms:7.0f} ms  load {row.load[0]:.2f}"
    )
    return row


async def main_async(args: argparse.Namespace) -> int:
    path = resolve_model(args.model, args.cache_dir or default_cache_dir())
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype_name = args.dtype if args.dtype != "auto" else ("bfloat16" if device.type == "cuda" else "float32")
    dtype = getattr(torch, dtype_name)
    if args.threads:
        torch.set_num_threads(args.threads)
    plans = {
        c: workload(max(args.min_requests, c * args.requests_per_client), args.min_tokens, args.max_tokens, args.seed)
        for c in args.concurrency
    }

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    hardware = _hardware(device)  # with the load average before the run
    log(f"model {path} on {device} ({dtype_name}); {hardware}")
    # Both servers are loaded up front and measured back to back at each concurrency, so that
    # a change in the machine's load (shared CPUs) hits both modes alike.
    servers: dict[str, Serve] = {}
    adapter: TransformersAdapter | None = None
    baseline: GenerateServer | None = None
    try:
        if "batched" in args.modes:
            adapter = TransformersAdapter(
                path,
                device=str(device),
                dtype=dtype_name,
                max_batch_size=args.max_batch_size,
                max_queue=4096,
                prefill_tokens=args.prefill_tokens,
            )
            await adapter.start()  # loads and warms up
            servers["batched"] = batched_server(adapter)
        if "generate" in args.modes:
            baseline = GenerateServer(path, device, dtype)
            await baseline.serve(Request([{"role": "user", "content": "Hi"}], 4))  # warm-up, as the adapter does
            servers["generate"] = baseline.serve
        rows: dict[str, list[Row]] = {mode: [] for mode in servers}
        for concurrency, requests in plans.items():
            for mode, serve in servers.items():
                rows[mode].append(await measure(mode, serve, concurrency, requests, log))
    finally:
        if adapter is not None:
            await adapter.close()
        if baseline is not None:
            baseline.close()

    report = render(args, path, hardware, dtype_name, rows)
    print(report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
        log(f"written to {args.output}")
    return 0


# -- the report -----------------------------------------------------------------


def render(args: argparse.Namespace, path: Path, hardware: str, dtype: str, rows: dict[str, list[Row]]) -> str:
    lines = [
        "# Local model serving: batched engine vs per-request generate()",
        "",
        f"- Command: `{_command()}`",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Hardware: {hardware}; load average at the end {_load()}",
        f"- Software: Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {_version('transformers')}; torch threads {torch.get_num_threads()}",
        f"- Model: `{args.model}` ({path}), {dtype}, greedy decoding; engine: max_batch_size "
        f"{args.max_batch_size}, prefill_tokens {args.prefill_tokens or 'default'}",
        f"- Workload: closed loop, C clients; {args.requests_per_client} requests per client (at least "
        f"{args.min_requests}); max_tokens uniform in [{args.min_tokens}, {args.max_tokens}] (seed {args.seed}), "
        "a request also ends at the model's end-of-sequence token",
        "",
        "| mode | C | requests | output tokens | wall s | tokens/s | TTFT p50 ms | TTFT p90 ms "
        "| TTFT p50 after the burst, ms | load avg (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode_rows in rows.values():
        for r in mode_rows:
            steady = f"{r.steady_ttft_p50_ms:.0f}" if r.steady_ttft_p50_ms is not None else "n/a"
            lines.append(
                f"| {r.mode} | {r.concurrency} | {r.requests} | {r.tokens} | {r.wall_s:.1f} | {r.tokens_per_s:.1f} "
                f"| {r.ttft_p50_ms:.0f} | {r.ttft_p90_ms:.0f} | {steady} | {r.load[0]:.2f} |"
            )
    batched, baseline = rows.get("batched"), rows.get("generate")
    if batched and baseline:
        lines += [
            "",
            "| C | throughput batched / generate() | batched TTFT p50 / batched TTFT p50 at C=1 "
            "| same, after the burst | batched TTFT p50 / generate() TTFT p50 at C=1 | identical answers |",
            "|---|---|---|---|---|---|",
        ]
        single, single_generate = batched[0].ttft_p50_ms, baseline[0].ttft_p50_ms
        for b, g in zip(batched, baseline, strict=True):
            same = sum(x == y for x, y in zip(b.texts, g.texts, strict=True))
            steady = f"{b.steady_ttft_p50_ms / single:.2f}x" if b.steady_ttft_p50_ms is not None else "n/a"
            lines.append(
                f"| {b.concurrency} | {b.tokens_per_s / g.tokens_per_s:.2f}x | {b.ttft_p50_ms / single:.2f}x "
                f"| {steady} | {b.ttft_p50_ms / single_generate:.2f}x | {same}/{b.requests} |"
            )
    return "\n".join(lines) + "\n"


def _command() -> str:
    executable = Path(sys.executable)
    shown = os.path.relpath(executable, Path.cwd()) if executable.is_relative_to(Path.cwd()) else executable.name
    return " ".join(shlex.quote(a) for a in [shown, *sys.argv])


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return (
            f"{props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}, "
            f"host load average at the start {_load()}"
        )
    model = platform.processor() or "unknown CPU"
    cores = os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
        flags = fields.get("Flags", "")
        extras = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags.split()]
        model += f" ({', '.join(extras)})" if extras else ""
    except (OSError, subprocess.CalledProcessError):
        pass
    return f"{model}, {cores} cores visible, load average (1, 5, 15 min) at the start {_load()}"


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="built-in name, model directory or .gguf")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where converted models live (var/models)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1...")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests-per-client", type=int, default=3)
    parser.add_argument("--min-requests", type=int, default=8)
    parser.add_argument("--min-tokens", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-batch-size", type=int, default=None, help="engine batch size (default: largest C)")
    parser.add_argument("--prefill-tokens", type=int, default=None, help="engine prefill step bound (default: 512 "
                        "on CPU, 2048 on GPU)")
    parser.add_argument("--modes", nargs="+", default=["batched", "generate"], choices=["batched", "generate"])
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="also write the markdown report here")
    args = parser.parse_args(argv)
    args.max_batch_size = args.max_batch_size or max(args.concurrency)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    assert threading.current_thread() is threading.main_thread()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
