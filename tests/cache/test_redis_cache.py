"""The response cache against the real Redis: the acceptance list of issue 6.

Real Redis (``redis_url``: the one on this machine, or one the session starts),
a real upstream on loopback, the real adapter; see ``harness.py``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from gateway.ledger.schema import ledger
from tests.cache.harness import CacheGateway, cache_gateway, streamed_text
from tests.upstreams.openai_server import OpenAIUpstream

pytestmark = pytest.mark.slow
UPSTREAM_KEY = "sk-cache-upstream"


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(api_key=UPSTREAM_KEY) as up:
        yield up


@pytest.fixture
def shared_keyring(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The key material every replica of one deployment shares."""
    values = {
        "GATEWAY_CACHE_SECRET": secrets.token_urlsafe(48),
        "GATEWAY_CACHE_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CACHE_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    return values


@pytest.fixture
async def gw(
    tmp_path: Path, upstream: OpenAIUpstream, redis_url: str, shared_keyring: dict[str, str]
) -> AsyncIterator[CacheGateway]:
    upstream.reset()
    async with cache_gateway(tmp_path, upstream, redis_url) as gateway:
        yield gateway


def text_of(response: Any) -> str:
    return str(response.json()["choices"][0]["message"]["content"])


async def ledger_rows(gw: CacheGateway) -> list[dict[str, Any]]:
    await gw.state.ledger.flush()
    with gw.state.db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ledger).order_by(ledger.c.ts))]


async def test_miss_then_hit_costs_nothing_and_records_the_saving(gw: CacheGateway, upstream: OpenAIUpstream) -> None:
    upstream.set_reply("Convexity measures curvature.", prompt_tokens=1000, completion_tokens=500)
    first = await gw.chat("Define convexity.")
    second = await gw.chat("Define convexity.")
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["x-gateway-cache"] == "miss" and second.headers["x-gateway-cache"] == "hit"
    assert text_of(second) == text_of(first) == "Convexity measures curvature."
    assert second.json()["usage"] == first.json()["usage"]
    assert len(upstream.chat_requests) == 1
    assert second.headers["x-gateway-cost-usd"] == "0.00000000"
    assert len(gw.entries()) == 1

    miss, hit = await ledger_rows(gw)
    assert (miss["cache_status"], hit["cache_status"]) == ("miss", "hit")
    assert miss["cost_usd"] == Decimal("0.002") and miss["cache_saved_usd"] is None
    assert hit["cost_usd"] == 0 and hit["cache_saved_usd"] == Decimal("0.002")  # 1000 x $1/M + 500 x $2/M
    assert (hit["target"], hit["prompt_tokens"], hit["completion_tokens"]) == ("up", 1000, 500)


async def test_two_teams_never_share_and_see_the_same_headers(gw: CacheGateway, upstream: OpenAIUpstream) -> None:
    a1 = await gw.chat("Summarise the rate outlook.", team="payments")
    a2 = await gw.chat("Summarise the rate outlook.", team="payments")
    b1 = await gw.chat("Summarise the rate outlook.", team="research")
    b2 = await gw.chat("Summarise the rate outlook.", team="research")
    assert [r.headers["x-gateway-cache"] for r in (a1, a2, b1, b2)] == ["miss", "hit", "miss", "hit"]
    assert len(upstream.chat_requests) == 2
    assert len(gw.entries()) == 2

    def visible(response: Any) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k not in ("x-request-id", "date")}

    # What team B sees on its miss is exactly what team A saw on its own: nothing tells
    # B that A asked the same thing.
    assert visible(b1) == visible(a1)
    assert visible(b2) == visible(a2)


async def test_organisation_scope_shares_the_lowest_level_only(gw: CacheGateway, upstream: OpenAIUpstream) -> None:
    await gw.chat("What are the branch opening hours?", model="bank-shared", team="payments")
    shared = await gw.chat("What are the branch opening hours?", model="bank-shared", team="research")
    assert shared.headers["x-gateway-cache"] == "hit"
    assert len(upstream.chat_requests) == 1


@pytest.mark.parametrize("content", ["Write to jane.doe@example.com about it", "Card 4111 1111 1111 1111 declined"])
async def test_a_level_above_max_level_is_never_written(
    gw: CacheGateway, upstream: OpenAIUpstream, content: str
) -> None:
    first = await gw.chat(content)
    second = await gw.chat(content)
    assert first.headers["x-gateway-level"] in ("confidential", "restricted")
    assert first.headers["x-gateway-cache"] == second.headers["x-gateway-cache"] == "skip"
    assert len(upstream.chat_requests) == 2
    assert gw.entries() == {}


