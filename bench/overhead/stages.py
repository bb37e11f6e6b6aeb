"""Our gateway's own timers, read from ``/metrics`` before and after a phase.

``gateway_stage_seconds{stage}`` times each stage of the request path from
inside the server (``gateway/telemetry.py``): ``auth``, ``parse``,
``classify``, ``decide``, ``cache``, ``adapter`` (the call to the upstream,
its own time included), ``ledger`` (the row and the audit record queued).
``gateway_overhead_seconds`` is each request's total time less its upstream
attempts. The difference of two scrapes gives, per stage, the requests timed,
the mean, and p50/p99 interpolated within the histogram's buckets.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

import httpx

_SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>[-+0-9.eEinfNa]+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')
FAMILIES = {
    "gateway_stage_seconds": "stage",
    "gateway_overhead_seconds": None,
    "gateway_request_seconds": None,
}

Scrape = dict[tuple[str, str], dict[str, Any]]


def scrape(url: str, key: str) -> Scrape:
    """``(family, stage) -> {"sum", "count", "buckets": {le: cumulative count}}``."""
    return parse(httpx.get(url + "/metrics", headers={"authorization": f"Bearer {key}"}, timeout=10).text)


def parse(text: str) -> Scrape:
    """The timer families of a Prometheus text exposition (see ``scrape``)."""
    out: Scrape = defaultdict(lambda: {"sum": 0.0, "count": 0.0, "buckets": defaultdict(float)})
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, value = match["name"], float(match["value"])
        labels = dict(_LABEL.findall(match["labels"] or ""))
        for family, label in FAMILIES.items():
            if not name.startswith(family):
                continue
            key_ = (family, labels.get(label, "") if label else "")
            suffix = name.removeprefix(family)
            if suffix == "_sum":
                out[key_]["sum"] += value
            elif suffix == "_count":
                out[key_]["count"] += value
            elif suffix == "_bucket":
                out[key_]["buckets"][float(labels["le"])] += value
    return dict(out)


def difference(before: Scrape, after: Scrape) -> dict[str, dict[str, float]]:
    """Per stage (and ``overhead``, ``total``) over the phase: count, mean, p50, p99 in milliseconds."""
    out: dict[str, dict[str, float]] = {}
    for (family, stage), now in sorted(after.items()):
        then = before.get((family, stage), {"sum": 0.0, "count": 0.0, "buckets": {}})
        count = now["count"] - then["count"]
        if count <= 0:
            continue
        buckets = {le: n - then["buckets"].get(le, 0.0) for le, n in now["buckets"].items()}
        name = stage if family == "gateway_stage_seconds" else family.removeprefix("gateway_").removesuffix("_seconds")
        out[name] = {
            "count": count,
            "mean_ms": (now["sum"] - then["sum"]) / count * 1000,
            "p50_ms": _quantile(buckets, count, 0.5) * 1000,
            "p99_ms": _quantile(buckets, count, 0.99) * 1000,
        }
    return out


def _quantile(buckets: dict[float, float], count: float, q: float) -> float:
    """Linear interpolation inside the bucket holding the q-th observation (as Prometheus does)."""
    rank = q * count
    lower, below = 0.0, 0.0
    for le in sorted(buckets):
        cumulative = buckets[le]
        if cumulative >= rank:
            if math.isinf(le):
                return lower
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = le, cumulative
    return lower
