"""Gateway overhead, side by side with the LiteLLM proxy, in one run on one machine.

    python -m bench.overhead                       # the full run, results in bench/results/
    python -m bench.overhead --quick               # shorter phases, to try the harness
    python -m bench.overhead --only ours-blind --memory 100000

One fast OpenAI-compatible upstream on loopback (``upstream.py``) serves every
system. Each system runs on its own CPU with one worker; the upstream and the
load generators run on the other CPU (``systems.py``). Every request carries a
~30-word prompt never sent before (``prompts.py``).

Systems:

- ``direct``: the upstream itself, the baseline every "added" latency subtracts;
- ``litellm``: the LiteLLM proxy (pinned in ``peer-requirements.txt``), its
  production settings, no guardrail;
- ``litellm-presidio``: the same with its Presidio PII guardrail on each
  request's input, Presidio's analyzer and anonymizer served locally behind
  the REST API LiteLLM expects (``presidio_server.py``), same spaCy model;
- ``ours-blind``: our gateway under a policy that routes without looking at
  content (``policies/content-blind.yaml``): comparison (a);
- ``ours-full``: our gateway under the default policy's classification
  (``policies/full-classification.yaml``): comparisons (b) and (c).

Phases per system: closed loop with 1 and 16 connections (``wrk``), then a
fixed arrival rate (``--rate``; default: half of what plain LiteLLM sustained
at 16 connections, so every system can keep up). Our gateway's own per-stage
timers (``gateway_stage_seconds``) are read from ``/metrics`` around each
phase. ``--memory N`` sends N more requests to ``ours-blind`` and to ``ours-full``
and reports their resident memory before and after. Results: ``bench/results/overhead.md`` and
``.json``, with the machine and the versions.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import venv
from contextlib import ExitStack
from dataclasses import asdict
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.overhead import load, report, stages, systems
from bench.overhead.prompts import prompt_stems
from gateway.fastpaths import SWITCHES

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
SYSTEMS = ("direct", "litellm", "litellm-presidio", "ours-blind", "ours-full")
MEMORY_CHECKED = ("ours-blind", "ours-full")  # the second runs the classifier: spaCy's vocabulary, the token table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per closed-loop phase")
    parser.add_argument("--rate", type=float, default=None, help="requests/s of the fixed-rate phase")
    parser.add_argument("--rate-duration", type=float, default=20.0, help="seconds of the fixed-rate phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up traffic per system")
    parser.add_argument("--only", nargs="+", choices=SYSTEMS, help="measure only these (direct always runs)")
    parser.add_argument("--memory", type=int, default=0, help="requests for the memory checks (ours-blind, ours-full)")
    parser.add_argument("--quick", action="store_true", help="5 s phases, no memory check")
    parser.add_argument(
        "--sut-cpu", type=_cpu, default=1, help="CPU of the system under test, or 'none': all CPUs (default 1)"
    )
    parser.add_argument(
        "--load-cpu", type=_cpu, default=0, help="CPU of the upstream and the load generators, or 'none' (default 0)"
    )
    parser.add_argument("--peer-venv", type=Path, default=HERE.parent / ".peer-venv")
    parser.add_argument("--output", type=Path, default=RESULTS / "overhead.md")
    parser.add_argument(
        "--fast-paths-off",
        nargs="+",
        default=[],
        choices=SWITCHES,
        metavar="SWITCH",
        help=f"run ours with these fast paths on their libraries ({', '.join(SWITCHES)})",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rate_duration, args.warmup, args.memory = 5.0, 5.0, 2.0, 0
    if not load.wrk_available():
        print("wrk is needed for the closed-loop phases: apt-get install wrk", file=sys.stderr)
        return 2
    wanted = [s for s in SYSTEMS if s == "direct" or not args.only or s in args.only]
    peer_python = _peer(args.peer_venv) if any(s.startswith("litellm") for s in wanted) else None

    workdir = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    stems = prompt_stems(2000)
    stems_file = workdir / "stems.txt"
    load.write_stems(stems_file, stems)
    load.pin(args.load_cpu)
    started = time.time()
    measured: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        up = stack.enter_context(systems.running(systems.upstream(workdir, args.load_cpu)))
        rate = args.rate
        for name in wanted:
            print(f"-- {name}", flush=True)
            with ExitStack() as inner:
                url, key, scrape, processes = _start(name, inner, workdir, up.url, peer_python, args.sut_cpu,
                                                     tuple(args.fast_paths_off))  # fmt: skip
                cpu = partial(_cpu_of, processes)
                _warm_up(url, key, stems_file, args, name)
                phases: dict[str, Any] = {}
                for connections in (1, 16):
                    before, cpu_before = scrape(), cpu()
                    result = load.closed(url, key, systems.MODEL, stems_file, connections=connections,
                                         duration_s=args.duration, cpu=args.load_cpu)  # fmt: skip
                    phases[result.mode] = _phase(result, before, scrape(), cpu() - cpu_before, processes)
                    print(
                        f"   {result.mode}: {result.throughput:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                        flush=True,
                    )
                if rate is None and name != "direct":
                    rate = _default_rate(phases["c=16"]["result"]["requests"] / phases["c=16"]["result"]["duration_s"])
                if rate is not None:
                    before, cpu_before = scrape(), cpu()
                    result = load.open_loop(url, key, systems.MODEL, stems, rate=rate, duration_s=args.rate_duration)
                    phases["rate"] = _phase(result, before, scrape(), cpu() - cpu_before, processes)
                    print(
                        f"   {result.mode}: p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                        f"errors {result.errors}",
                        flush=True,
                    )
                entry: dict[str, Any] = {"phases": phases, "processes": len(processes)}
                if processes:
                    entry["rss_mib"] = sum(p.rss_mib() for p in processes)
                if name in MEMORY_CHECKED and args.memory and processes:
                    entry["memory"] = _memory(processes[0], url, key, stems_file, args)
                measured[name] = entry
        if "rate" not in measured["direct"]["phases"] and rate is not None:
            direct = load.open_loop(up.url, "none", systems.MODEL, stems, rate=rate, duration_s=args.rate_duration)
            measured["direct"]["phases"]["rate"] = _phase(direct, None, None)
        upstream_stats = httpx.get(up.url + "/stats").json()

    run = {
        "machine": _machine(args),
        "versions": _versions(peer_python),
        "command": "python -m bench.overhead " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "wall_s": round(time.time() - started, 1),
        "rate": rate,
        "upstream_served": upstream_stats,
        "systems": measured,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_bytes(orjson.dumps(run, option=orjson.OPT_INDENT_2))
    args.output.write_text(report.markdown(run))
    print(report.markdown(run))
    print(f"written: {args.output} and {args.output.with_suffix('.json')}")
    return 0


def _cpu(value: str) -> int | None:
    return None if value.lower() in ("none", "all", "") else int(value)


def _start(
    name: str, stack: ExitStack, workdir: Path, upstream_url: str, peer_python: Path | None, cpu: int | None,
    fast_paths_off: tuple[str, ...] = (),
) -> tuple[str, str, Any, list[systems.Process]]:  # fmt: skip
    """The system's URL, key, a scrape of its timers (ours only) and its processes."""
    none = lambda: None  # noqa: E731 - systems without our timers
    if name == "direct":
        return upstream_url, "none", none, []
    if name.startswith("ours"):
        policy = "content-blind" if name == "ours-blind" else "full-classification"
        gateway = systems.gateway(workdir, policy, upstream_url, cpu, fast_paths_off=fast_paths_off)
        process = stack.enter_context(systems.running(gateway))
        return process.url, systems.OUR_KEY, lambda: stages.scrape(process.url, systems.OUR_KEY), [process]
    assert peer_python is not None
    processes = []
    presidio_url = None
    if name == "litellm-presidio":
        presidio = stack.enter_context(systems.running(systems.presidio(workdir, peer_python, cpu)))
        presidio_url = presidio.url
        processes.append(presidio)
    process = stack.enter_context(
        systems.running(systems.litellm(workdir, peer_python, upstream_url, cpu, presidio_url))
    )
    return process.url, systems.PEER_KEY, none, [process, *processes]


