"""What the request path costs in CPU, against another revision of it, measured in one run.

``python -m bench.path_cpu --against REV`` (a minute or two): the in-process path (the ASGI app
with ``tests/fakes.py``'s classifier and adapter, SQLite ledger and audit trail; half the
requests streamed) answers ``--requests`` chat requests in this tree and in ``REV`` (exported
with ``git archive``), the two alternating for ``--rounds`` rounds. Reported: the CPU time of
the process per request (``time.process_time``: every thread, the evidence writers included),
median per tree and their ratio. CPU time, not elapsed time, so that a busy machine's other work
does not land on one side. Results in ``bench/results/path_cpu.md``. Use it when a refactor
moves the path: the ratio should stay near 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
RESULTS = ROOT / "bench" / "results" / "path_cpu.md"


async def _one(requests: int) -> float:
    """CPU µs per request of the tree in the working directory. Imported here, once the working
    directory leads ``sys.path``: the tree measured is the one whose ``gateway`` is imported."""
    import httpx

    import gateway
    from gateway.app import create_app
    from gateway.config import Config
    from tests.fakes import KeywordClassifier, ScriptedAdapter

    assert Path(gateway.__file__).is_relative_to(Path.cwd()), f"measured {gateway.__file__}, not {Path.cwd()}"
    os.environ.setdefault("TEST_UPSTREAM_KEY", "sk-test")
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(policy=str(Path.cwd() / "tests" / "data" / "routing.yaml"),
                        database_url=f"sqlite:///{tmp}/gw.db", var_dir=tmp, policy_watch_s=0)  # fmt: skip
        app = create_app(config, classifier=KeywordClassifier(),
                         adapter_factory=lambda name, target: ScriptedAdapter(name, "Fine."))  # fmt: skip
        async with app.router.lifespan_context(app):
            _, key = app.state.gateway.keys.create("payments", ["user"])
            headers = {"Authorization": f"Bearer {key}"}
            body = {"model": "bank-standard", "messages": [{"role": "user", "content": "What is a basis point?"}]}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                for i in range(200):  # warm up
                    await client.post("/v1/chat/completions", json={**body, "stream": i % 2 == 1}, headers=headers)
                started = time.process_time()
                for i in range(requests):
                    response = await client.post(
                        "/v1/chat/completions", json={**body, "stream": i % 2 == 1}, headers=headers
                    )
                    assert response.status_code == 200, response.text
                return (time.process_time() - started) / requests * 1e6


def _export(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    with tempfile.TemporaryFile() as tar_file:
        tar_file.write(archive)
        tar_file.seek(0)
        with tarfile.open(fileobj=tar_file) as tar:
            tar.extractall(into, filter="data")


def _measure(tree: Path, requests: int) -> float:
    done = subprocess.run([sys.executable, str(SCRIPT), "--one", "--requests", str(requests)],
                          cwd=tree, check=True, capture_output=True, text=True)  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="HEAD~1", help="the revision to compare with (default HEAD~1)")
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.path.insert(0, os.getcwd())
        print(f"{asyncio.run(_one(args.requests)):.1f}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp)
        _export(args.against, other)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(args.rounds):
            theirs.append(_measure(other, args.requests))
            ours.append(_measure(ROOT, args.requests))
    mine, peer = statistics.median(ours), statistics.median(theirs)
    lines = [
        "# The request path's CPU per request, this tree against another revision",
        "",
        f"`python -m bench.path_cpu --against {args.against} --requests {args.requests} --rounds {args.rounds}`",
        "",
        "| tree | CPU µs per request, per round | median |",
        "|---|---|---:|",
        f"| this tree | {', '.join(f'{v:.0f}' for v in ours)} | {mine:.0f} |",
        f"| {args.against} | {', '.join(f'{v:.0f}' for v in theirs)} | {peer:.0f} |",
        "",
        f"Ratio (this tree / {args.against}): **{mine / peer:.2f}**",
        "",
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end of the run.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