async def test_nothing_readable_in_redis(gw: CacheGateway, upstream: OpenAIUpstream) -> None:
    prompt, answer = "Quarterly margin memo for Falconridge", "Falconridge margins rose sharply"
    upstream.set_reply(answer)
    await gw.chat(prompt, team="treasury-desk")
    await gw.stream(prompt + " (streamed)", team="treasury-desk")
    await gw.chat(prompt, model="bank-shared", team="treasury-desk")
    assert len(gw.entries()) == 3

    def readable(needles: list[str], blobs: list[bytes]) -> list[str]:
        return [n for n in needles for b in blobs if n.lower().encode() in b.lower()]

    # Every key in the database, not only the cache's: the prompt and the answer are nowhere.
    scanned = 0
    for name in gw.redis.scan_iter(count=1000):
        value = gw.redis.get(name) if gw.redis.type(name) == b"string" else b""
        assert readable([prompt, answer, "Falconridge"], [name, value or b""]) == []
        scanned += 1
    assert scanned >= 3
    # The cache's own entries: no team, route or model name either, in the key or the value.
    for name, value in gw.entries().items():
        assert len(name) == len(gw.prefix) + 64
        assert readable(["treasury-desk", "bank-standard", "bank-shared", "default", "test-model"], [
            name.removeprefix(gw.prefix.encode()), value]) == []


async def test_ttl_is_honoured(gw: CacheGateway, upstream: OpenAIUpstream) -> None:
    await gw.chat("Explain duration.")
    [name] = gw.entries()
    assert 0 < gw.redis.pttl(name) <= 60_000

    await gw.chat("Explain duration briefly.", model="bank-short")
    [short] = [n for n in gw.entries() if n != name]
    assert 0 < gw.redis.pttl(short) <= 1_000
    for _ in range(100):
        if not gw.redis.exists(short):
            break
        await asyncio.sleep(0.05)
    assert not gw.redis.exists(short)
    again = await gw.chat("Explain duration briefly.", model="bank-short")
    assert again.headers["x-gateway-cache"] == "miss"
    assert len(upstream.chat_requests) == 3


async def test_a_new_policy_version_starts_a_fresh_cache(gw: CacheGateway, upstream: OpenAIUpstream) -> None:
    before = await gw.chat("Explain convexity.")
    assert (await gw.chat("Explain convexity.")).headers["x-gateway-cache"] == "hit"
    path = Path(gw.state.policy.current.path)
    path.write_text(path.read_text().replace("name: cache-tests", "name: cache-tests-v2"))
    assert await gw.state.policy.reload()
    after = await gw.chat("Explain convexity.")
    assert after.headers["x-gateway-policy"] != before.headers["x-gateway-policy"]
    assert after.headers["x-gateway-cache"] == "miss"
    assert len(upstream.chat_requests) == 2


async def test_a_completed_stream_is_cached_and_replayed_as_a_stream(
    gw: CacheGateway, upstream: OpenAIUpstream
) -> None:
    upstream.set_reply("Streams are replayed whole.", prompt_tokens=9, completion_tokens=4)
    first_headers, first = await gw.stream("Tell me about streams.", stream_options={"include_usage": True})
    hit_headers, hit = await gw.stream("Tell me about streams.", stream_options={"include_usage": True})
    assert (first_headers["x-gateway-cache"], hit_headers["x-gateway-cache"]) == ("miss", "hit")
    assert streamed_text(hit) == streamed_text(first) == "Streams are replayed whole."
    assert hit[-1] == "[DONE]"
    assert orjson.loads(hit[-2])["usage"]["completion_tokens"] == 4
    assert len(upstream.chat_requests) == 1
    # The same request without stream: the same cached answer, as one body.
    plain = await gw.chat("Tell me about streams.")
    assert plain.headers["x-gateway-cache"] == "hit" and text_of(plain) == "Streams are replayed whole."


