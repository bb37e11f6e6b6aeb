"""Prometheus metrics, one registry per app (never the global default registry).

Labels carry names the operator chose (route, target, level, residency) and
never anything from a request's content, key or team secrets.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests",
            "Completion requests by outcome.",
            ["route", "target", "level", "residency", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_request_seconds",
            "Time from request to response headers.",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
