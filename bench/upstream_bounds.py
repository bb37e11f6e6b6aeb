"""What a misbehaving upstream costs ``gateway serve``: peak memory, time, and ``/healthz`` meanwhile.

    .venv/bin/python bench/upstream_bounds.py [--volume-mb 400] [--output bench/results/upstream_bounds.md]

Starts ``gateway serve`` (its own process, default limits) in front of
``tests/security/hostile_upstream.py``, whose attacks each offer ``--volume-mb``
(a stream without usage, a body, a body that never ends, one header, a
hundred thousand headers), through an ``openai_compatible`` target and a
``litellm`` target, streaming and not, one after the other while ``/healthz``
is asked every 50 ms. Reports, per attack: the HTTP status, the attempt's
outcome in the ledger, how long it took, and the gateway's peak resident memory
(``VmHWM``) after it; and the slowest ``/healthz`` answer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.security.gateway_process import GatewayProcess, HealthWatch
from tests.security.hostile_upstream import HostileUpstream
from tests.security.test_upstream_bounds import CASES, KEY_ENV, attempt_log, chat, hostile_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume-mb", type=int, default=400)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    lines = [
        "# A misbehaving upstream: what it costs `gateway serve`",
        "",
        f"`bench/upstream_bounds.py --volume-mb {args.volume_mb}`: default limits, each attack offering "
        f"{args.volume_mb} MB.",
        "",
        "| target | attack | status | ledger attempt | seconds | peak RSS after (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    with (
        tempfile.TemporaryDirectory() as work,
        HostileUpstream(volume=args.volume_mb << 20) as upstream,
        GatewayProcess(Path(work), hostile_policy(upstream), env={KEY_ENV: "sk-bench"}) as gateway,
    ):
        for kind in ("oc", "ll"):
            for stream in (False, True):
                chat(gateway, f"{kind}-polite", stream=stream)
        baseline = gateway.peak_rss_mib()
        with HealthWatch(gateway.url) as health:
            for kind, mode, stream in CASES:
                started = time.monotonic()
                status, request_id, _ = chat(gateway, f"{kind}-{mode}", stream=stream)
                took = time.monotonic() - started
                outcome = attempt_log(Path(work), request_id).split(":", 1)[1]
                target = "openai_compatible" if kind == "oc" else "litellm"
                attack = f"{mode} ({'stream' if stream else 'not streamed'})"
                lines.append(f"| {target} | {attack} | {status} | {outcome} | {took:.1f} | "
                             f"{gateway.peak_rss_mib():.0f} |")  # fmt: skip
                print(lines[-1], flush=True)
        peak = gateway.peak_rss_mib()
    lines += [
        "",
        f"Peak RSS after start and one polite request per path: {baseline:.0f} MiB; after every attack: "
        f"{peak:.0f} MiB (+{peak - baseline:.0f} MiB).",
        f"`/healthz`: {health.answers} answers, {len(health.failures)} failures, slowest "
        f"{health.slowest_s * 1000:.0f} ms.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
