"""The embedding adapters behind an API, each against a real loopback server speaking OpenAI's embeddings protocol:
``OpenAICompatibleEmbedder`` with the gateway's own HTTP client, ``LiteLLMEmbedder`` with litellm really sending."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.base import ModelCall
from adapters.embeddings import EmbeddingAdapter, EmbeddingCall, Embeddings, check_vectors
from adapters.embeddings_remote import LiteLLMEmbedder, OpenAICompatibleEmbedder
from gateway.errors import UpstreamError, UpstreamUnreachable
from tests.upstreams.embeddings_reply import vector_for
from tests.upstreams.openai_server import EMBEDDINGS_PATH, OpenAIUpstream

KEY = "sk-embed-upstream"


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(api_key=KEY) as server:
        yield server


@pytest.fixture(params=["openai_compatible", "openai_compatible-aiohttp", "litellm"])
async def adapter(
    request: pytest.FixtureRequest, upstream: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddingAdapter]:
    upstream.reset()
    embedder: EmbeddingAdapter
    if request.param.startswith("openai_compatible"):  # the gateway's own HTTP client, and aiohttp's
        fast = request.param == "openai_compatible"
        embedder = OpenAICompatibleEmbedder(upstream.base_url, "bge-small", api_key=KEY, timeout_s=10, fast_client=fast)
    else:
        monkeypatch.setenv("EMBED_UPSTREAM_KEY", KEY)
        embedder = LiteLLMEmbedder(
            "openai/text-embedding-3-small", api_key_env="EMBED_UPSTREAM_KEY", api_base=upstream.base_url, timeout_s=10
        )
    await embedder.start()
    yield embedder
    await embedder.close()


def sent(upstream: OpenAIUpstream) -> list[dict[str, object]]:
    return [r.body for r in upstream.requests if r.path == EMBEDDINGS_PATH]


async def test_vectors_in_order_with_the_key_the_dimensions_and_the_user(
    adapter: EmbeddingAdapter, upstream: OpenAIUpstream
) -> None:
    result = await adapter.embed(EmbeddingCall(("first text", "second"), dimensions=5, user="u-7", request_id="r1"))
    assert result.vectors == (tuple(vector_for("first text", 5)), tuple(vector_for("second", 5)))
    assert result.prompt_tokens == 3
    (body,) = sent(upstream)
    assert body["input"] == ["first text", "second"] and body["dimensions"] == 5 and body["user"] == "u-7"
    assert upstream.requests[-1].bearer == KEY


async def test_upstream_failures_are_gateway_errors(adapter: EmbeddingAdapter, upstream: OpenAIUpstream) -> None:
    upstream.fail_next(503, path=EMBEDDINGS_PATH)
    with pytest.raises(UpstreamError) as unavailable:
        await adapter.embed(EmbeddingCall(("x",)))
    assert unavailable.value.retryable and unavailable.value.upstream_status == 503
    upstream.fail_next(400, path=EMBEDDINGS_PATH)
    with pytest.raises(UpstreamError) as refused:
        await adapter.embed(EmbeddingCall(("x",)))
    assert not refused.value.retryable and refused.value.upstream_status == 400
    upstream.malformed_json_next(path=EMBEDDINGS_PATH)
    with pytest.raises(UpstreamError):
        await adapter.embed(EmbeddingCall(("x",)))
    assert len(sent(upstream)) == 3  # no retry behind the gateway's back (its own retries are the only ones)


@pytest.mark.parametrize(
    "vectors",
    [((1.0, 0.0),), ((1.0, 0.0), (1.0,)), ((1.0, 0.0, 0.5), (0.0, 1.0, 0.5)), ((), ())],
    ids=["one short", "ragged", "not the dimensions asked", "empty"],
)
def test_vectors_that_do_not_match_the_inputs_are_an_unreadable_answer(vectors: tuple[tuple[float, ...], ...]) -> None:
    call = EmbeddingCall(("a", "b"), dimensions=2)
    with pytest.raises(UpstreamError, match="do not match"):
        check_vectors(Embeddings(vectors, 2), call, "upstream")
    assert check_vectors(Embeddings(((1.0, 0.0), (0.0, 1.0)), 2), call, "upstream").prompt_tokens == 2


async def test_an_embedding_model_refuses_to_chat_without_sending(
    adapter: EmbeddingAdapter, upstream: OpenAIUpstream
) -> None:
    with pytest.raises(UpstreamError):
        async for _ in adapter.stream(ModelCall(messages=[{"role": "user", "content": "hi"}])):
            pass
    assert upstream.requests == []


async def test_nothing_listening_is_unreachable() -> None:
    embedder = OpenAICompatibleEmbedder("http://127.0.0.1:9/v1", "m", timeout_s=2, connect_timeout_s=1)
    await embedder.start()
    try:
        with pytest.raises(UpstreamUnreachable):
            await embedder.embed(EmbeddingCall(("x",)))
    finally:
        await embedder.close()
