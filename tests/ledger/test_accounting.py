"""What lands in the ledger for real traffic, against SQLite and a real PostgreSQL.

The gateway is served by uvicorn on loopback; its targets are real OpenAI-style
servers on loopback, reached through the real adapters (litellm for the closed
API, httpx for the on-prem server). Each test checks the row's usage, prices
and cost against what the upstream reported and the published price.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from adapters.base import Usage
from adapters.litellm_client import price_per_token
from gateway.ledger.charge import money
from gateway.pricing import Price
from gateway.reports import ReportQuery, build_report
from gateway.tokens import TokenCounter
from tests.ledger.served import Gateway, served
from tests.reports.seed import scratch_database
from tests.upstreams.openai_server import OpenAIUpstream

POLICY = """
version: 1
name: accounting
levels: [public, internal, confidential, restricted]
classification: {{default_level: internal, on_error: restricted}}
reference_model: openai/gpt-4o
targets:
  closed:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {closed}
    api_key_env: ACCT_CLOSED_KEY
    residency: external
    max_level: internal
    timeout_s: 5
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: llama-3.1-8b
    api_key_env: ACCT_ONPREM_KEY
    residency: on_prem
    pricing: {{usd_per_million_input: 0.05, usd_per_million_output: 0.10}}
models:
  bank-premium: {{tier: premium}}
  bank-standard: {{tier: standard}}
routes:
  - name: premium
    when: {{tier: premium}}
    targets: [closed, onprem]
  - name: default
    targets: [onprem]
