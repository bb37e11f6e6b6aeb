"""Both HTTP adapters against a misbehaving upstream: every answer past a limit is ``UpstreamTooLarge``.

``HostileUpstream`` (``tests/security/hostile_upstream.py``) speaks raw HTTP on
loopback; the ``openai_compatible`` adapter reads it through ``HttpClient``,
the ``litellm`` adapter through litellm and the bounded aiohttp session. Limits
are small here so that each case costs a fraction of a second; the upstream
would send 64 MiB (or never stop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from adapters.base import Adapter, Chunk, ModelCall, ResponseLimits
from adapters.httpclient import InvalidRequest
from adapters.litellm_client import LiteLLMAdapter
from adapters.openai_compatible import OpenAICompatibleAdapter
from gateway.errors import UpstreamTimeout, UpstreamTooLarge
from tests.security.hostile_upstream import HostileUpstream

KEY_ENV = "VAULTROUTE_TEST_HOSTILE_KEY"
CALL = ModelCall(messages=[{"role": "user", "content": "Hello"}], deadline_s=30)
LIMITS = ResponseLimits(max_response_bytes=64 << 10, max_stream_bytes=256 << 10, max_header_bytes=8192, max_headers=50)
Factory = Callable[[str, ResponseLimits, float], Adapter]


@pytest.fixture(scope="module")
def upstream() -> Iterator[HostileUpstream]:
    with HostileUpstream(volume=64 << 20) as hostile:
        yield hostile


def _openai_compatible(base: str, limits: ResponseLimits, timeout_s: float) -> Adapter:
    return OpenAICompatibleAdapter(base, "m", api_key="sk-hostile", timeout_s=timeout_s, limits=limits)


def _litellm(base: str, limits: ResponseLimits, timeout_s: float) -> Adapter:
    return LiteLLMAdapter("openai/m", api_key_env=KEY_ENV, api_base=base, timeout_s=timeout_s, limits=limits)


@pytest.fixture(params=[_openai_compatible, _litellm], ids=["openai_compatible", "litellm"])
async def make(request: pytest.FixtureRequest, upstream: HostileUpstream,
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., Adapter]]:  # fmt: skip
    monkeypatch.setenv(KEY_ENV, "sk-hostile")
    made: list[Adapter] = []

    def build(mode: str, limits: ResponseLimits = LIMITS, timeout_s: float = 30.0) -> Adapter:
        made.append(request.param(upstream.base(mode), limits, timeout_s))
        return made[-1]

    yield build
    for adapter in made:
        await adapter.close()


async def _answer(adapter: Adapter, *, stream: bool) -> int:
    """Characters of the answer."""
    await adapter.start()
    if not stream:
        completion = await adapter.complete(CALL)
        return len(completion.content or "")
    return sum([len(chunk.content or "") async for chunk in adapter.stream(CALL)])


async def _consume(chunks: AsyncIterator[Chunk]) -> None:
    async for _ in chunks:
        pass


@pytest.mark.parametrize(("mode", "stream"), [
    ("huge_stream", True), ("huge_headers", True), ("many_headers", True),
    ("huge_body", False), ("endless_body", False), ("huge_headers", False), ("many_headers", False),
])  # fmt: skip
async def test_an_answer_past_a_limit_is_upstream_too_large(make: Callable[..., Adapter], mode: str,
                                                            stream: bool) -> None:  # fmt: skip
    with pytest.raises(UpstreamTooLarge) as caught:
        await asyncio.wait_for(_answer(make(mode), stream=stream), 60)
    error = caught.value
    assert error.code == "upstream_response_too_large" and error.status == 502 and not error.retryable
    assert error.__cause__ is None


@pytest.mark.parametrize("stream", [False, True])
async def test_a_polite_answer_passes_under_the_same_limits(make: Callable[..., Adapter], stream: bool) -> None:
    assert await _answer(make("polite"), stream=stream) > 0


async def test_limits_are_the_targets_own(make: Callable[..., Adapter]) -> None:
    """The same stream within a larger limit is read to its end: the limit is not a constant."""
    roomy = ResponseLimits(max_stream_bytes=1 << 30)
    adapter = make("huge_stream", roomy, 30.0)
    await adapter.start()
    received = 0
    async for chunk in adapter.stream(CALL):
        received += len(chunk.content or "")
        if received > 2 * LIMITS.max_stream_bytes // 10:  # far past where LIMITS would have cut it (in events)
            break


async def test_a_stream_that_keeps_the_buffer_full_still_meets_its_deadline(make: Callable[..., Adapter]) -> None:
    """An upstream that floods never lets a read wait, so the deadline is checked between chunks."""
    adapter = make("huge_stream", ResponseLimits(max_stream_bytes=1 << 30))
    await adapter.start()
    call = ModelCall(messages=CALL.messages, deadline_s=1.0)  # the attempt's deadline, as the target chain sets it
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(_consume(adapter.stream(call)), 60)


async def test_a_key_that_would_split_the_request_is_refused_before_sending(upstream: HostileUpstream) -> None:
    """A key read from the environment with a line break in it: the target does not start (the
    gateway reports it unavailable), and nothing reaches the upstream."""
    adapter = OpenAICompatibleAdapter(upstream.base("polite"), "m", api_key="sk\r\nx-injected: 1")
    before = upstream.requests["polite"]
    with pytest.raises(InvalidRequest):
        await adapter.start()
    with pytest.raises(RuntimeError):  # not started: no call can go out
        await adapter.complete(CALL)
    assert upstream.requests["polite"] == before


async def test_litellm_makes_up_no_usage_the_upstream_did_not_send(
    upstream: HostileUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """litellm counts the chunks it kept when a stream has no usage; the adapter lets most of them go,
    so it reports none and the gateway counts what was produced (``usage_source = counted``)."""
    monkeypatch.setenv(KEY_ENV, "sk-hostile")
    adapter = _litellm(upstream.base("polite"), LIMITS, 30.0)
    chunks = [chunk async for chunk in adapter.stream(CALL)]
    await adapter.close()
    assert chunks[-1].finish_reason and chunks[-1].usage is None
    assert "".join(chunk.content or "" for chunk in chunks) == "w0 w1 w2 "
