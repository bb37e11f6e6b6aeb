"""``TargetChain`` in process with scripted adapters: the invariant at every attempt, and what each failure gives.

Unit tests; ``test_faults.py`` repeats the important cases against the running
server and real upstreams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import gateway.dispatch
from adapters.base import Adapter, Chunk, ModelCall, Usage
from gateway.dispatch import TargetChain
from gateway.errors import (
    NoTargetAvailable,
    Overloaded,
    StreamInterrupted,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.outbound import Outbound
from gateway.policy.model import Policy
from gateway.protocol import ChatCompletionRequest
from gateway.resilience import Resilience, ResilienceSettings

POLICY = Policy.model_validate({
    "version": 1,
    "name": "dispatch",
    "levels": ["public", "internal", "confidential", "restricted"],
    "classification": {"default_level": "internal", "on_error": "restricted"},
    "targets": {
        "onprem": {"kind": "openai_compatible", "api_base": "http://onprem", "model": "m", "residency": "on_prem",
                   "timeout_s": 2, "first_token_timeout_s": 0.2},
        "onprem2": {"kind": "openai_compatible", "api_base": "http://onprem2", "model": "m",
                    "residency": "on_prem", "max_in_flight": 1},
        "external": {"kind": "litellm", "model": "openai/x", "residency": "external", "max_level": "internal"},
    },
    "models": {"m": {}},
    "routes": [{"name": "r", "targets": ["external", "onprem", "onprem2"]}],
})
SENT = Outbound.of(ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "hi"}]))
CALL = SENT.call(deadline_s=5, request_id="")


class Scripted(Adapter):
    """Each call takes the next step: ``"ok"``, ``"hang"``, an error raised before the first chunk, or
    ``("cut", error)``: two chunks, then the error."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.calls: list[ModelCall] = []

    async def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        self.calls.append(call)
        step = self.steps.pop(0) if self.steps else "ok"
        if step == "hang":
            await asyncio.sleep(60)
        if isinstance(step, Exception):
            raise step
        yield Chunk(content="a")
        yield Chunk(content=" b")
        if isinstance(step, tuple):
            raise step[1]
        yield Chunk(finish_reason="stop", usage=Usage(3, 2))


def _resilience(**retries: Any) -> Resilience:
    return Resilience(ResilienceSettings.model_validate({
        "retries": {"backoff_initial_s": 0, "backoff_max_s": 0, "jitter_s": 0, **retries},
        "breaker": {"consecutive_failures": 3, "open_s": 30},
        "backpressure": {"queue_wait_s": 0.05},
    }))


def _chain(adapters: dict[str, Adapter], level: str = "internal", targets: tuple[str, ...] | None = None,
           resilience: Resilience | None = None) -> TargetChain:
    return TargetChain(
        POLICY, level, targets or ("external", "onprem"), adapters, resilience or _resilience(), outbound=SENT
    )


async def test_the_invariant_is_checked_at_every_attempt_retries_and_fallbacks_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks: list[tuple[str, str]] = []
    original = gateway.dispatch.permitted

    def counting(policy: Policy, target: Any, level: str) -> bool:
        checks.append((target.model, level))
        return original(policy, target, level)

    monkeypatch.setattr(gateway.dispatch, "permitted", counting)
    external, onprem = Scripted(UpstreamError("503"), UpstreamError("503")), Scripted(UpstreamError("503"), "ok")
    dispatched = await _chain({"external": external, "onprem": onprem}).complete(CALL)
    assert len(checks) == len(dispatched.attempts) == 4  # external x2, onprem x2: each attempt checked first


async def test_a_target_above_its_max_level_is_never_called_whatever_failed_before() -> None:
    # A decision bug puts the external target in the list of a restricted request: the guard refuses it.
    external, onprem = Scripted(), Scripted(UpstreamUnreachable("down"), UpstreamUnreachable("down"))
    chain = _chain({"external": external, "onprem": onprem}, level="restricted", targets=("onprem", "external"))
    dispatched = await chain.complete(CALL)
    with pytest.raises(NoTargetAvailable):
        dispatched.answer()
    assert external.calls == [] and dispatched.target is None
    assert [a.summary() for a in dispatched.attempts] == [
        "onprem:not_sent:upstream_unreachable",
        "onprem:not_sent:upstream_unreachable",
        "external:refused_by_invariant",
    ]


async def test_a_reached_upstream_failing_gives_502_without_its_details() -> None:
    onprem = Scripted(*(UpstreamError("upstream 10.1.2.3:8000 answered HTTP 500", upstream_status=500),) * 2)
    dispatched = await _chain({"onprem": onprem}, targets=("onprem",)).complete(CALL)
    with pytest.raises(UpstreamError) as failed:
        dispatched.answer()
    assert failed.value.status == 502 and "10.1.2.3" not in failed.value.message
    assert dispatched.failed_attempts == 2


async def test_full_targets_give_503_overloaded_with_retry_after() -> None:
    resilience = _resilience()
    onprem2 = Scripted()
    async with resilience.bulkheads.slot("onprem2", 1):
        dispatched = await _chain({"onprem2": onprem2}, targets=("onprem2",), resilience=resilience).complete(CALL)
    with pytest.raises(Overloaded) as refused:
        dispatched.answer()
    assert refused.value.headers["retry-after"] == "1" and onprem2.calls == []
    assert [a.summary() for a in dispatched.attempts] == ["onprem2:not_sent:overloaded"]


