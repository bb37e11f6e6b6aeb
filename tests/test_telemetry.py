"""Traces and metrics of the request path: a span per stage, GenAI attributes, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.app import create_app
from gateway.config import Config
from gateway.config import Telemetry as TelemetrySettings
from gateway.policy.model import Target
from gateway.telemetry import Telemetry
from tests.fakes import KeywordClassifier, ScriptedAdapter

POLICY = Path(__file__).parent / "data" / "routing.yaml"


@pytest.fixture
async def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, InMemorySpanExporter]]:
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-test")
    adapters: dict[str, ScriptedAdapter] = {}

    def factory(name: str, target: Target) -> ScriptedAdapter:
        adapters[name] = ScriptedAdapter(name, "An answer.")
        return adapters[name]

    exporter = InMemorySpanExporter()
    config = Config(policy=str(POLICY), database_url=f"sqlite:///{tmp_path}/gw.db", var_dir=str(tmp_path),
                    policy_watch_s=0)
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory, span_exporter=exporter)
    async with app.router.lifespan_context(app):
        app.state.adapters = adapters
        yield app, exporter


async def _chat(app: Any, model: str, **extra: Any) -> httpx.Response:
    _, key = app.state.gateway.keys.create("payments", ["user", "monitor"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        body = {"model": model, "messages": [{"role": "user", "content": "Explain duration."}], **extra}
        response = await client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
        await response.aread()
        return response


async def test_a_request_is_one_trace_with_a_span_per_stage(traced: tuple[Any, InMemorySpanExporter]) -> None:
    app, exporter = traced
    app.state.adapters["external"].fail = True
    response = await _chat(app, "bank-premium", temperature=0)
    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    root = next(s for s in spans if s.kind == SpanKind.SERVER)
    assert root.name == "POST /v1/chat/completions"
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    stages = {s.name: s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id}
    assert {"gateway.auth", "gateway.parse", "gateway.classify", "gateway.decide", "gateway.cache",
            "gateway.adapter", "gateway.ledger"} <= set(stages)
    adapter = stages["gateway.adapter"]  # every attempt at a target is a span inside the adapter stage
    children = {s.name: s for s in spans if s.parent is not None and s.parent.span_id == adapter.context.span_id}
    assert {"chat openai/gpt-4o-mini", "chat smollm2-135m-instruct"} <= set(children)
    attrs = root.attributes or {}
    assert attrs["gateway.route"] == "premium" and attrs["gateway.target"] == "onprem"
    assert attrs["gen_ai.request.model"] == "bank-premium" and attrs["http.response.status_code"] == 200
    assert attrs["gen_ai.usage.output_tokens"] == 2 and attrs["gateway.attempts"] >= 2  # retries count
    failed = children["chat openai/gpt-4o-mini"]
    assert failed.kind == SpanKind.CLIENT and failed.status.status_code == StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "upstream_error" and not failed.events
    assert failed.status.description is None
    ok = children["chat smollm2-135m-instruct"].attributes or {}
    assert ok["gen_ai.provider.name"] == "transformers" and ok["gen_ai.request.temperature"] == 0
    assert "gen_ai.system" not in ok and "server.address" not in ok  # deprecated; an in-process model
    assert ok["gateway.residency"] == "on_prem" and ok["gen_ai.usage.input_tokens"] == 7


async def test_a_streamed_attempt_is_a_span_too(traced: tuple[Any, InMemorySpanExporter]) -> None:
    app, exporter = traced
    response = await _chat(app, "bank-standard", stream=True)
    assert response.text.rstrip().endswith("[DONE]")
    attempt = next(s for s in exporter.get_finished_spans() if s.name == "chat smollm2-135m-instruct")
    assert (attempt.attributes or {})["gateway.stream"] is True
    assert (attempt.attributes or {})["gen_ai.response.finish_reasons"] == ("stop",)


async def test_metrics_separate_the_gateways_time_from_the_upstreams(traced: tuple[Any, InMemorySpanExporter]) -> None:
    app, _ = traced
    await _chat(app, "bank-standard")
    app.state.gateway.chat.services.classifier = KeywordClassifier(error="timeout")
    await _chat(app, "bank-standard")
    text = app.state.gateway.metrics.render().decode()
    for sample in ('gateway_requests_total{level="internal",residency="on_prem",route="default",status="200",'
                   'target="onprem"} 1.0',
                   "gateway_overhead_seconds_count{route=\"default\"} 1.0",
                   "gateway_overhead_seconds_count{route=\"sensitive-stays-on-prem\"} 1.0",
                   "gateway_upstream_seconds_count{outcome=\"ok\",target=\"onprem\"} 2.0",
                   "gateway_stage_seconds_count{stage=\"classify\"} 2.0",
                   "gateway_tokens_total{direction=\"output\",target=\"onprem\"} 4.0",
                   "gateway_classifier_errors_total{reason=\"timeout\"} 1.0",
                   "gateway_attempts_total{outcome=\"ok\",residency=\"on_prem\",target=\"onprem\"} 2.0",
                   "gateway_audit_pending", "gateway_ledger_pending"):
        assert sample in text, sample
    assert 'gateway_cost_usd_total{route="default",target="onprem"}' in text


UPSTREAM_POLICY = """
version: 1
name: traced
levels: [public, internal]
classification: {{default_level: internal, on_error: internal}}
targets:
  vllm:
    kind: openai_compatible
    api_base: {api_base}
    model: served-model
    api_key_env: TRACED_UPSTREAM_KEY
    residency: on_prem
