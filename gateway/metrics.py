"""Prometheus metrics, one registry per app (never the global default registry).

Labels carry names the operator chose (route, target, level, residency) and
never anything from a request's content, key or team secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

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
            "Time from request to the end of the response (streams: the last event).",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        # The response cache (gateway/cache/service.py). A store that fails or is too
        # slow is skipped: requests go on, these count it and /readyz says degraded.
        self.cache_lookups = Counter(
            "gateway_cache_lookups",
            "Response cache lookups by result: hit, miss, or unavailable (the store was skipped).",
            ["result"],
            registry=self.registry,
        )
        self.cache_stores = Counter(
            "gateway_cache_stores",
            "Answers written to the response cache: stored, or unavailable (the store was skipped).",
            ["result"],
            registry=self.registry,
        )
        self.cache_errors = Counter(
            "gateway_cache_errors",
            "Response cache store failures by operation (get, set, ping) and reason (timeout, error, unreadable).",
            ["operation", "reason"],
            registry=self.registry,
        )
        self.cache_degraded = Gauge(
            "gateway_cache_degraded",
            "1 while the response cache store is failing and requests skip it.",
            registry=self.registry,
        )
        # Request path (recorded by ChatService through observe_request and Telemetry.stage).
        seconds = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
        self.overhead = Histogram(
            "gateway_overhead_seconds",
            "The gateway's own time per request: total time less the time spent in upstream attempts.",
            ["route"],
            registry=self.registry,
            buckets=seconds,
        )
        self.upstream = Histogram(
            "gateway_upstream_seconds", "Time of one attempt at one target.", ["target", "outcome"],
            registry=self.registry, buckets=seconds,
        )
        self.attempts = Counter(
            "gateway_attempts", "Attempts at targets by outcome.", ["target", "residency", "outcome"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "gateway_tokens", "Tokens by target and direction (input, output).", ["target", "direction"],
            registry=self.registry,
        )
        self.cost = Counter("gateway_cost_usd", "Cost in US dollars.", ["route", "target"], registry=self.registry)
        self.cache_results = Counter(
            "gateway_cache_results", "Requests by cache result (hit, miss, skip).", ["result"], registry=self.registry
        )
        self.stage_seconds = Histogram(
            "gateway_stage_seconds", "Time in each stage of the request path (classify: the classifier's time).",
            ["stage"], registry=self.registry, buckets=seconds,
        )
        self.classifier_errors = Counter(
            "gateway_classifier_errors", "Classifier failures, answered with the policy's on_error level.",
            ["reason"], registry=self.registry,
        )

    def observe_request(self, row: Mapping[str, Any], attempts: Sequence[Any] = ()) -> None:
        """Count one finished request from its ledger row and its attempts (``gateway.dispatch.Attempt``)."""
        route, target = str(row.get("route") or ""), str(row.get("target") or "")
        self.requests.labels(
            route, target, str(row.get("level") or ""), str(row.get("residency") or ""), str(row.get("status_code"))
        ).inc()
        total = float(row.get("latency_ms") or 0) / 1000
        upstream = sum(float(getattr(a, "latency_ms", 0) or 0) for a in attempts) / 1000
        self.latency.labels(route).observe(total)
        self.overhead.labels(route).observe(max(total - upstream, 0.0))
        for attempt in attempts:
            self.attempts.labels(attempt.target, attempt.residency, attempt.outcome).inc()
            if attempt.outcome != "refused_by_invariant":
                self.upstream.labels(attempt.target, attempt.outcome).observe(float(attempt.latency_ms or 0) / 1000)
        if target:
            self.tokens.labels(target, "input").inc(int(row.get("prompt_tokens") or 0))
            self.tokens.labels(target, "output").inc(int(row.get("completion_tokens") or 0))
            self.cost.labels(route, target).inc(float(row.get("cost_usd") or 0))
        self.cache_results.labels(str(row.get("cache_status") or "skip")).inc()
        if row.get("classifier_error"):
            self.classifier_errors.labels(str(row["classifier_error"])).inc()

    def gauge(
        self, name: str, documentation: str, labels: Sequence[str], read: Callable[[], Mapping[tuple[str, ...], float]]
    ) -> None:
        """A gauge read at scrape time: ``read()`` maps label values to the value."""
        self.registry.register(_Reading(name, documentation, list(labels), read))

    def watch_local_models(self, adapters: Callable[[], Mapping[str, object]]) -> None:
        """Queue depth, batch size and running requests of each in-process model, read at scrape time.

        ``adapters()`` maps target names to the running adapters; those that batch
        (``adapters.transformers_local.TransformersAdapter``) report, the others are skipped.
        """

        def reading(attribute: str) -> Callable[[], Mapping[tuple[str, ...], float]]:
            def read() -> Mapping[tuple[str, ...], float]:
                return {
                    (name,): float(getattr(adapter, attribute))
                    for name, adapter in adapters().items()
                    if all(hasattr(adapter, a) for a in ("queue_depth", "last_batch_size", "running_requests"))
                }

            return read

        self.gauge("gateway_local_queue_depth", "Requests waiting for a place in an in-process model's batch.",
                   ["target"], reading("queue_depth"))
        self.gauge("gateway_local_batch_size", "Sequences decoded together in an in-process model's latest step "
                   "(0 when idle).", ["target"], reading("last_batch_size"))
        self.gauge("gateway_local_running_requests", "Requests holding a place in an in-process model's batch.",
                   ["target"], reading("running_requests"))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Reading(Collector):
    def __init__(
        self, name: str, documentation: str, labels: list[str], read: Callable[[], Mapping[tuple[str, ...], float]]
    ) -> None:
        self._name, self._documentation, self._labels, self._read = name, documentation, labels, read

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=self._labels)
        for values, value in self._read().items():
            family.add_metric(list(values), value)
        yield family