async def test_a_cached_plain_answer_is_replayed_as_a_stream_with_its_tool_calls(
    gw: CacheGateway, upstream: OpenAIUpstream
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "rate", "arguments": '{"ccy": "EUR"}'}}
    upstream.set_reply("", tool_calls=[call])
    tools = [{"type": "function", "function": {"name": "rate", "parameters": {"type": "object"}}}]
    streamed_headers, _ = await gw.stream("What is the EUR rate?", tools=tools)
    assert streamed_headers["x-gateway-cache"] == "miss"
    plain = await gw.chat("What is the EUR rate?", tools=tools)
    assert plain.headers["x-gateway-cache"] == "hit"
    assert plain.json()["choices"][0]["message"]["tool_calls"] == [call]
    headers, lines = await gw.stream("What is the EUR rate?", tools=tools)
    assert headers["x-gateway-cache"] == "hit"
    deltas = [orjson.loads(line)["choices"][0]["delta"] for line in lines[:-1]]
    assert [d["tool_calls"] for d in deltas if "tool_calls" in d] == [[{"index": 0, **call}]]
    assert len(upstream.chat_requests) == 1


async def test_a_cut_stream_is_never_cached(gw: CacheGateway, upstream: OpenAIUpstream) -> None:
    upstream.set_reply("This answer will be cut in the middle of its words.")
    upstream.reset_mid_stream_next(after_chunks=3)
    _, lines = await gw.stream("Write a long answer.")
    assert lines[-1] != "[DONE]" and "error" in orjson.loads(lines[-1])
    assert gw.entries() == {}
    again = await gw.chat("Write a long answer.")
    assert again.headers["x-gateway-cache"] == "miss" and again.status_code == 200
    assert len(gw.entries()) == 1


async def test_cache_control_no_cache_skips_the_read_and_no_store_the_write(
    gw: CacheGateway, upstream: OpenAIUpstream
) -> None:
    assert (await gw.chat("Rates?", cache_control="no-store")).headers["x-gateway-cache"] == "miss"
    headers, _ = await gw.stream("Rates?", cache_control="no-store")
    assert headers["x-gateway-cache"] == "miss"
    assert gw.entries() == {}
    assert (await gw.chat("Rates?")).headers["x-gateway-cache"] == "miss"
    assert (await gw.chat("Rates?", cache_control="no-cache")).headers["x-gateway-cache"] == "miss"
    assert (await gw.chat("Rates?")).headers["x-gateway-cache"] == "hit"
    assert (await gw.chat("Rates?", cache_control="no-cache, no-store")).headers["x-gateway-cache"] == "skip"
    assert len(upstream.chat_requests) == 5


async def test_nondeterministic_requests_are_cached_only_where_the_route_says(
    gw: CacheGateway, upstream: OpenAIUpstream
) -> None:
    for _ in range(2):
        assert (await gw.chat("Be creative.", temperature=0.8)).headers["x-gateway-cache"] == "skip"
    assert (await gw.chat("Be creative.", temperature=0.8, seed=7)).headers["x-gateway-cache"] == "miss"
    assert (await gw.chat("Be creative.", temperature=0.8, seed=7)).headers["x-gateway-cache"] == "hit"
    await gw.chat("Be creative.", model="bank-loose", temperature=0.8)
    assert (await gw.chat("Be creative.", model="bank-loose", temperature=0.8)).headers["x-gateway-cache"] == "hit"
    assert (await gw.chat("Be creative.", model="bank-uncached")).headers["x-gateway-cache"] == "skip"


async def test_replicas_share_the_cache_only_with_the_same_key_material(
    tmp_path: Path, upstream: OpenAIUpstream, redis_url: str, shared_keyring: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream.reset()
    prefix = f"gw:test:{secrets.token_hex(6)}:"
    async with cache_gateway(tmp_path, upstream, redis_url, prefix=prefix) as one:
        await one.chat("Shared question.")
        async with cache_gateway(tmp_path, upstream, redis_url, prefix=prefix) as two:
            assert (await two.chat("Shared question.")).headers["x-gateway-cache"] == "hit"
        monkeypatch.delenv("GATEWAY_CACHE_SECRET")
        monkeypatch.delenv("GATEWAY_CACHE_KEY")
        async with cache_gateway(tmp_path, upstream, redis_url, prefix=prefix) as alone:
            assert (await alone.chat("Shared question.")).headers["x-gateway-cache"] == "miss"
    assert len(upstream.chat_requests) == 2


async def test_readyz_and_metrics_report_the_cache(gw: CacheGateway) -> None:
    await gw.chat("Hello there.")
    await gw.chat("Hello there.")
    ready = await gw.client.get("/readyz", headers=gw.headers())
    assert ready.status_code == 200 and ready.json()["cache"] == {"store": "redis", "status": "ok"}
    metrics = (await gw.client.get("/metrics", headers=gw.headers())).text
    assert 'gateway_cache_lookups_total{result="hit"} 1.0' in metrics
    assert 'gateway_cache_lookups_total{result="miss"} 1.0' in metrics