"""
ONPREM = Price(Decimal("0.05"), Decimal("0.1"))
LONG_ANSWER = " ".join(f"word{i}" for i in range(200))
QUESTION = [{"role": "user", "content": "Explain the yield curve."}]


def published(model: str) -> Price:
    found = price_per_token(model)
    assert found is not None
    per_in, per_out, per_cached = (Decimal(str(v)) * 1_000_000 if v is not None else None for v in found)
    assert per_in is not None and per_out is not None
    return Price(per_in, per_out, per_cached)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[OpenAIUpstream, OpenAIUpstream]]:
    with OpenAIUpstream(api_key="sk-closed") as closed, OpenAIUpstream(api_key="sk-onprem") as onprem:
        yield closed, onprem


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served_gateway(
    request: pytest.FixtureRequest, upstreams: tuple[OpenAIUpstream, OpenAIUpstream],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    """One gateway per database for the module; each test reads the rows of its own requests."""
    closed, onprem = upstreams
    work = tmp_path_factory.mktemp("accounting")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{work}/gateway.db"
        else:
            url = stack.enter_context(scratch_database(request.getfixturevalue("postgres_url")))
        env = stack.enter_context(pytest.MonkeyPatch.context())
        env.setenv("ACCT_CLOSED_KEY", "sk-closed")
        env.setenv("ACCT_ONPREM_KEY", "sk-onprem")
        yield stack.enter_context(served(POLICY.format(closed=closed.base_url, onprem=onprem.base_url), url, work))


@pytest.fixture
def gateway(served_gateway: Gateway, upstreams: tuple[OpenAIUpstream, OpenAIUpstream]) -> Gateway:
    for up in upstreams:
        up.reset()
    return served_gateway


def test_non_streamed_usage_prices_and_counterfactual(gateway: Gateway, upstreams: Any) -> None:
    closed, _ = upstreams
    closed.set_reply("The curve slopes.", prompt_tokens=1200, completion_tokens=300)
    response = gateway.chat("bank-premium", QUESTION)
    assert response.status_code == 200 and response.headers["x-gateway-target"] == "closed"
    row = gateway.row(response.headers["x-request-id"])
    usage = Usage(prompt_tokens=1200, completion_tokens=300)
    price, reference = published("openai/gpt-4o-mini"), published("openai/gpt-4o")
    assert (row["prompt_tokens"], row["completion_tokens"], row["usage_source"]) == (1200, 300, "upstream")
    assert row["cost_usd"] == money(price.cost(usage)) == Decimal("0.0003600000")
    assert response.headers["x-gateway-cost-usd"] == f"{row['cost_usd']:.8f}"
    assert (row["price_input_per_m"], row["price_output_per_m"]) == (price.input, price.output)
    assert row["price_source"] == "table" and row["target_model"] == "openai/gpt-4o-mini"
    assert row["reference_model"] == "openai/gpt-4o"
    assert row["reference_cost_usd"] == money(reference.cost(usage)) == Decimal("0.0060000000")


def test_streamed_usage_from_the_upstream(gateway: Gateway, upstreams: Any) -> None:
    closed, _ = upstreams
    closed.set_reply("Streaming the answer now.", prompt_tokens=800, completion_tokens=40)
    body = {"model": "bank-premium", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    row = gateway.row(response.headers["x-request-id"])
    assert row["stream"] and row["outcome"] == "ok" and row["usage_source"] == "upstream"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (800, 40)
    assert row["cost_usd"] == money(published("openai/gpt-4o-mini").cost(Usage(800, 40)))


def test_cached_prompt_tokens_are_charged_at_their_own_rate(gateway: Gateway, upstreams: Any) -> None:
    closed, _ = upstreams
    closed.set_reply("Cached.", prompt_tokens=2000, completion_tokens=100, cached_tokens=1536)
    response = gateway.chat("bank-premium", QUESTION)
    assert response.status_code == 200
    row = gateway.row(response.headers["x-request-id"])
    price = published("openai/gpt-4o-mini")
    assert price.cached_input is not None and price.cached_input < price.input
    assert row["cached_prompt_tokens"] == 1536 and row["price_cached_input_per_m"] == price.cached_input
    expected = (464 * price.input + 1536 * price.cached_input + 100 * price.output) / 1_000_000
    assert row["cost_usd"] == money(expected) < money(price.cost(Usage(2000, 100)))


def test_a_stream_without_usage_is_counted_with_the_tokenizer(gateway: Gateway, upstreams: Any) -> None:
    _, onprem = upstreams
    onprem.set_reply("Four words come back.", prompt_tokens=999, completion_tokens=999)
    onprem.stream_usage(False)
    body = {"model": "bank-standard", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth) as response:
        assert [line for line in response.iter_lines() if line.startswith("data: ")][-1] == "data: [DONE]"
    row = gateway.row(response.headers["x-request-id"])
    counter = TokenCounter()
    expected = Usage(counter.count_messages("llama-3.1-8b", QUESTION), counter.count_text("x", "Four words come back."))
    assert row["usage_source"] == "counted" and row["outcome"] == "ok"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (expected.prompt_tokens, expected.completion_tokens)
    assert row["cost_usd"] == money(ONPREM.cost(expected)) > 0
    assert row["price_source"] == "policy"


def test_failed_attempt_then_fallback(gateway: Gateway, upstreams: Any) -> None:
    closed, onprem = upstreams
    closed.fail_next(status=404, times=None)  # refused (a model name it lacks): the provider bills nothing
    onprem.set_reply("From on-prem.", prompt_tokens=50, completion_tokens=20)
    response = gateway.chat("bank-premium", QUESTION)
    assert response.status_code == 200 and response.headers["x-gateway-target"] == "onprem"
    assert int(response.headers["x-gateway-fallbacks"]) >= 1
    row = gateway.row(response.headers["x-request-id"])
    assert row["attempt_log"].startswith("closed:error") and row["attempt_log"].endswith("onprem:ok")
    assert row["target"] == "onprem" and row["residency"] == "on_prem"
    assert row["cost_usd"] == money(ONPREM.cost(Usage(50, 20)))  # only the attempt that was charged
    assert row["reference_cost_usd"] == money(published("openai/gpt-4o").cost(Usage(50, 20)))


def test_client_disconnecting_mid_stream_is_charged_for_what_was_produced(
    gateway: Gateway, upstreams: Any
) -> None:
    _, onprem = upstreams
    onprem.set_reply(LONG_ANSWER, prompt_tokens=10, completion_tokens=400)
    onprem.slow_stream(0.02)
    body = {"model": "bank-standard", "messages": QUESTION, "stream": True}
    received: list[str] = []
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                delta = orjson.loads(line[6:])["choices"][0]["delta"].get("content")
                if delta:
                    received.append(delta)
            if len(received) >= 5:
                break  # the client goes away
    row = gateway.row(response.headers["x-request-id"])
    assert row["outcome"] == "client_disconnected" and row["usage_source"] == "counted"
    counter = TokenCounter()
    assert row["prompt_tokens"] == counter.count_messages("llama-3.1-8b", QUESTION)
    produced = row["completion_tokens"]
    assert counter.count_text("x", "".join(received)) <= produced < counter.count_text("x", LONG_ANSWER)
    assert row["cost_usd"] == money(ONPREM.cost(Usage(row["prompt_tokens"], produced))) > 0


def test_an_upstream_that_dies_mid_stream_is_charged_for_what_was_produced(
    gateway: Gateway, upstreams: Any
) -> None:
    _, onprem = upstreams
    onprem.set_reply(LONG_ANSWER, prompt_tokens=10, completion_tokens=400)
    onprem.reset_mid_stream_next(after_chunks=6)
    body = {"model": "bank-standard", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert "data: [DONE]" not in lines and "stream_interrupted" in lines[-1]
    row = gateway.row(response.headers["x-request-id"])
    assert row["outcome"] == "stream_interrupted" and row["usage_source"] == "counted"
    assert 0 < row["completion_tokens"] < TokenCounter().count_text("x", LONG_ANSWER)
    assert row["cost_usd"] == money(ONPREM.cost(Usage(row["prompt_tokens"], row["completion_tokens"])))


def test_report_totals_equal_the_sum_of_the_records(gateway: Gateway, upstreams: Any) -> None:
    closed, onprem = upstreams
    start, ids = datetime.now(UTC), []
    for i in range(6):
        closed.set_reply("Answer.", prompt_tokens=100 + i * 37, completion_tokens=10 + i, cached_tokens=i * 8)
        onprem.set_reply("Answer.", prompt_tokens=90 + i, completion_tokens=7 * i + 1)
        model = "bank-premium" if i % 2 else "bank-standard"
        response = gateway.chat(model, QUESTION, stream=bool(i % 3 == 0))
        assert response.status_code == 200
        ids.append(response.headers["x-request-id"])
    rows = gateway.rows_of(ids)
    report = build_report(gateway.db, ReportQuery(start=start, group_by=("target",)))
    assert report.totals.figures["requests"] == 6
    assert report.totals.figures["cost_usd"] == sum(r["cost_usd"] for r in rows)
    assert round(report.totals.figures["cost_usd"], 2) == round(sum(r["cost_usd"] for r in rows), 2)
    by_target = {row.group["target"]: row.figures["cost_usd"] for row in report.rows}
    assert by_target == {t: sum(r["cost_usd"] for r in rows if r["target"] == t) for t in ("closed", "onprem")}
