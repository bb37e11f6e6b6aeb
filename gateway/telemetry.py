"""Traces: a span per stage of the request path, with no content in any of them.

Spans, by name:

=========================  ======  ==============================================
``{METHOD} {route}``       SERVER  the HTTP request (``RequestMiddleware``); once
                                   decided: ``gateway.*`` and ``gen_ai.*`` facts
``gateway.auth``                   API key lookup
``gateway.parse``                  the body read as JSON and validated
``gateway.classify``               classification
``gateway.decide``                 the policy decision
``gateway.cache``                  cache lookup or store
``gateway.adapter``                the calls to targets: retries and fallbacks,
                                   until the answer (a stream: its first chunk)
``chat {model}``           CLIENT  inside ``gateway.adapter``: one attempt at one
                                   target (GenAI conventions:
                                   ``gen_ai.operation.name``,
                                   ``gen_ai.provider.name``,
                                   ``gen_ai.request.model``,
                                   ``gen_ai.response.model``,
                                   ``gen_ai.response.id``,
                                   ``server.address``/``server.port``,
                                   ``gen_ai.usage.*``)
``gateway.ledger``                 ledger row and audit record queued
=========================  ======  ==============================================

Each stage's duration is also in ``gateway_stage_seconds{stage}``, traced or
not (``bench/overhead`` reads it for its per-stage breakdown).

What a span may carry: names the operator chose (route, target, level,
residency, team, virtual model), entity *types*, codes, counts and timings.
Never prompt or answer text, keys, or detected values. Exceptions are not
recorded on spans (a vendor exception may quote the upstream's body, which may
quote the prompt): a failed span has status ERROR and ``error.type``, our
error code, and nothing else. The raw URL path is not recorded either (a
client can put anything in it): only the matched route template.

The ``TracerProvider`` belongs to the app (``Telemetry.build``), never the
process-global one, so two gateways in one process keep separate traces.
Export is OTLP over HTTP when ``telemetry.otlp_endpoint`` is configured; tests
pass an in-memory exporter.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.base import Adapter, Chunk, Completion, ModelCall, Usage
from gateway.config import Telemetry as TelemetrySettings
from gateway.errors import GatewayError
from gateway.logs import REQUEST_ID, new_request_id
from gateway.metrics import Metrics
from gateway.policy.model import Policy, Target
from gateway.record import RequestRecord

access_log = logging.getLogger("gateway.access")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
# Request parameters that are numbers or flags: safe to put on a span.
_REQUEST_ATTRIBUTES = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
}


class Telemetry:
    """Tracing and stage timing for one app. ``Telemetry()`` traces nothing."""

    def __init__(
        self, provider: TracerProvider | None = None, metrics: Metrics | None = None, *, access_log: bool = True
    ) -> None:
        self.provider = provider
        self.metrics = metrics
        self.access_log = access_log
        self.tracer: trace.Tracer = provider.get_tracer("gateway") if provider is not None else trace.NoOpTracer()

    @classmethod
    def build(
        cls, settings: TelemetrySettings, metrics: Metrics | None = None, exporter: SpanExporter | None = None
    ) -> Telemetry:
        """A provider exporting to ``exporter`` (synchronously: tests) or to OTLP when configured."""
        if exporter is None and not settings.otlp_endpoint:
            return cls(None, metrics, access_log=settings.access_log)
        provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        if settings.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            headers = _headers_from_env(settings.otlp_headers_env)
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(settings.otlp_endpoint, headers=headers)))
        return cls(provider, metrics, access_log=settings.access_log)

    @property
    def tracing(self) -> bool:
        return self.provider is not None

    def stage(self, name: str) -> AbstractContextManager[Any]:
        """A span ``gateway.<name>`` around one stage, and its duration in ``gateway_stage_seconds``.

        Without tracing it is only the timer: a stage costs two clock reads and
        one histogram observation, nothing else.
        """
        histogram = self.metrics.stage(name) if self.metrics is not None else None
        if self.provider is None:
            return _Timer(histogram)
        return self._traced_stage(name, histogram)

    @contextmanager
    def _traced_stage(self, name: str, histogram: Any) -> Iterator[Span]:
        started = time.perf_counter()
        with self.tracer.start_as_current_span(
            f"gateway.{name}", end_on_exit=True, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except GatewayError as error:
                _failed(span, error.code)
                raise
            except BaseException as error:
                _failed(span, type(error).__name__)
                raise
            finally:
                if histogram is not None:
                    histogram.observe(time.perf_counter() - started)

    def traced(self, adapters: Mapping[str, Adapter], policy: Policy) -> Mapping[str, Adapter]:
        """The adapters wrapped so that each call is a ``chat {model}`` span; as they are when not tracing."""
        if not self.tracing:
            return adapters
        return {
            name: TracedAdapter(adapter, self.tracer, name, policy.targets[name])
            for name, adapter in adapters.items()
            if name in policy.targets
        }

    def annotate(self, record: RequestRecord) -> None:
        """Put the decision's facts on the current request span (the request path calls it once)."""
        span = trace.get_current_span()
        if not span.is_recording():
            return
        for key, value in decision_attributes(record).items():
            span.set_attribute(key, value)
        span.set_attribute("gateway.attempts", len(record.attempts))

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def decision_attributes(record: RequestRecord) -> dict[str, str | int | list[str]]:
    """Span attributes from a request's record: names, types, codes and counts only."""
    asked, decided = record.asked, record.decided
    out: dict[str, str | int | list[str]] = {"gen_ai.operation.name": asked.api}
    for attribute, value in (
        ("gen_ai.request.model", asked.model),
        ("gateway.level", decided.level),
        ("gateway.route", decided.route),
        ("gateway.target", record.target),
        ("gateway.residency", record.residency),
        ("gateway.policy_version", decided.policy_version),
        ("gateway.team", asked.team),
        ("gateway.cache", record.cache_status),
        ("gateway.outcome", record.outcome),
        ("gateway.classifier_error", decided.classifier_error),
        ("error.type", record.error_code),
    ):
        if value:
            out[attribute] = value
    if decided.entity_types:
        out["gateway.entity_types"] = sorted(decided.entity_types)
    if record.charge is not None:
        out["gen_ai.usage.input_tokens"] = record.prompt_tokens
        out["gen_ai.usage.output_tokens"] = record.completion_tokens
    out["gateway.status_code"] = record.status_code
    return out


