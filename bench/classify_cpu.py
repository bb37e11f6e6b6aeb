"""The classifier's CPU per request on bench/overhead's prompts, for the code of one tree.

``python bench/classify_cpu.py [ROOT] [--prompts N]``: ``PresidioClassifier.classify`` on
``ROOT``'s own code (default: this tree) under ``ROOT``'s full-classification benchmark
policy, one unique ~30-word prompt at a time (thread hand-offs included); prints the median
latency and the process's CPU per request. To see what a change cost, run it on two trees
in turn, a few rounds alternating, pinned to one core, e.g. an older commit unpacked with
``git archive COMMIT | tar -x -C /tmp/old`` against this one::

    for i in 1 2 3; do for r in /tmp/old .; do taskset -c 1 .venv/bin/python bench/classify_cpu.py $r; done; done
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--prompts", type=int, default=800)
    args = parser.parse_args()
    root = str(Path(args.root).resolve())
    sys.path.insert(0, root)
    os.chdir(root)
    from bench.overhead.prompts import prompt_stems, unique
    from gateway.classify import PresidioClassifier
    from gateway.policy.explain import recognizers_of
    from gateway.policy.loader import load_file

    loaded = load_file("bench/overhead/policies/full-classification.yaml")
    recognizers = recognizers_of(loaded.policy)
    classifier = PresidioClassifier()
    classifier.load()
    stems = prompt_stems(200)

    async def run() -> None:
        async def one(n: int) -> None:
            text = unique(stems[n % len(stems)], n)
            await classifier.classify([text], recognizers=recognizers, min_score=0.5, entities=loaded.detects)

        for n in range(60):  # warm
            await one(n + 1)
        walls = []
        cpu = time.process_time()
        for n in range(args.prompts):
            started = time.perf_counter()
            await one(n + 40_000)
            walls.append((time.perf_counter() - started) * 1000)
        walls.sort()
        spent = (time.process_time() - cpu) / args.prompts * 1000
        print(f"{root}: classify p50 {walls[len(walls) // 2]:.3f} ms, CPU per request {spent:.3f} ms")

    asyncio.run(run())
    classifier.close()


if __name__ == "__main__":
    main()