models:
  bank-standard: {{}}
routes:
  - name: default
    targets: [vllm]
"""


@pytest.mark.parametrize("stream", [False, True])
async def test_attempt_spans_follow_the_genai_conventions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          stream: bool) -> None:
    """Against a real OpenAI-compatible server on loopback, through the real adapter: provider, server,
    the upstream's response id and model, usage."""
    from tests.upstreams.openai_server import OpenAIUpstream

    monkeypatch.setenv("TRACED_UPSTREAM_KEY", "sk-traced")
    with OpenAIUpstream(api_key="sk-traced", models=("served-model",)) as upstream:
        upstream.set_reply("Four words of answer.", prompt_tokens=11, completion_tokens=4)
        (tmp_path / "policy.yaml").write_text(UPSTREAM_POLICY.format(api_base=upstream.base_url))
        exporter = InMemorySpanExporter()
        config = Config(policy=str(tmp_path / "policy.yaml"), database_url=f"sqlite:///{tmp_path}/gw.db",
                        var_dir=str(tmp_path), policy_watch_s=0)
        app = create_app(config, classifier=KeywordClassifier(), span_exporter=exporter)
        async with app.router.lifespan_context(app):
            extra = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
            response = await _chat(app, "bank-standard", **extra)
            assert response.status_code == 200
        [attempt] = [s for s in exporter.get_finished_spans() if s.name == "chat served-model"]
    attrs = attempt.attributes or {}
    port = int(upstream.base_url.split(":")[2].split("/")[0])
    assert attempt.kind == SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "openai_compatible"
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == port
    assert attrs["gen_ai.request.model"] == "served-model" and attrs["gen_ai.response.model"] == "served-model"
    assert attrs["gen_ai.response.id"] == "chatcmpl-upstream"
    assert attrs["gen_ai.usage.input_tokens"] == 11 and attrs["gen_ai.usage.output_tokens"] == 4
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",) and "gen_ai.system" not in attrs


def test_closed_api_providers_use_the_conventions_names() -> None:
    from gateway.telemetry import _provider

    def target(model: str) -> Target:
        return Target(kind="litellm", model=model, residency="external")

    assert _provider(target("openai/gpt-4o")) == "openai"
    assert _provider(target("bedrock/anthropic.claude-3")) == "aws.bedrock"
    assert _provider(target("vertex_ai/gemini-1.5-pro")) == "gcp.vertex_ai"
    assert _provider(target("anthropic/claude-3-5-sonnet")) == "anthropic"


def test_no_tracing_unless_configured_and_otlp_when_it_is() -> None:
    assert not Telemetry.build(TelemetrySettings()).tracing
    telemetry = Telemetry.build(TelemetrySettings(otlp_endpoint="http://127.0.0.1:4318/v1/traces"))
    assert telemetry.tracing and telemetry.provider is not None
    processors = telemetry.provider._active_span_processor._span_processors
    assert any(isinstance(p, BatchSpanProcessor) for p in processors)
    telemetry.shutdown()


def test_path_metrics_expose_like_prometheus_client() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from gateway.metrics import PathMetrics

    path = PathMetrics()
    registry = CollectorRegistry()
    registry.register(path)
    hits = path.counter("demo_hits", "Hits.", ["route"])
    took = path.histogram("demo_seconds", "Time.", ["stage"], (0.25, 1.0))
    hits.labels("a").inc()
    hits.labels("a").inc(2)
    for value in (0.125, 0.25, 0.5, 4.0):
        took.labels("parse").observe(value)
    text = generate_latest(registry).decode()
    assert 'demo_hits_total{route="a"} 3.0' in text
    assert 'demo_seconds_bucket{le="0.25",stage="parse"} 2.0' in text  # le: at or below the bound
    assert 'demo_seconds_bucket{le="1.0",stage="parse"} 3.0' in text
    assert 'demo_seconds_bucket{le="+Inf",stage="parse"} 4.0' in text
    assert 'demo_seconds_count{stage="parse"} 4.0' in text and 'demo_seconds_sum{stage="parse"} 4.875' in text
    with pytest.raises(ValueError):
        hits.labels("a", "b")