class TracedAdapter(Adapter):
    """Wraps one target's adapter: each call is a CLIENT span ``chat {model}``."""

    def __init__(self, inner: Adapter, tracer: trace.Tracer, name: str, target: Target) -> None:
        self._inner = inner
        self._tracer = tracer
        self._name = name
        self._target = target
        self._server = _server(target.api_base)

    def _start(self, call: ModelCall, stream: bool) -> Span:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": _provider(self._target),
            "gen_ai.request.model": self._target.model,
            **self._server,
            "gateway.target": self._name,
            "gateway.residency": self._target.residency,
            "gateway.stream": stream,
        }
        for param, attribute in _REQUEST_ATTRIBUTES.items():
            value = call.params.get(param)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[attribute] = value
        return self._tracer.start_span(
            f"chat {self._target.model}", kind=SpanKind.CLIENT, attributes=attributes,
            record_exception=False, set_status_on_exception=False,
        )

    async def complete(self, call: ModelCall) -> Completion:
        span = self._start(call, stream=False)
        try:
            with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                completion = await self._inner.complete(call)
        except GatewayError as error:
            _failed(span, error.code)
            raise
        except BaseException as error:
            _failed(span, type(error).__name__)
            raise
        else:
            _usage(span, completion.usage)
            _response(span, completion.response_id, completion.response_model)
            span.set_attribute("gen_ai.response.finish_reasons", [completion.finish_reason])
            return completion
        finally:
            span.end()

    async def stream(self, call: ModelCall) -> Any:
        # An async generator must not change the current context across its
        # yields (its caller's context would change): the span is never "current".
        span = self._start(call, stream=True)
        upstream = self._inner.stream(call)
        try:
            async for chunk in upstream:
                _chunk_facts(span, chunk)
                yield chunk
        except GatewayError as error:
            _failed(span, error.code)
            raise
        except GeneratorExit:
            span.set_attribute("gateway.stream_closed_early", True)
            raise
        except BaseException as error:
            _failed(span, type(error).__name__)
            raise
        finally:
            await upstream.aclose()  # type: ignore[attr-defined]
            span.end()

    async def ready(self) -> bool:
        return await self._inner.ready()


