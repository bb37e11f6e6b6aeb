"""Reconciliation: a closed-API server on loopback reports known usage for a scripted
day of traffic; the report's total for that target is that usage times the
published price (litellm's bundled table), exactly, through the command line and
the HTTP API alike. This is the check finance runs against the provider's invoice."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from adapters.litellm_client import price_per_token
from gateway.cli import main
from tests.ledger.served import served
from tests.upstreams.openai_server import OpenAIUpstream

POLICY = """
version: 1
name: reconciliation
levels: [public, internal]
classification: {{default_level: internal, on_error: internal}}
reference_model: openai/gpt-4o
targets:
  closed:
    kind: litellm
    model: openai/gpt-4o-mini
    api_base: {api_base}
    api_key_env: RECON_KEY
    residency: external
    max_level: internal
models:
  bank-premium: {{tier: premium}}
routes:
  - name: premium
    targets: [closed]
"""


def scripted_day(seed: int = 2026) -> list[tuple[int, int, int, bool]]:
    """(prompt, completion, cached prompt, streamed) for a day of requests."""
    rnd = random.Random(seed)
    day = []
    for _ in range(30):
        prompt = rnd.randint(50, 6000)
        cached = rnd.choice((0, 0, (prompt // 1024) * 1024))
        day.append((prompt, rnd.randint(1, 1200), cached, rnd.random() < 0.5))
    return day


def test_the_report_matches_usage_times_the_published_price(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECON_KEY", "sk-recon")
    day = scripted_day()
    with OpenAIUpstream(api_key="sk-recon") as upstream, served(
        POLICY.format(api_base=upstream.base_url), database_url, tmp_path, roles=("user", "finance")
    ) as gateway:
        for prompt, completion, cached, stream in day:
            upstream.set_reply("Here is the answer.", prompt, completion, cached)
            response = gateway.chat("bank-premium", [{"role": "user", "content": "Summarise the memo."}],
                                    stream=stream)
            assert response.status_code == 200
        gateway.rows(len(day))
        api = httpx.get(f"{gateway.url}/v1/reports/costs", params={"group_by": "target"}, headers=gateway.auth)
    assert len(upstream.chat_requests) == len(day)

    per_in, per_out, per_cached = price_per_token("openai/gpt-4o-mini")  # type: ignore[misc]
    assert per_cached is not None
    fresh = sum(p - c for p, _, c, _ in day)
    cached_total = sum(c for _, _, c, _ in day)
    output = sum(o for _, o, _, _ in day)
    invoice = (fresh * Decimal(str(per_in)) + cached_total * Decimal(str(per_cached))
               + output * Decimal(str(per_out)))

    assert main(["report", "--by", "target", "--format", "json", "--database-url", database_url]) == 0
    for body in (orjson.loads(capsys.readouterr().out), api.json()):
        [row] = body["rows"]
        assert row["target"] == "closed" and row["requests"] == len(day)
        assert (row["prompt_tokens"], row["cached_prompt_tokens"], row["completion_tokens"]) == (
            fresh + cached_total, cached_total, output
        )
        assert Decimal(row["cost_usd"]) == invoice  # exact: these prices need no rounding
        assert round(Decimal(body["totals"]["cost_usd"]), 2) == round(invoice, 2)
