"""The in-process embedding model (all-MiniLM-L6-v2 from its registry package), alone and through the gateway.

Its vectors are checked against the same model run directly with transformers as
sentence-transformers documents it (mean pooling over the real tokens, then L2
normalisation), computed here independently of the adapter's code.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from adapters import embeddings_local
from adapters.embeddings import EmbeddingCall
from adapters.embeddings_local import (
    BUILTIN_EMBEDDING_MODEL,
    EmbeddingModelNotFound,
    LocalEmbeddingAdapter,
    prepare_embedding_model,
    resolve_embedding_model,
)
from gateway.errors import Overloaded, UpstreamError
from tests.upstreams.gateway_between import RunningGateway, gateway_between

TEXTS = ["The cat sits on the mat.", "A cat is sitting on a mat.", "Quarterly net interest margin fell by 12 bp."]

POLICY = """
version: 1
name: local-embeddings
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted}}
targets:
  local-embed: {{kind: transformers, task: embeddings, model: "MODEL_DIR", residency: on_prem,
                pricing: {{usd_per_gpu_hour: 2.5, tokens_per_second: 20000}}}}
  external: {{kind: litellm, model: openai/gpt-4o-mini, api_base: "{external}", api_key_env: LOOPBACK_UPSTREAM_KEY,
             residency: external, max_level: internal}}
models:
  bank-embed: {{tier: standard}}
routes:
  - name: embeddings
    when: {{api: embeddings}}
    targets: [local-embed]
  - name: default
    targets: [external]
