"""The run as Markdown: the three comparisons against their targets, then every figure."""

from __future__ import annotations

import math
from typing import Any

# (name, ours, peer, most added p50 at c=1 as a share of the peer's, least throughput at c=16 as a multiple)
COMPARISONS = (
    ("(a) classification off vs plain LiteLLM", "ours-blind", "litellm", 1 / 10, 10.0),
    ("(b) full classification vs plain LiteLLM", "ours-full", "litellm", 1 / 3, 3.0),
    ("(c) full classification vs LiteLLM + Presidio guardrail", "ours-full", "litellm-presidio", 1 / 3, 3.0),
)
LABELS = {
    "direct": "upstream, called directly",
    "litellm": "LiteLLM proxy",
    "litellm-presidio": "LiteLLM proxy + Presidio guardrail",
    "ours-blind": "ours, content-blind policy",
    "ours-full": "ours, full classification",
}
STAGE_ORDER = ("auth", "parse", "classify", "decide", "cache", "adapter", "ledger", "overhead", "request")


def _placement(m: dict[str, Any]) -> str:
    if m["sut_cpu"] is None:
        return "Every process on every CPU (no pinning), one worker per system."
    return (f"Each system under test pinned to CPU {m['sut_cpu']} (all its processes), one worker; the upstream and "
            f"the load generators on CPU {m['load_cpu']}.")


def _result(run: dict[str, Any], system: str, phase: str) -> dict[str, Any] | None:
    entry = run["systems"].get(system, {}).get("phases", {}).get(phase)
    return entry["result"] if entry else None


def added(run: dict[str, Any], system: str, phase: str, key: str) -> float:
    mine, base = _result(run, system, phase), _result(run, "direct", phase)
    if mine is None or base is None:
        return math.nan
    return float(mine[key]) - float(base[key])


def throughput(run: dict[str, Any], system: str, phase: str = "c=16") -> float:
    result = _result(run, system, phase)
    return float(result["throughput"]) if result else math.nan


def _f(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def markdown(run: dict[str, Any]) -> str:
    m = run["machine"]
    lines = [
        "# Gateway overhead, side by side with LiteLLM",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}; Python {m['python']}. "
        f"{_placement(m)} Load average before the run: "
        f"{', '.join(f'{x:.2f}' for x in m['load_before'])}. Started {run['started']}, {run['wall_s']:.0f} s.",
        "",
        f"Command: `{run['command']}`",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(run["versions"].items())) + ".",
        "",
        "## Against the targets",
        "",
        "*Added* latency is the system's latency less the upstream's own, called directly in the same run at the",
        "same concurrency. Ratios are ours over the peer's (latency: lower is better; throughput: higher).",
        "",
        "| comparison | added p50 at c=1: ours / peer | ratio | target | throughput at c=16: ours / peer | ratio "
        "| target | met |",
        "|---|---|---:|---:|---|---:|---:|---|",
    ]
    for title, ours, peer, latency_target, throughput_target in COMPARISONS:
        if ours not in run["systems"] or peer not in run["systems"]:
            continue
        a_ours, a_peer = added(run, ours, "c=1", "p50_ms"), added(run, peer, "c=1", "p50_ms")
        t_ours, t_peer = throughput(run, ours), throughput(run, peer)
        latency_ratio, throughput_ratio = a_ours / a_peer, t_ours / t_peer
        met = latency_ratio <= latency_target and throughput_ratio >= throughput_target
        lines.append(
            f"| {title} | {_f(a_ours)} ms / {_f(a_peer)} ms | {_f(latency_ratio, 3)} | <= {_f(latency_target, 3)} "
            f"| {_f(t_ours, 0)} / {_f(t_peer, 0)} req/s | {_f(throughput_ratio, 1)}x | >= {throughput_target:g}x "
            f"| {'yes' if met else 'no'} |"
        )
    lines += ["", "## Every figure", "",
              "Latencies in milliseconds, client side; *added* subtracts the direct upstream's figure.", ""]
    lines += _system_table(run)
    lines += _stage_tables(run)
    lines += _memory(run)
    served = run.get("upstream_served") or {}
    lines += ["", f"The upstream answered {served.get('completions', 0):,} completions and refused "
              f"{served.get('bad_requests', 0)} bodies in the run; no system's phase may count a request that "
              "did not reach it (each system's errors are in the table above)."]
    return "\n".join(lines) + "\n"


def _system_table(run: dict[str, Any]) -> list[str]:
    rows = [
        "| system | phase | req/s | p50 | p99 | added p50 | added p99 | CPU ms/request | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system, entry in run["systems"].items():
        for phase, data in entry["phases"].items():
            r = data["result"]
            rows.append(
                f"| {LABELS.get(system, system)} | {r['mode']} | {_f(r['throughput'], 1)} | {_f(r['p50_ms'])} "
                f"| {_f(r['p99_ms'])} | {_f(added(run, system, phase, 'p50_ms'))} "
                f"| {_f(added(run, system, phase, 'p99_ms'))} | {_f(data.get('cpu_ms_per_request', math.nan))} "
                f"| {r['errors']} |"
            )
    rows += ["", "*CPU ms/request*: user and system time of all the system's processes over the phase, per "
             "request answered (the gateway or the LiteLLM proxy, and Presidio's server for the guardrail): what "
             "a request costs, independently of how busy the machine was."]
    if run.get("rate"):
        rows += ["", f"The fixed-rate phase sends {run['rate']:g} requests a second, evenly spaced, whatever the "
                 "system does; latency is from each request's scheduled time, so a system that falls behind pays "
                 "for its queue."]
    return rows


def _stage_tables(run: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for system in ("ours-blind", "ours-full"):
        entry = run["systems"].get(system)
        if not entry:
            continue
        out += ["", f"### Where our time goes: {LABELS[system]}", "",
                "From the server's own timers (`gateway_stage_seconds`, `gateway_overhead_seconds`: total less "
                "the upstream attempts), per request, milliseconds; p50/p99 interpolated inside histogram "
                "buckets. *adapter* includes the upstream's own time.", "",
                "| stage | " + " | ".join(f"{p} mean | {p} p50" for p in entry["phases"]) + " |",
                "|---|" + "---:|---:|" * len(entry["phases"])]
        for stage in STAGE_ORDER:
            cells = []
            for data in entry["phases"].values():
                s = (data.get("stages") or {}).get(stage)
                cells += [_f(s["mean_ms"], 3), _f(s["p50_ms"], 3)] if s else ["", ""]
            if any(cells):
                out.append(f"| {stage} | " + " | ".join(cells) + " |")
    return out


def _memory(run: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name, label in (("ours-blind", "ours, content-blind"), ("ours-full", "ours, full classification")):
        entry = run["systems"].get(name, {}).get("memory")
        if not entry:
            continue
        samples = entry["rss_mib"]
        out += ["", f"### Memory: {label}", "",
                f"Resident memory of our gateway ({label}) over {entry['requests']:,} more requests at 16 "
                f"connections, every prompt new: {samples[0][1]:.1f} MiB at the start, {samples[-1][1]:.1f} MiB "
                "at the end.", "",
                "| requests | RSS MiB |", "|---:|---:|", *(f"| {n:,} | {rss:.1f} |" for n, rss in samples)]
    return out
