"""LiteLLMAdapter against a real OpenAI-compatible server on loopback.

litellm speaks to it as the ``openai`` provider with ``api_base`` pointed here,
so these tests cover the real litellm code path, minus the internet.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.base import Adapter, Chunk, ModelCall, Usage
from adapters.litellm_client import LiteLLMAdapter, load_litellm, price_per_token
from gateway.errors import UpstreamError, UpstreamRejected, UpstreamTimeout, UpstreamUnreachable
from tests.upstreams.openai_server import OpenAIUpstream

KEY_ENV = "VAULTROUTE_TEST_CLOSED_API_KEY"
KEY = "sk-closed-test"
PROMPT = "My card is 4111 1111 1111 1111"
CALL = ModelCall(messages=[{"role": "user", "content": PROMPT}])
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"id": 42}'}}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIUpstream]:
    with OpenAIUpstream(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture
def up(server: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch) -> OpenAIUpstream:
    server.reset()
    monkeypatch.setenv(KEY_ENV, KEY)
    return server


@pytest.fixture
def adapter(up: OpenAIUpstream) -> LiteLLMAdapter:
    return LiteLLMAdapter("openai/test-model", api_key_env=KEY_ENV, api_base=up.base_url, timeout_s=2.0)


async def collect(adapter: Adapter, call: ModelCall = CALL) -> list[Chunk]:
    return [chunk async for chunk in adapter.stream(call)]


async def failure(adapter: Adapter, *, streaming: bool, call: ModelCall = CALL) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await (collect(adapter, call) if streaming else adapter.complete(call))
    error = caught.value
    assert "4111" not in error.message and "injected" not in error.message and KEY not in error.message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)  # no vendor text
    return error


# -- answers ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_complete_passes_model_messages_params_and_key(up: OpenAIUpstream) -> None:
    # A catalog model: litellm sends ``user`` only to models it knows are OpenAI's.
    adapter = LiteLLMAdapter("openai/gpt-4o", api_key_env=KEY_ENV, api_base=up.base_url)
    up.set_reply("Bonjour", prompt_tokens=20, completion_tokens=5, cached_tokens=8)
    params = {"temperature": 0.2, "top_p": 0.5, "max_tokens": 32, "seed": 7, "stop": ["END"], "user": "u-1", "n": 1}
    completion = await adapter.complete(ModelCall(messages=CALL.messages, params=params))
    assert completion.content == "Bonjour"
    assert completion.finish_reason == "stop"
    assert completion.usage == Usage(prompt_tokens=20, completion_tokens=5, cached_prompt_tokens=8)
    (request,) = up.chat_requests
    assert request.bearer == KEY
    assert request.body["model"] == "gpt-4o"
    assert request.body["messages"] == [{"role": "user", "content": PROMPT}]
    assert {k: request.body[k] for k in ("temperature", "top_p", "max_tokens", "seed", "stop", "user")} == {
        k: v for k, v in params.items() if k != "n"
    }
    assert "n" not in request.body and "stream_options" not in request.body


@pytest.mark.asyncio
async def test_key_is_read_from_the_environment_on_every_call(
    adapter: LiteLLMAdapter, up: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    await adapter.complete(CALL)
    monkeypatch.setenv(KEY_ENV, "sk-rotated")
    with pytest.raises(UpstreamError) as caught:
        await adapter.complete(CALL)
    assert [r.bearer for r in up.chat_requests] == [KEY, "sk-rotated"]
    assert (caught.value.upstream_status, caught.value.retryable) == (401, False)


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_missing_key_variable_fails_before_sending(
    adapter: LiteLLMAdapter, up: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch, streaming: bool
) -> None:
    monkeypatch.delenv(KEY_ENV)
    error = await failure(adapter, streaming=streaming)
    assert error.retryable is False
    assert KEY_ENV in error.message
    assert up.chat_requests == []
    assert await adapter.ready() is False


@pytest.mark.asyncio
async def test_stream_yields_text_then_one_final_chunk_with_usage(adapter: LiteLLMAdapter, up: OpenAIUpstream) -> None:
    up.set_reply("Hello from upstream", prompt_tokens=9, completion_tokens=3, cached_tokens=4)
    chunks = await collect(adapter)
    assert "".join(c.content or "" for c in chunks) == "Hello from upstream"
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == Usage(prompt_tokens=9, completion_tokens=3, cached_prompt_tokens=4)
    (request,) = up.chat_requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.bearer == KEY


@pytest.mark.asyncio
async def test_tool_calls_complete_and_stream(adapter: LiteLLMAdapter, up: OpenAIUpstream) -> None:
    up.set_reply("", tool_calls=[TOOL_CALL])
    completion = await adapter.complete(CALL)
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls is not None
    assert completion.tool_calls[0]["function"] == TOOL_CALL["function"]
    streamed = await Adapter.complete(adapter, CALL)  # the default, built on stream()
    assert streamed.tool_calls == [TOOL_CALL]
    assert streamed.finish_reason == "tool_calls"


@pytest.mark.asyncio
async def test_closing_a_stream_stops_the_upstream(adapter: LiteLLMAdapter, up: OpenAIUpstream) -> None:
    up.slow_stream(0.3)
    stream = adapter.stream(CALL)
    assert (await anext(aiter(stream))).content
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(50):
        if up.unfinished_bodies:
            break
        await asyncio.sleep(0.02)
    assert up.unfinished_bodies == 1


# -- errors ---------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (404, False)])
async def test_status_errors(
    adapter: LiteLLMAdapter, up: OpenAIUpstream, status: int, retryable: bool, streaming: bool
) -> None:
    up.fail_next(status, times=3)
    error = await failure(adapter, streaming=streaming)
    assert type(error) is UpstreamError
    assert (error.retryable, error.upstream_status) == (retryable, status)
    assert f"HTTP {status}" in error.message and "127.0.0.1" in error.message
    assert len(up.chat_requests) == 1  # litellm did not retry on its own


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("status", [400, 422])
async def test_a_refusal_of_the_request_is_the_clients_error(
    adapter: LiteLLMAdapter, up: OpenAIUpstream, status: int, streaming: bool
) -> None:
    up.fail_next(status, times=3, code="unsupported_value")
    error = await failure(adapter, streaming=streaming)
    assert type(error) is UpstreamRejected
    assert (error.status, error.type, error.retryable, error.upstream_status) == (
        400,
        "invalid_request_error",
        False,
        status,
    )
    assert f"HTTP {status}" in error.message and "injected" not in error.message and "4111" not in error.message
    assert len(up.chat_requests) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_rate_limit_carries_retry_after(adapter: LiteLLMAdapter, up: OpenAIUpstream, streaming: bool) -> None:
    up.rate_limit_next(retry_after=3, times=3)
    error = await failure(adapter, streaming=streaming)
    assert (error.retryable, error.upstream_status, error.retry_after_s) == (True, 429, 3.0)
    assert len(up.chat_requests) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_hang_times_out(up: OpenAIUpstream, streaming: bool) -> None:
    up.hang_next(5, times=3)
    adapter = LiteLLMAdapter("openai/test-model", api_key_env=KEY_ENV, api_base=up.base_url, timeout_s=0.4)
    error = await failure(adapter, streaming=streaming)  # after its hang the upstream would answer
    assert isinstance(error, UpstreamTimeout) and error.retryable
    assert len(up.chat_requests) == 1


@pytest.mark.asyncio
async def test_hang_mid_stream_times_out(up: OpenAIUpstream) -> None:
    up.hang_next(5, after_chunks=2)
    adapter = LiteLLMAdapter("openai/test-model", api_key_env=KEY_ENV, api_base=up.base_url, timeout_s=0.4)
    assert isinstance(await failure(adapter, streaming=True), UpstreamTimeout)


@pytest.mark.asyncio
async def test_deadline_bounds_the_whole_stream(adapter: LiteLLMAdapter, up: OpenAIUpstream) -> None:
    up.slow_stream(0.1)  # every read is quick; without the deadline the stream would end normally
    error = await failure(adapter, streaming=True, call=ModelCall(messages=CALL.messages, deadline_s=0.3))
    assert isinstance(error, UpstreamTimeout)


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_reset_before_headers_is_retryable(adapter: LiteLLMAdapter, up: OpenAIUpstream, streaming: bool) -> None:
    up.reset_before_headers_next(times=3)
    error = await failure(adapter, streaming=streaming)
    assert type(error) is UpstreamError
    assert (error.retryable, error.upstream_status) == (True, None)
    assert len(up.chat_requests) == 1


@pytest.mark.asyncio
async def test_reset_mid_stream_is_retryable(adapter: LiteLLMAdapter, up: OpenAIUpstream) -> None:
    up.reset_mid_stream_next(after_chunks=3)
    error = await failure(adapter, streaming=True)
    assert type(error) is UpstreamError and error.retryable


@pytest.mark.asyncio
@pytest.mark.parametrize("streaming", [False, True])
async def test_malformed_json_is_retryable(adapter: LiteLLMAdapter, up: OpenAIUpstream, streaming: bool) -> None:
    up.malformed_json_next(times=3)
    error = await failure(adapter, streaming=streaming)
    assert type(error) is UpstreamError and error.retryable


@pytest.mark.asyncio
async def test_connection_refused_is_retryable(up: OpenAIUpstream) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = LiteLLMAdapter("openai/m", api_key_env=KEY_ENV, api_base=f"http://127.0.0.1:{port}/v1")
    error = await failure(adapter, streaming=False)
    assert (type(error), error.retryable, error.upstream_status) == (UpstreamUnreachable, True, None)


# -- litellm stays a per-call client ----------------------------------------------


@pytest.mark.asyncio
async def test_no_litellm_globals_or_callbacks(adapter: LiteLLMAdapter, up: OpenAIUpstream) -> None:
    await adapter.start()
    await adapter.complete(CALL)
    await collect(adapter)
    litellm = load_litellm()
    for name in ("callbacks", "success_callback", "failure_callback", "input_callback", "service_callback"):
        assert getattr(litellm, name) == [], name
    assert litellm._async_success_callback == [] and litellm._async_failure_callback == []
    assert (litellm.api_key, litellm.api_base, litellm.cache, litellm.num_retries) == (None, None, None, None)
    assert litellm.drop_params is False
    assert litellm.suppress_debug_info is True  # the one setting made, at start-up


def test_price_per_token_from_the_bundled_map() -> None:
    assert price_per_token("gpt-4o") == price_per_token("openai/gpt-4o")
    prices = price_per_token("openai/gpt-4o")
    assert prices is not None and prices[0] > 0 and prices[1] > prices[0]
    assert prices[2] is not None and prices[2] < prices[0]
    assert price_per_token("no-such-model") is None
    assert price_per_token("hosted_vllm/gpt-4o") is None  # another provider's price is not this one's
    assert price_per_token("sample_spec") is None


_OFFLINE_SCRIPT = textwrap.dedent(
    """
    import asyncio, ipaddress, json, os, socket, sys
    attempts = []

    def local(address):
        if not isinstance(address, tuple):
            return True
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False

    def guard(original, position):
        def guarded(*args, **kwargs):
            if not local(args[position] if position else (args[0], 0)):
                attempts.append(repr(args[position] if position else args[0]))
                raise OSError("network access outside loopback blocked")
            return original(*args, **kwargs)
        return guarded

    socket.socket.connect = guard(socket.socket.connect, 1)
    socket.socket.connect_ex = guard(socket.socket.connect_ex, 1)
    socket.socket.sendto = guard(socket.socket.sendto, -1)
    socket.getaddrinfo = guard(socket.getaddrinfo, 0)

    from adapters.base import ModelCall
    from adapters.litellm_client import LiteLLMAdapter, price_per_token
    imported_eagerly = "litellm" in sys.modules

    async def main():
        adapter = LiteLLMAdapter("openai/test-model", api_key_env="KEY_ENV", api_base=sys.argv[1], timeout_s=5)
        await adapter.start()
        call = ModelCall(messages=[{"role": "user", "content": "hi"}])
        completion = await adapter.complete(call)
        streamed = "".join([c.content or "" async for c in adapter.stream(call)])
        await asyncio.sleep(0.5)  # give any background logging or telemetry its chance
        return completion.content, streamed

    content, streamed = asyncio.run(main())
    print(json.dumps({
        "attempts": attempts,
        "imported_eagerly": imported_eagerly,
        "content": content,
        "streamed": streamed,
        "price": price_per_token("openai/gpt-4o"),
        "env": {name: os.environ.get(name) for name in ("LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_MODE")},
    }))
    """
).replace("KEY_ENV", KEY_ENV)


def test_litellm_never_leaves_loopback(up: OpenAIUpstream) -> None:
    """Import, price map, a call and a stream: no socket but loopback, no name lookup."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LITELLM_", "GATEWAY_NETGUARD")) and "proxy" not in name.lower()
    }
    env.update({"PYTHONPATH": str(REPO), KEY_ENV: KEY})
    result = subprocess.run(
        [sys.executable, "-c", _OFFLINE_SCRIPT, up.base_url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert report["imported_eagerly"] is False
    assert (report["content"], report["streamed"]) == ("Hello from upstream", "Hello from upstream")
    assert report["price"] is not None
    assert report["env"] == {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MODE": "PRODUCTION"}
    assert [r.bearer for r in up.chat_requests] == [KEY, KEY]