"""


@pytest.fixture(scope="module")
def model_dir(model_cache: Path) -> Path:
    return resolve_embedding_model(BUILTIN_EMBEDDING_MODEL, model_cache)  # make test prepares it; never downloaded


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> tuple[list[list[float]], list[int]]:
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    vectors, counts = [], []
    with torch.inference_mode():
        for text in TEXTS:  # one at a time: no padding at all
            batch = tokenizer([text], return_tensors="pt")
            hidden = model(**batch).last_hidden_state[0]
            mean = hidden.mean(dim=0)
            vectors.append((mean / mean.norm()).tolist())
            counts.append(batch["input_ids"].shape[1])
    return vectors, counts


def cosine(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


async def started(model_dir: Path, **options: int) -> LocalEmbeddingAdapter:
    adapter = LocalEmbeddingAdapter(model_dir, name=BUILTIN_EMBEDDING_MODEL, **options)
    await adapter.start()
    return adapter


async def test_vectors_are_the_models_own(model_dir: Path, reference: tuple[list[list[float]], list[int]]) -> None:
    adapter = await started(model_dir)
    try:
        result = await adapter.embed(EmbeddingCall(tuple(TEXTS)))  # one padded batch
    finally:
        await adapter.close()
    vectors, counts = reference
    assert len(result.vectors) == 3 and {len(v) for v in result.vectors} == {384}
    for got, want in zip(result.vectors, vectors, strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 1e-5
    assert result.prompt_tokens == sum(counts)
    assert cosine(result.vectors[0], result.vectors[1]) > 0.8 > cosine(result.vectors[0], result.vectors[2]) + 0.5


async def test_concurrent_calls_are_batched_and_each_gets_its_own_vectors(
    model_dir: Path, reference: tuple[list[list[float]], list[int]]
) -> None:
    adapter = await started(model_dir, max_batch_inputs=8)
    try:
        results = await asyncio.gather(*(adapter.embed(EmbeddingCall((text,))) for text in TEXTS * 4))
    finally:
        await adapter.close()
    for i, result in enumerate(results):
        want = reference[0][i % 3]
        assert max(abs(g - w) for g, w in zip(result.vectors[0], want, strict=True)) < 1e-5
        assert result.prompt_tokens == reference[1][i % 3]


async def test_dimensions_it_does_not_have_are_refused_and_a_full_queue_is_overloaded(model_dir: Path) -> None:
    adapter = await started(model_dir, max_queue=4)
    try:
        with pytest.raises(UpstreamError) as refused:
            await adapter.embed(EmbeddingCall(("x",), dimensions=256))
        assert refused.value.upstream_status == 400 and not refused.value.retryable
        assert len((await adapter.embed(EmbeddingCall(("x",), dimensions=384))).vectors[0]) == 384
        with pytest.raises(Overloaded):
            await adapter.embed(EmbeddingCall(("a",) * 5))
        assert await adapter.ready()
    finally:
        await adapter.close()
    assert not await adapter.ready()


async def test_a_cancelled_call_does_not_disturb_the_others(model_dir: Path) -> None:
    adapter = await started(model_dir)
    try:
        doomed = asyncio.create_task(adapter.embed(EmbeddingCall(tuple(TEXTS) * 20)))
        await asyncio.sleep(0)
        doomed.cancel()
        kept = await adapter.embed(EmbeddingCall((TEXTS[0],)))
        assert len(kept.vectors) == 1
        with pytest.raises(asyncio.CancelledError):
            await doomed
    finally:
        await adapter.close()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[RunningGateway]:
    policy = POLICY.replace("MODEL_DIR", str(model_dir))  # the prepared model, as `make test` leaves it
    with gateway_between(tmp_path_factory.mktemp("local-embed"), policy) as gateway:
        yield gateway


def test_the_openai_client_gets_the_local_models_vectors_through_the_gateway(
    running: RunningGateway, reference: tuple[list[list[float]], list[int]]
) -> None:
    client = openai.OpenAI(base_url=running.url + "/v1", api_key=running.key, max_retries=0)
    raw = client.embeddings.with_raw_response.create(model="bank-embed", input=TEXTS)
    response = raw.parse()
    assert raw.headers["x-gateway-target"] == "local-embed" and raw.headers["x-gateway-residency"] == "on_prem"
    for got, want in zip(response.data, reference[0], strict=True):
        assert max(abs(g - w) for g, w in zip(got.embedding, want, strict=True)) < 1e-5
    assert response.usage.prompt_tokens == sum(reference[1])
    assert float(raw.headers["x-gateway-cost-usd"]) > 0
    card = client.embeddings.with_raw_response.create(model="bank-embed", input="Card 4111 1111 1111 1111 declined")
    assert card.headers["x-gateway-level"] == "restricted" and card.headers["x-gateway-target"] == "local-embed"
    assert running.external.requests == []


def test_prepare_copies_the_packaged_model_into_the_cache_once(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings_local, "packaged_model_dir", lambda: model_dir)  # as if installed
    prepared = prepare_embedding_model(BUILTIN_EMBEDDING_MODEL, tmp_path)
    assert prepared == tmp_path / BUILTIN_EMBEDDING_MODEL
    assert sorted(p.name for p in prepared.iterdir()) == sorted(p.name for p in model_dir.iterdir())
    marker = prepared / "config.json"
    stamp = marker.stat().st_mtime_ns
    assert prepare_embedding_model(BUILTIN_EMBEDDING_MODEL, tmp_path) == prepared
    assert marker.stat().st_mtime_ns == stamp  # not copied again
    assert resolve_embedding_model(BUILTIN_EMBEDDING_MODEL, tmp_path) == prepared


def test_a_missing_model_says_how_to_get_it_and_nothing_is_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings_local, "packaged_model_dir", lambda: None)  # the package is not installed
    with pytest.raises(EmbeddingModelNotFound, match="make model"):
        resolve_embedding_model(BUILTIN_EMBEDDING_MODEL, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbeddingModelNotFound, match="never downloaded"):
        resolve_embedding_model(str(tmp_path / "empty"), tmp_path)
    with pytest.raises(EmbeddingModelNotFound):
        resolve_embedding_model("sentence-transformers/all-mpnet-base-v2", tmp_path)
