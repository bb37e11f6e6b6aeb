"""Prometheus metrics, one registry per app (never the global default registry).

Labels carry names the operator chose (route, target, level, residency) and
never anything from a request's content, key or team secrets.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from gateway.record import RequestRecord
from gateway.workermetrics import MergedRegistry, WorkerMetrics

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.workers: WorkerMetrics | None = None  # share(): the metrics of every worker of the replica
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes...
        # The request path's series are plain numbers updated on the event loop (every request
        # passes here, and prometheus_client takes a lock per update): ``PathMetrics``.
        path = self.path = PathMetrics()
        self.registry.register(path)
        self.requests = path.counter(
            "gateway_requests", "Completion requests by outcome.", ["route", "target", "level", "residency", "status"]
        )
        self.latency = path.histogram(
            "gateway_request_seconds", "Time from request to the end of the response (streams: the last event).",
            ["route"], (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )  # fmt: skip
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
        # Fine below a millisecond: the gateway's own stages take tens of microseconds each.
        seconds = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1, 2.5, 5, 10, 30, 60)  # fmt: skip
        self.overhead = path.histogram(
            "gateway_overhead_seconds",
            "The gateway's own time per request: total time less the time spent in upstream attempts.",
            ["route"], seconds,
        )  # fmt: skip
        self.upstream = path.histogram(
            "gateway_upstream_seconds", "Time of one attempt at one target.", ["target", "outcome"], seconds
        )
        self.attempts = path.counter(
            "gateway_attempts", "Attempts at targets by outcome.", ["target", "residency", "outcome"]
        )
        self.tokens = path.counter("gateway_tokens", "Tokens by target and direction (input, output).",
                                   ["target", "direction"])  # fmt: skip
        self.cost = path.counter("gateway_cost_usd", "Cost in US dollars.", ["route", "target"])
        self.cache_results = path.counter(
            "gateway_cache_results", "Requests by cache result (hit, miss, skip).", ["result"]
        )
        self.stage_seconds = path.histogram(
            "gateway_stage_seconds",
            "Time in each stage of the request path: auth, parse, classify, decide, cache, adapter (the "
            "calls to targets, until the answer or a stream's first chunk), ledger.",
            ["stage"], seconds,
        )  # fmt: skip
        self.classifier_errors = path.counter(
            "gateway_classifier_errors", "Classifier failures, answered with the policy's on_error level.",
            ["reason"],
        )  # fmt: skip

    def stage(self, name: str) -> _Series:
        """The ``gateway_stage_seconds`` series of one stage."""
        return self.stage_seconds.labels(name)

    def observe_request(self, record: RequestRecord) -> None:
        """Count one finished request from its record (``gateway/record.py``)."""
        decided = record.decided
        route, target = decided.route or "", record.target or ""
        level, residency = decided.level, record.residency or ""
        self.requests.labels(route, target, level, residency, str(record.status_code)).inc()
        total = record.latency_ms / 1000
        upstream = sum(a.latency_ms for a in record.attempts) / 1000
        self.latency.labels(route).observe(total)
        self.overhead.labels(route).observe(max(total - upstream, 0.0))
        for attempt in record.attempts:
            self.attempts.labels(attempt.target, attempt.residency, attempt.outcome).inc()
            if attempt.outcome != "refused_by_invariant":
                self.upstream.labels(attempt.target, attempt.outcome).observe(attempt.latency_ms / 1000)
        if target:
            self.tokens.labels(target, "input").inc(record.prompt_tokens)
            self.tokens.labels(target, "output").inc(record.completion_tokens)
            self.cost.labels(route, target).inc(float(record.cost_usd))
        self.cache_results.labels(record.cache_status).inc()
        if decided.classifier_error:
            self.classifier_errors.labels(decided.classifier_error).inc()

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

    def share(self, directory: str) -> None:
        """Publish this worker's metrics in ``directory`` and answer scrapes for all workers there
        (``gateway/workermetrics.py``); call on the event loop."""
        self.workers = WorkerMetrics(self.registry, directory)
        self.workers.start()

    async def close(self) -> None:
        if self.workers is not None:
            await self.workers.close()

    def render(self) -> bytes:
        if self.workers is not None:
            return generate_latest(MergedRegistry(self.workers))  # type: ignore[arg-type]
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


class _Series:
    """One labelled series: a count (counters) or bucket counts and a sum (histograms)."""

    __slots__ = ("bounds", "counts", "total", "value")

    def __init__(self, bounds: tuple[float, ...] = ()) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.total = 0.0
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def observe(self, value: float) -> None:
        self.total += value
        self.counts[bisect.bisect_left(self.bounds, value)] += 1


class _Family:
    """A counter or histogram of the request path, with its series by label values."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: tuple[float, ...] | None):
        self.name, self.documentation, self.label_names = name, documentation, list(labels)
        self.buckets = tuple(float(b) for b in buckets) if buckets is not None else None
        self.series: dict[tuple[str, ...], _Series] = {}

    def labels(self, *values: str) -> _Series:
        found = self.series.get(values)
        if found is None:
            if len(values) != len(self.label_names):
                raise ValueError(f"{self.name} takes the labels {self.label_names}")
            found = self.series[values] = _Series(self.buckets or ())
        return found

    def collect(self) -> Metric:
        if self.buckets is None:
            counter = CounterMetricFamily(self.name, self.documentation, labels=self.label_names)
            for values, series in list(self.series.items()):
                counter.add_metric(list(values), series.value)
            return counter
        histogram = HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)
        edges = [*(floatToGoString(b) for b in self.buckets), "+Inf"]
        for values, series in list(self.series.items()):
            cumulative = list(itertools.accumulate(series.counts))
            histogram.add_metric(list(values), list(zip(edges, cumulative, strict=True)), series.total)
        return histogram


class PathMetrics(Collector):
    """Counters and histograms for the request path, without locks.

    Every request updates a dozen series; prometheus_client's own metrics take
    a lock for each update. These are updated only on the event loop thread
    (the request path and its observers run there), and read there too (the
    ``/metrics`` handler), so plain arithmetic is safe. The exposition is the
    same as prometheus_client's: ``_total`` for counters, ``_bucket``,
    ``_count`` and ``_sum`` for histograms.
    """

    def __init__(self) -> None:
        self._families: list[_Family] = []

    def counter(self, name: str, documentation: str, labels: Sequence[str]) -> _Family:
        family = _Family(name, documentation, labels, None)
        self._families.append(family)
        return family

    def histogram(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> _Family:
        family = _Family(name, documentation, labels, tuple(buckets))
        self._families.append(family)
        return family

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.collect()
