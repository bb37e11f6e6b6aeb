"""OpenAICompatibleAdapter against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from adapters.base import Adapter, Chunk, ModelCall, Usage
from adapters.openai_compatible import OpenAICompatibleAdapter
from adapters.openai_wire import CHAT_PARAMS, CLOSED_API_PARAMS, SSEDecoder, chat_params, retry_after_seconds
from gateway.errors import Overloaded, UpstreamError, UpstreamRejected, UpstreamTimeout, UpstreamUnreachable
from gateway.protocol import FORWARDED_PARAMS
from tests.upstreams.openai_server import MODELS_PATH, OpenAIUpstream

KEY = "sk-onprem-test"
PROMPT = "My card is 4111 1111 1111 1111"
CALL = ModelCall(messages=[{"role": "user", "content": PROMPT}], request_id="req-123")
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"id": 42}'}}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture
def up(server: OpenAIUpstream) -> OpenAIUpstream:
    server.reset()
    return server


@pytest_asyncio.fixture
async def adapter(up: OpenAIUpstream) -> AsyncIterator[OpenAICompatibleAdapter]:
    adapter = OpenAICompatibleAdapter(up.base_url, "served-model", api_key=KEY, timeout_s=2.0)
    await adapter.start()
    yield adapter
    await adapter.close()


async def collect(adapter: OpenAICompatibleAdapter, call: ModelCall = CALL) -> list[Chunk]:
    return [chunk async for chunk in adapter.stream(call)]


def assert_clean(error: UpstreamError) -> None:
    """Our message: the host, never the prompt the upstream echoed in its body."""
    assert "127.0.0.1" in error.message
    assert "4111" not in error.message and "injected" not in error.message


# -- answers ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_complete_returns_answer_and_usage(adapter: OpenAICompatibleAdapter, up: OpenAIUpstream) -> None:
    up.set_reply("Bonjour", prompt_tokens=20, completion_tokens=5, cached_tokens=8)
    completion = await adapter.complete(CALL)
    assert completion.content == "Bonjour"
    assert completion.finish_reason == "stop"
    assert completion.usage == Usage(prompt_tokens=20, completion_tokens=5, cached_prompt_tokens=8)
    assert completion.tool_calls is None


@pytest.mark.asyncio
async def test_request_carries_model_messages_params_and_key(
    adapter: OpenAICompatibleAdapter, up: OpenAIUpstream
) -> None:
    params = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 7,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "logit_bias": {"50256": -100},
        "user": "u-1",
        "n": 1,
        "stream": True,
        "logprobs": True,
        "top_logprobs": 2,
        "reasoning_effort": "low",
        "safety_identifier": "s-1",
        "prompt_cache_key": "k-1",
        "top_k": 20,
        "guided_json": {"type": "object"},
        "chat_template_kwargs": {"enable_thinking": False},
        "metadata": {"a": "b"},
    }
    await adapter.complete(ModelCall(messages=CALL.messages, params=params, request_id="req-123"))
    (request,) = up.chat_requests
    assert request.bearer == KEY
    assert request.headers["x-request-id"] == "req-123"
    assert request.body == {
        "model": "served-model",
        "messages": [{"role": "user", "content": PROMPT}],
        **{k: v for k, v in params.items() if k not in ("n", "stream", "metadata")},
    }


@pytest.mark.asyncio
async def test_stream_yields_text_then_one_final_chunk_with_usage(
    adapter: OpenAICompatibleAdapter, up: OpenAIUpstream
) -> None:
    up.set_reply("Hello from upstream", prompt_tokens=9, completion_tokens=3, cached_tokens=4)
    chunks = await collect(adapter)
    assert "".join(c.content or "" for c in chunks) == "Hello from upstream"
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(prompt_tokens=9, completion_tokens=3, cached_prompt_tokens=4)
    (request,) = up.chat_requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.headers["accept"] == "text/event-stream"


@pytest.mark.asyncio
async def test_tool_calls_complete_and_stream(adapter: OpenAICompatibleAdapter, up: OpenAIUpstream) -> None:
    up.set_reply("", tool_calls=[TOOL_CALL])
    completion = await adapter.complete(CALL)
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls == [TOOL_CALL]
    assert completion.content is None

    streamed = await Adapter.complete(adapter, CALL)  # the default, built on stream()
    assert streamed.tool_calls == [TOOL_CALL]
    assert streamed.finish_reason == "tool_calls"


@pytest.mark.asyncio
async def test_stream_connection_is_reused(adapter: OpenAICompatibleAdapter, up: OpenAIUpstream) -> None:
    for _ in range(3):
        await collect(adapter)
    assert len({r.client_port for r in up.chat_requests}) == 1
    assert up.unfinished_bodies == 0


@pytest.mark.asyncio
async def test_closing_a_stream_stops_the_upstream(adapter: OpenAICompatibleAdapter, up: OpenAIUpstream) -> None:
    up.slow_stream(0.2)
    stream = adapter.stream(CALL)
    first = await anext(aiter(stream))
    assert first.content
    await stream.aclose()  # type: ignore[attr-defined]
    # the upstream sees the body abandoned: closing did not read the rest of the slow stream
    for _ in range(50):
        if up.unfinished_bodies:
            break
        await asyncio.sleep(0.02)
    assert up.unfinished_bodies == 1


# -- errors ---------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (401, False), (404, False)])
async def test_status_errors(
    adapter: OpenAICompatibleAdapter, up: OpenAIUpstream, status: int, retryable: bool, streaming: bool
) -> None:
    up.fail_next(status)
    with pytest.raises(UpstreamError) as caught:
        await (collect(adapter) if streaming else adapter.complete(CALL))
    assert type(caught.value) is UpstreamError
    assert caught.value.retryable is retryable
    assert caught.value.upstream_status == status
    assert f"HTTP {status}" in caught.value.message
    assert_clean(caught.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_rate_limit_carries_retry_after(
    adapter: OpenAICompatibleAdapter, up: OpenAIUpstream, streaming: bool
) -> None:
    up.rate_limit_next(retry_after=3)
    with pytest.raises(UpstreamError) as caught:
        await (collect(adapter) if streaming else adapter.complete(CALL))
    assert (caught.value.retryable, caught.value.upstream_status, caught.value.retry_after_s) == (True, 429, 3.0)


@pytest.mark.asyncio
async def test_wrong_key_is_not_retryable(up: OpenAIUpstream) -> None:
    adapter = OpenAICompatibleAdapter(up.base_url, "m", api_key="sk-wrong")
    await adapter.start()
    try:
        with pytest.raises(UpstreamError) as caught:
            await adapter.complete(CALL)
    finally:
        await adapter.close()
    assert (caught.value.retryable, caught.value.upstream_status) == (False, 401)


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_hang_before_headers_times_out(up: OpenAIUpstream, streaming: bool) -> None:
    up.hang_next(5)
    adapter = OpenAICompatibleAdapter(up.base_url, "m", api_key=KEY, timeout_s=0.3)
    await adapter.start()
    try:
        # after its hang the upstream answers normally: a timeout means the deadline cut the wait
        with pytest.raises(UpstreamTimeout) as caught:
            await (collect(adapter) if streaming else adapter.complete(CALL))
    finally:
        await adapter.close()
    assert caught.value.retryable and caught.value.status == 504


@pytest.mark.asyncio
async def test_hang_mid_stream_times_out_after_chunks(up: OpenAIUpstream) -> None:
    up.hang_next(5, after_chunks=2)
    adapter = OpenAICompatibleAdapter(up.base_url, "m", api_key=KEY, timeout_s=0.3)
    await adapter.start()
    received: list[Chunk] = []
    try:
        with pytest.raises(UpstreamTimeout):
            async for chunk in adapter.stream(CALL):
                received.append(chunk)
    finally:
        await adapter.close()
    assert [c.content for c in received] == ["Hello "]


@pytest.mark.asyncio
async def test_deadline_bounds_the_whole_stream(adapter: OpenAICompatibleAdapter, up: OpenAIUpstream) -> None:
    up.slow_stream(0.1)  # every read is quick, the whole stream is not
    with pytest.raises(UpstreamTimeout):  # without the deadline the stream would end normally
        await collect(adapter, ModelCall(messages=CALL.messages, deadline_s=0.25))


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_reset_before_headers_is_retryable(
    adapter: OpenAICompatibleAdapter, up: OpenAIUpstream, streaming: bool
) -> None:
    up.reset_before_headers_next()
    with pytest.raises(UpstreamError) as caught:
        await (collect(adapter) if streaming else adapter.complete(CALL))
    assert type(caught.value) is UpstreamError
    assert (caught.value.retryable, caught.value.upstream_status) == (True, None)
    assert_clean(caught.value)
    assert (await adapter.complete(CALL)).content == "Hello from upstream"  # the pool recovers


@pytest.mark.asyncio
async def test_reset_mid_stream_after_chunks(adapter: OpenAICompatibleAdapter, up: OpenAIUpstream) -> None:
    up.reset_mid_stream_next(after_chunks=3)
    received: list[Chunk] = []
    with pytest.raises(UpstreamError) as caught:
        async for chunk in adapter.stream(CALL):
            received.append(chunk)
    assert [c.content for c in received] == ["Hello ", "from "]
    assert caught.value.retryable


@pytest.mark.asyncio
async def test_reset_mid_body_of_a_completion(adapter: OpenAICompatibleAdapter, up: OpenAIUpstream) -> None:
    up.reset_mid_stream_next(after_chunks=1)
    with pytest.raises(UpstreamError) as caught:
        await adapter.complete(CALL)
    assert caught.value.retryable


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_malformed_json_is_retryable(
    adapter: OpenAICompatibleAdapter, up: OpenAIUpstream, streaming: bool
) -> None:
    up.malformed_json_next()
    with pytest.raises(UpstreamError) as caught:
        await (collect(adapter) if streaming else adapter.complete(CALL))
    assert (caught.value.retryable, caught.value.upstream_status) == (True, 200)
    assert "unreadable" in caught.value.message


@pytest.mark.asyncio
async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = OpenAICompatibleAdapter(f"http://127.0.0.1:{port}/v1", "m")
    await adapter.start()
    try:
        with pytest.raises(UpstreamError) as caught:
            await adapter.complete(CALL)
        assert await adapter.ready() is False
    finally:
        await adapter.close()
    assert type(caught.value) is UpstreamUnreachable  # nothing was sent
    assert caught.value.retryable and f"127.0.0.1:{port}" in caught.value.message


@pytest.mark.asyncio
async def test_full_pool_is_overloaded(up: OpenAIUpstream) -> None:
    up.slow_stream(0.2)
    adapter = OpenAICompatibleAdapter(up.base_url, "m", api_key=KEY, connect_timeout_s=0.2, max_connections=1)
    await adapter.start()
    stream = adapter.stream(CALL)
    try:
        await anext(aiter(stream))  # holds the only connection
        with pytest.raises(Overloaded) as caught:
            await adapter.complete(CALL)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        await adapter.close()
    assert caught.value.headers == {"retry-after": "1"}


@pytest.mark.asyncio
async def test_use_before_start_is_a_bug(up: OpenAIUpstream) -> None:
    with pytest.raises(RuntimeError):
        await OpenAICompatibleAdapter(up.base_url, "m").complete(CALL)


# -- readiness ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ready_probes_models_and_caches(adapter: OpenAICompatibleAdapter, up: OpenAIUpstream) -> None:
    assert await adapter.ready() is True
    assert await adapter.ready() is True
    assert len([r for r in up.requests if r.path == MODELS_PATH]) == 1
    up.fail_next(503, path=MODELS_PATH)
    adapter.ready_ttl_s = 0
    assert await adapter.ready() is False
    assert await adapter.ready() is True


# -- pieces ---------------------------------------------------------------------


def test_sse_decoder_joins_data_lines_and_skips_comments() -> None:
    decoder = SSEDecoder()
    lines = [": ping", "event: message", "id: 1", 'data: {"a":', "data:1}", "", "", "data: [DONE]"]
    events = [event for line in lines if (event := decoder.feed(line)) is not None]
    assert events == ['{"a":\n1}']
    assert decoder.flush() == "[DONE]"
    assert decoder.flush() is None


def test_chat_params_keeps_openai_sampling_and_tool_params_only() -> None:
    assert chat_params({"temperature": 0, "n": 2, "stream": True, "model": "x", "seed": None}) == {"temperature": 0}


def test_the_adapters_lists_derive_from_the_wire_models_one_list() -> None:
    assert frozenset(FORWARDED_PARAMS) == CHAT_PARAMS
    assert {"logprobs", "top_logprobs", "reasoning_effort", "safety_identifier", "prompt_cache_key"} <= CHAT_PARAMS
    assert {"top_k", "guided_json"} <= CHAT_PARAMS and not {"top_k", "guided_json"} & CLOSED_API_PARAMS
    assert not {"metadata", "store", "n", "stream", "functions", "model", "messages"} & CHAT_PARAMS


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("status", [400, 413, 422])
async def test_a_refusal_of_the_request_is_the_clients_error(
    adapter: OpenAICompatibleAdapter, up: OpenAIUpstream, status: int, streaming: bool
) -> None:
    """An upstream 4xx that says the request is wrong: ``UpstreamRejected`` with its code, not its text."""
    up.fail_next(status, code="context_length_exceeded")
    with pytest.raises(UpstreamRejected) as caught:
        await (collect(adapter) if streaming else adapter.complete(CALL))
    error = caught.value
    assert (error.status, error.type, error.retryable, error.upstream_status) == (
        400,
        "invalid_request_error",
        False,
        status,
    )
    assert f"HTTP {status}" in error.message and "code 'context_length_exceeded'" in error.message
    assert "injected" not in error.message and "4111" not in error.message and "127.0.0.1" not in error.message


def test_retry_after_forms() -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=now) == 30.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