def _cpu_of(processes: list[systems.Process]) -> float:
    return sum(p.cpu_s() for p in processes)


def _warm_up(url: str, key: str, stems_file: Path, args: argparse.Namespace, name: str) -> None:
    if args.warmup > 0:
        load.closed(url, key, systems.MODEL, stems_file, connections=4, duration_s=args.warmup, cpu=args.load_cpu)


def _phase(
    result: load.Result, before: Any, after: Any, cpu_s: float = 0.0, processes: list[systems.Process] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"result": {**asdict(result), "throughput": result.throughput}}
    if processes and result.requests:
        # What the system's processes spent per request, wherever it ran: the cost that
        # does not depend on how busy the machine was.
        out["cpu_ms_per_request"] = cpu_s * 1000 / result.requests
    if before is not None and after is not None:
        out["stages"] = stages.difference(before, after)
    return out


def _default_rate(peer_throughput: float) -> float:
    """Half of what plain LiteLLM sustained: a load every system can carry."""
    return max(1.0, round(peer_throughput / 2))


def _memory(process: systems.Process, url: str, key: str, stems_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    """RSS before and after ``args.memory`` more requests (16 connections), sampled along the way."""
    samples = [(0, process.rss_mib())]
    sent = 0
    chunk = max(args.memory // 10, 1)
    while sent < args.memory:
        began = time.perf_counter()
        done = 0
        while done < chunk:  # wrk runs for a time, not a count: run until the chunk is covered
            result = load.closed(url, key, systems.MODEL, stems_file, connections=16, duration_s=5, cpu=args.load_cpu)
            done += result.requests
        sent += done
        samples.append((sent, process.rss_mib()))
        print(
            f"   memory: {sent} requests, RSS {samples[-1][1]:.1f} MiB ({time.perf_counter() - began:.0f} s)",
            flush=True,
        )
    return {"requests": sent, "rss_mib": samples}


def _peer(venv_dir: Path) -> Path:
    """The peer's interpreter; its virtual environment is created from the hashed lock when missing."""
    python = venv_dir / "bin" / "python"
    stamp = venv_dir / ".installed"
    lock = HERE / "peer-requirements.txt"
    if not stamp.exists() or stamp.read_text() != lock.read_text():
        print(f"-- creating the peer's environment in {venv_dir} (LiteLLM proxy, Presidio)", flush=True)
        venv.create(venv_dir, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps",
                        "-r", str(lock)], check=True)  # fmt: skip
        stamp.write_text(lock.read_text())
    return python


def _machine(args: argparse.Namespace) -> dict[str, Any]:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())  # fmt: skip
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sut_cpu": args.sut_cpu,
        "load_cpu": args.load_cpu,
        "load_before": os.getloadavg(),
    }


def _versions(peer_python: Path | None) -> dict[str, str]:
    ours = {name: metadata.version(name) for name in ("vaultroute", "presidio-analyzer", "spacy", "uvicorn",
                                                      "aiohttp", "starlette", "orjson")}  # fmt: skip
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    out = {f"ours:{k}": v for k, v in ours.items()} | {"wrk": wrk.strip()}
    if peer_python is not None:
        code = (
            "from importlib import metadata as m; import orjson; print(orjson.dumps({n: m.version(n) for n in "
            "('litellm','presidio-analyzer','presidio-anonymizer','spacy','uvicorn')}).decode())"
        )
        peer = orjson.loads(subprocess.run([str(peer_python), "-c", code], capture_output=True, text=True,
                                           check=True).stdout)  # fmt: skip
        out |= {f"peer:{k}": v for k, v in peer.items()}
    return out


if __name__ == "__main__":
    sys.exit(main())
