"""How long ``gateway policy validate``'s static checks take on a large policy.

Speed used to be asserted in the suite (``check`` under 2 s); on a loaded
two-core runner that is a flaky test, so it is measured here instead. The
policy is ``tests.policy.test_checks.large_policy``: 40 entity types and 30
routes over entity types, teams and sizes, whose coverage analysis is the
costly part. Budget: the median under 2 s (a compliance officer runs validate
by hand and in CI); exit 1 above it.

Usage: ``python bench/policy_checks.py [--runs N]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.policy.checks import check
from tests.policy.test_checks import large_policy

BUDGET_S = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    loaded = large_policy()
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        check(loaded, None)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(f"checks on a 30-route, 40-entity policy: median {median:.3f} s, max {max(times):.3f} s "
          f"over {args.runs} runs (budget {BUDGET_S:.1f} s)")  # fmt: skip
    return 0 if median < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