async def test_an_open_circuit_skips_the_target_without_calling_it() -> None:
    resilience = _resilience()
    for _ in range(3):
        await resilience.breakers.record("external", False)
    external, onprem = Scripted(), Scripted()
    dispatched = await _chain({"external": external, "onprem": onprem}, resilience=resilience).complete(CALL)
    assert external.calls == [] and dispatched.target == "onprem"
    assert [a.summary() for a in dispatched.attempts] == ["external:breaker_open", "onprem:ok"]
    assert dispatched.failed_attempts == 0


async def test_each_attempt_gets_the_target_timeout_or_what_is_left_of_the_deadline() -> None:
    onprem = Scripted()
    await _chain({"onprem": onprem}, targets=("onprem",)).complete(CALL)
    assert onprem.calls[0].deadline_s == pytest.approx(2, abs=0.05)  # the target's timeout_s
    short = Scripted()
    await _chain({"onprem": short}, targets=("onprem",)).complete(SENT.call(deadline_s=0.5, request_id=""))
    assert short.calls[0].deadline_s <= 0.5


async def test_the_deadline_gives_504_and_stops_further_targets() -> None:
    onprem, external = Scripted(UpstreamTimeout("slow")), Scripted()
    chain = _chain({"onprem": onprem, "external": external}, targets=("onprem", "external"))
    call = SENT.call(deadline_s=0.3, request_id="")

    async def slow_then_timeout(c: ModelCall) -> Any:
        await asyncio.sleep(0.35)
        raise UpstreamTimeout("slow")

    onprem.complete = slow_then_timeout  # type: ignore[method-assign]
    dispatched = await chain.complete(call)
    with pytest.raises(UpstreamTimeout) as late:
        dispatched.answer()
    assert late.value.status == 504 and external.calls == []


async def test_a_stream_falls_back_before_its_first_chunk() -> None:
    external, onprem = Scripted(UpstreamError("503"), UpstreamError("503")), Scripted()
    dispatched = await _chain({"external": external, "onprem": onprem}).open_stream(CALL)
    chunks = [c async for c in dispatched.chunks()]
    assert "".join(c.content or "" for c in chunks) == "a b" and dispatched.target == "onprem"


async def test_a_stream_without_a_first_token_in_time_falls_back() -> None:
    onprem, external = Scripted("hang", "hang"), Scripted()
    chain = _chain({"onprem": onprem, "external": external}, targets=("onprem", "external"))
    dispatched = await chain.open_stream(CALL)
    chunks = [c async for c in dispatched.chunks()]
    assert dispatched.target == "external" and chunks[-1].finish_reason == "stop"
    assert [a.outcome for a in dispatched.attempts] == ["timeout", "timeout", "ok"]
    assert dispatched.failed_attempts == 2


async def test_a_stream_cut_after_its_first_chunk_is_never_continued_elsewhere() -> None:
    onprem, external = Scripted(("cut", UpstreamError("reset"))), Scripted()
    chain = _chain({"onprem": onprem, "external": external}, targets=("onprem", "external"))
    received: list[str] = []
    dispatched = await chain.open_stream(CALL)
    with pytest.raises(StreamInterrupted):
        async for chunk in dispatched.chunks():
            received.append(chunk.content or "")
    assert received == ["a", " b"] and external.calls == [] and len(onprem.calls) == 1
    assert [a.summary() for a in dispatched.attempts] == ["onprem:interrupted:upstream_error"]


async def test_closing_a_stream_early_releases_its_place() -> None:
    resilience = _resilience()
    chain = _chain({"onprem2": Scripted()}, targets=("onprem2",), resilience=resilience)
    stream = (await chain.open_stream(CALL)).chunks()
    await anext(stream)
    assert resilience.bulkheads.in_flight() == {"onprem2": 1}
    await stream.aclose()  # type: ignore[attr-defined]
    assert resilience.bulkheads.in_flight() == {"onprem2": 0}


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda call: ModelCall(messages=[dict(m) for m in call.messages], params=call.params), id="copy"),
        pytest.param(lambda call: call.messages.append({"role": "user", "content": "added"}) or call, id="append"),
        pytest.param(lambda call: call.params.__setitem__("stop", ["4111 1111 1111 1111"]) or call, id="param"),
    ],
)
async def test_a_call_that_is_not_the_classified_content_is_never_sent(tamper: Any) -> None:
    sent = Outbound.of(ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "hi"}]))
    external, onprem = Scripted("ok"), Scripted("ok")
    chain = TargetChain(POLICY, "internal", ("external", "onprem"), {"external": external, "onprem": onprem},
                        _resilience(), outbound=sent)  # fmt: skip
    dispatched = await chain.complete(tamper(sent.call(deadline_s=5, request_id="")))
    with pytest.raises(NoTargetAvailable):
        dispatched.answer()
    assert external.calls == onprem.calls == []
    assert [a.outcome for a in dispatched.attempts] == ["refused_by_invariant"] * 2