class _Timer:
    """A stage's timer when nothing is traced."""

    __slots__ = ("_histogram", "_started")

    def __init__(self, histogram: Any) -> None:
        self._histogram = histogram
        self._started = 0.0

    def __enter__(self) -> Span:
        self._started = time.perf_counter()
        return trace.INVALID_SPAN

    def __exit__(self, *_: object) -> None:
        if self._histogram is not None:
            self._histogram.observe(time.perf_counter() - self._started)


class RequestMiddleware:
    """Every HTTP request: a request id (``x-request-id``, and in every log line), a SERVER
    span, and one access log line with the route template, status and duration."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry
        self._propagator = TraceContextTextMapPropagator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        method = scope.get("method", "GET") if scope.get("method") in _METHODS else "_OTHER"
        id_token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        outcome = _Outcome(send, request_id.encode())
        try:
            if self.telemetry.tracing:
                await self._traced(scope, receive, outcome, method)
            else:
                await self.app(scope, receive, outcome.send)
        finally:
            if self.telemetry.access_log:
                route = getattr(scope.get("route"), "path", None)
                access_log.info(
                    "%s %s %d %.1fms", method, route or "(unmatched)", outcome.status,
                    (time.perf_counter() - started) * 1000,
                )  # fmt: skip
            REQUEST_ID.reset(id_token)

    async def _traced(self, scope: Scope, receive: Receive, outcome: _Outcome, method: str) -> None:
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())
                   if k in (b"traceparent", b"tracestate")}
        parent = self._propagator.extract(carrier) if carrier else None
        span = self.telemetry.tracer.start_span(
            method, context=parent, kind=SpanKind.SERVER, attributes={"http.request.method": method},
            record_exception=False, set_status_on_exception=False,
        )
        context_token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, outcome.send)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", outcome.status)
            if outcome.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", str(outcome.status))
            span.end()
            otel_context.detach(context_token)


class _Outcome:
    """Wraps ``send``: notes the status and adds ``x-request-id`` when the response lacks it."""

    __slots__ = ("_request_id", "_send", "status")

    def __init__(self, send: Send, request_id: bytes) -> None:
        self._send = send
        self._request_id = request_id
        self.status = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            headers = message.setdefault("headers", [])
            if not any(name.lower() == b"x-request-id" for name, _ in headers):
                message["headers"] = [*headers, (b"x-request-id", self._request_id)]
        await self._send(message)


def _failed(span: Span, code: str) -> None:
    span.set_status(Status(StatusCode.ERROR))
    span.set_attribute("error.type", code)


def _usage(span: Span, usage: Usage) -> None:
    span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)


def _chunk_facts(span: Span, chunk: Chunk) -> None:
    if chunk.usage is not None:
        _usage(span, chunk.usage)
    if chunk.finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [chunk.finish_reason])
    _response(span, chunk.response_id, chunk.response_model)


def _response(span: Span, response_id: str | None, model: str | None) -> None:
    """The upstream's id of the answer and the model that really answered (vLLM may name a served alias)."""
    if response_id:
        span.set_attribute("gen_ai.response.id", response_id)
    if model:
        span.set_attribute("gen_ai.response.model", model)


# litellm's provider prefixes -> the GenAI conventions' well-known ``gen_ai.provider.name`` values.
_PROVIDERS = {
    "azure": "azure.ai.openai", "azure_ai": "azure.ai.inference", "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai", "gemini": "gcp.gemini", "mistral": "mistral_ai", "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}


def _provider(target: Target) -> str:
    """``gen_ai.provider.name``: the closed API's provider (``openai``, ``anthropic``, ``aws.bedrock``...); for
    a server inside the bank, the kind of target (``openai_compatible``: vLLM and the like; ``transformers``)."""
    if target.kind == "litellm" and "/" in target.model:
        prefix = target.model.split("/", 1)[0]
        return _PROVIDERS.get(prefix, prefix)
    return str(target.kind)


def _server(api_base: str | None) -> dict[str, Any]:
    """``server.address`` and ``server.port`` of a target's ``api_base`` (none for an in-process model)."""
    if not api_base:
        return {}
    url = urlsplit(api_base)
    if not url.hostname:
        return {}
    port = url.port or (443 if url.scheme == "https" else 80)
    return {"server.address": url.hostname, "server.port": port}


def _headers_from_env(name: str | None) -> dict[str, str] | None:
    """OTLP headers (``k=v,k2=v2``) from an environment variable: secrets never sit in the config file."""
    raw = os.environ.get(name, "") if name else ""
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs} or None
