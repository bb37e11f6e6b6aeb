"""The in-process model behind the whole gateway: a real uvicorn server on loopback, real HTTP.

Streaming needs a real server (httpx's in-process ASGI transport buffers whole
responses), so each test serves ``create_app`` with ``LoopbackServer``. The
model is the tiny one from ``conftest.py`` (greedy, never ends early: every
length is ``max_tokens``), except in the last test, which uses the real SmolLM2.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from adapters.local_models import resolve_model
from adapters.transformers_local import TransformersAdapter
from gateway.app import create_app
from gateway.config import Config, StaticKey
from gateway.keys import hash_key
from gateway.policy.loader import load_text
from gateway.policy.model import Target
from gateway.targets import TargetPool
from tests.fakes import KeywordClassifier
from tests.upstreams.loopback import LoopbackServer

KEY = "sk-local-serving-test"
POLICY = """
version: 1
name: local-serving
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {CREDIT_CARD: restricted}
targets:
  local:
    kind: transformers
    model: any-local-model
    residency: on_prem
models:
  bank-standard: {tier: standard}
routes:
  - name: default
    targets: [local]
"""


class LocalGateway:
    def __init__(self, url: str, adapter: TransformersAdapter) -> None:
        self.url = url
        self.adapter = adapter
        self.client = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)

    async def chat(self, content: str = "What is the answer?", **params: Any) -> httpx.Response:
        return await self.client.post("/v1/chat/completions", json=_body(content, **params))

    @contextlib.asynccontextmanager
    async def stream(self, content: str, **params: Any) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """The SSE events of one streamed answer, parsed, up to ``[DONE]``."""
        body = _body(content, stream=True, stream_options={"include_usage": True}, **params)
        async with self.client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200, await response.aread()

            async def events() -> AsyncIterator[dict[str, Any]]:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        yield orjson.loads(line.removeprefix("data: "))

            yield events()

    async def streamed(self, content: str, **params: Any) -> tuple[list[str], int]:
        """The content deltas of one streamed answer, in order, and its ``completion_tokens``."""
        deltas, tokens = [], -1
        async with self.stream(content, **params) as events:
            async for event in events:
                for choice in event.get("choices") or ():
                    if choice["delta"].get("content"):
                        deltas.append(choice["delta"]["content"])
                if event.get("usage"):
                    tokens = event["usage"]["completion_tokens"]
        return deltas, tokens

    async def metrics(self) -> dict[str, float]:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        return {
            name: float(value)
            for name, value in (line.rsplit(" ", 1) for line in response.text.splitlines() if line[:1] not in "#")
        }


def _body(content: str, **params: Any) -> dict[str, Any]:
    return {"model": "bank-standard", "messages": [{"role": "user", "content": content}], "temperature": 0, **params}


@contextlib.contextmanager
def serve_gateway(tmp_path: Path, model_dir: Path, **adapter_options: Any) -> Iterator[LocalGateway]:
    """The gateway on loopback with one ``transformers`` target, ``local``, built from ``model_dir``."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    built: list[TransformersAdapter] = []

    def factory(name: str, target: Target) -> TransformersAdapter:
        built.append(TransformersAdapter(model_dir, **adapter_options))
        return built[-1]

    config = Config(
        policy=str(policy),
        database_url=f"sqlite:///{tmp_path}/gateway.db",
        var_dir=str(tmp_path),
        policy_watch_s=0,
        keys=[StaticKey(id="local-test", sha256=hash_key(KEY), team="payments", roles=["user", "monitor"])],
    )
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    with LoopbackServer(app, lifespan="on") as server:
        yield LocalGateway(server.url, built[0])


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``; the guard only stops a broken test from hanging."""
    async with asyncio.timeout(60):
        while not condition():
            await asyncio.sleep(0.002)


@pytest.mark.asyncio
async def test_a_full_local_queue_gives_503_with_retry_after_and_metrics_show_it(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    with serve_gateway(tmp_path, tiny_model_dir, max_batch_size=1, max_queue=1) as gw:
        before = await gw.metrics()
        assert before['gateway_local_queue_depth{target="local"}'] == 0
        assert before['gateway_local_batch_size{target="local"}'] == 0

        async with gw.stream("Hold the only place.", max_tokens=8000) as holding:
            await anext(holding)  # the role event comes with the first token: the place is taken
            waiting = asyncio.create_task(gw.chat(max_tokens=4))
            await until(lambda: gw.adapter.queue_depth == 1)  # the only waiting place
            await until(lambda: gw.adapter.last_batch_size == 1)  # the held stream's first decode step is done

            refused = await gw.chat(max_tokens=4)
            busy = await gw.metrics()

        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "overloaded"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-request-id"]
        assert busy['gateway_local_queue_depth{target="local"}'] == 1
        assert busy['gateway_local_batch_size{target="local"}'] == 1
        assert busy['gateway_local_running_requests{target="local"}'] == 1

        served = await waiting  # the held stream was dropped by its client: the waiting one gets the place
        assert served.status_code == 200
        assert served.json()["usage"]["completion_tokens"] == 4
        await gw.client.aclose()


@pytest.mark.asyncio
async def test_concurrent_streams_through_the_gateway_each_get_their_own_tokens_in_order(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    prompts = [f"Question number {i}?" * (i + 1) for i in range(6)]
    with serve_gateway(tmp_path, tiny_model_dir, max_batch_size=8) as gw:
        alone = [await gw.streamed(p, max_tokens=8 + i) for i, p in enumerate(prompts)]

        async with gw.stream("Keep the engine busy.", max_tokens=8000) as busy:
            await anext(busy)
            tokens, steps = gw.adapter.tokens_generated, gw.adapter.decode_steps
            together = await asyncio.gather(*(gw.streamed(p, max_tokens=8 + i) for i, p in enumerate(prompts)))
            tokens, steps = gw.adapter.tokens_generated - tokens, gw.adapter.decode_steps - steps
        await gw.client.aclose()

    assert ["".join(deltas) for deltas, _ in together] == ["".join(deltas) for deltas, _ in alone]
    assert [count for _, count in together] == [8 + i for i in range(6)]
    assert all(len(deltas) > 1 for deltas, _ in together)  # streamed as produced, not in one piece
    assert tokens - len(prompts) > steps  # decoding steps carried more than one sequence: batched


@pytest.mark.asyncio
async def test_a_client_dropping_its_stream_does_not_disturb_the_others(tiny_model_dir: Path, tmp_path: Path) -> None:
    prompts = [f"Tell me about ledger number {i}." for i in range(3)]
    with serve_gateway(tmp_path, tiny_model_dir, max_batch_size=8) as gw:
        alone = [await gw.streamed(p, max_tokens=24) for p in prompts]
        start = gw.adapter.tokens_generated

        async def dropped() -> None:
            async with gw.stream("This one hangs up.", max_tokens=8000) as events:
                for _ in range(3):
                    await anext(events)

        results = await asyncio.gather(dropped(), *(gw.streamed(p, max_tokens=24) for p in prompts))
        await until(lambda: gw.adapter.running_requests == 0)
        generated = gw.adapter.tokens_generated - start
        await gw.client.aclose()

    assert results[1:] == alone
    assert generated < 4000  # the dropped stream left the batch instead of running to 8000 tokens


@pytest.mark.asyncio
async def test_a_target_is_not_ready_until_its_warm_up_has_run(tiny_model_dir: Path) -> None:
    gate = asyncio.Event()

    class GatedWarmUp(TransformersAdapter):
        async def warm_up(self) -> None:
            await gate.wait()
            await super().warm_up()

    adapter = GatedWarmUp(tiny_model_dir)
    pool = TargetPool(lambda name, target: adapter)
    policy = load_text(POLICY).policy
    syncing = asyncio.create_task(pool.sync(policy))
    await until(lambda: adapter.device is not None)  # loaded, warming up

    assert not await adapter.ready()
    assert await pool.readiness() == {}  # /readyz: no ready target
    assert pool.unavailable(policy) == {"local": "not started"}

    gate.set()
    await syncing
    assert await adapter.ready()
    assert await pool.readiness() == {"local": True}
    await pool.close()
    assert not await adapter.ready()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_real_smollm2_streams_each_client_its_own_answer_through_the_gateway(
    model_cache_dir: Path, tmp_path: Path
) -> None:
    capitals = {"France": "Paris", "Germany": "Berlin", "Japan": "Tokyo"}
    with serve_gateway(tmp_path, resolve_model("smollm2-135m-instruct", model_cache_dir)) as gw:
        answers = await asyncio.gather(
            *(gw.streamed(f"What is the capital of {country}?", max_tokens=30) for country in capitals)
        )
        await gw.client.aclose()

    for (country, capital), (deltas, tokens) in zip(capitals.items(), answers, strict=True):
        text = "".join(deltas)
        assert capital in text and country in text
        assert not any(other in text for other in capitals.values() if other != capital)
        assert len(deltas) > 3 and 0 < tokens <= 30
