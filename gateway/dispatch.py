"""Calling targets: retries, fallbacks and failure handling, with the invariant checked at every attempt.

``TargetChain`` is pydantic-ai's ``FallbackModel`` idea: for one request at one
level it tries the decision's targets in order, and returns a value,
``Dispatched``: every attempt, the target that answered, and the completion or
the stream, or the error that ends the request (``Dispatched.answer`` raises
it). The caller reads the value, never the chain's state.

Before *every* attempt (the first at a target, each retry, each fallback) it
checks, in this order:

1. the invariant, against the policy that made the decision: a target never
   receives a request above its ``max_level``; and the call's content is the
   content that was classified, unchanged (``Outbound.carries``). A violation
   here means a bug upstream of the guard, so it is logged at CRITICAL and the
   target is skipped, never called;
2. the request's deadline: no attempt starts after it;
3. the target's circuit breaker: open, the target is skipped; half-open, one
   probe goes through (a first attempt at a target whose circuit the decision
   saw closed does not ask again);
4. a place among the target's requests in flight (backpressure): it waits up
   to ``queue_wait_s``, then the target is skipped as overloaded.

The adapter then gets a deadline of ``min(target.timeout_s, time left)``, and
a stream must yield its first chunk within ``first_token_timeout_s``. Retryable
failures are retried on the same target (``gateway/resilience/retry.py``:
backoff with jitter, ``Retry-After`` up to a cap, the retry budget), then the
next target is tried; an ``UpstreamRejected`` (the upstream refused the request
itself: HTTP 400, 413, 415, 422) ends the chain at once, as the client's error
(400), with no other target tried. A stream falls back only before its first chunk; after
it, a failure ends the stream (``StreamInterrupted``) and the answer is never
continued elsewhere.

When no target is left the error is, in this order: 504 ``upstream_timeout``
if the deadline passed; 502/504 if an upstream received the request and
failed; 503 ``overloaded`` (``Retry-After``) if targets were full; otherwise
503 ``no_target_available``: nothing was sent anywhere.

Attempt outcomes (ledger ``attempt_log``, audit, metrics): ``ok``, ``error``,
``timeout``, ``interrupted`` (the upstream received the request);
``not_sent`` with ``upstream_unreachable`` or ``overloaded``,
``breaker_open``, ``refused_by_invariant`` (it received nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from adapters.base import Adapter, Chunk, Completion, ModelCall
from gateway.errors import (
    GatewayError,
    NoTargetAvailable,
    Overloaded,
    StreamInterrupted,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.outbound import Outbound
from gateway.policy.engine import permitted
from gateway.policy.model import Policy, Target
from gateway.pseudonymize.plan import Transformed
from gateway.resilience import CircuitState, CircuitView, Resilience

log = logging.getLogger("gateway.dispatch")

T = TypeVar("T")
_FAILED = frozenset({"error", "timeout", "interrupted"})


@dataclass(slots=True)
class Attempt:
    """One try at one target, for the ledger and the audit trail."""

    target: str
    residency: str
    outcome: str  # see the module docstring
    error_code: str | None = None
    latency_ms: float = 0.0

    def summary(self) -> str:
        return f"{self.target}:{self.outcome}" + (f":{self.error_code}" if self.error_code else "")


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What a ``TargetChain`` call gives back.

    ``attempts``: every try, in order (the ``Attempt`` of a stream that breaks after its first
    chunk turns ``interrupted`` in place). ``target``: what answered; ``None`` when nothing did,
    and then ``error`` says why (a ``GatewayError``, or a bug), raised by ``answer``/``chunks``."""

    attempts: tuple[Attempt, ...]
    target: str | None = None
    completion: Completion | None = None
    stream: AsyncIterator[Chunk] | None = None
    error: Exception | None = None

    @property
    def failed_attempts(self) -> int:
        """Attempts that failed before the answer: ``x-gateway-fallbacks``."""
        return sum(1 for a in self.attempts if a.outcome in _FAILED or a.error_code == UpstreamUnreachable.code)

    def answer(self) -> Completion:
        """The completion; raises the error when no target answered."""
        if self.completion is None:
            raise self.error or NoTargetAvailable("No target answered.")
        return self.completion

    def chunks(self) -> AsyncIterator[Chunk]:
        """The answering target's stream, first chunk included; raises the error when no target answered.
        Start it at once (``anext``) and close it (``aclose``): it holds the target's place until it ends."""
        if self.stream is None:
            raise self.error or NoTargetAvailable("No target answered.")
        return self.stream


class _Skipped(Exception):
    """This target gets no (more) attempts for this request; nothing was sent by this attempt."""


@dataclass(slots=True)
class _OpenStream:
    first: Chunk
    upstream: AsyncIterator[Chunk]
    place: contextlib.AsyncExitStack
    attempt: Attempt
    started: float


class TargetChain:
    """Tries ``targets`` in order for one request at ``level``; see the module docstring."""

    def __init__(
        self,
        policy: Policy,
        level: str,
        targets: Sequence[str],
        adapters: Mapping[str, Adapter],
        resilience: Resilience | None = None,
        circuits: Mapping[str, CircuitView] | None = None,
        *,
        outbound: Outbound,
        transformed: Transformed | None = None,
    ) -> None:
        """``outbound``: the classified content; every call this chain makes must carry exactly it, except
        to ``transformed.targets``, which get ``transformed.outbound`` (pseudonymised, classified again) at
        ``transformed.level``.
        ``circuits``: the targets' circuits as read for this request's decision; a target seen
        closed there takes its first attempt without asking the breaker again (one Redis round
        trip less per request; a circuit that opened in between costs at most that one call)."""
        self._policy = policy
        self._outbound = outbound
        self._transformed = transformed
        self._circuits = circuits or {}
        self._level = level
        self._targets = list(targets)
        self._adapters = adapters
        self._res = resilience or Resilience()
        self._attempts: list[Attempt] = []
        self._deadline = 0.0
        self._tries: dict[str, int] = {}
        self._reached: UpstreamError | None = None  # last failure of an upstream that got the request
        self._overloaded: Overloaded | None = None
        self._expired = False

    # -- the two ways to call ------------------------------------------------

    async def complete(self, call: ModelCall) -> Dispatched:
        self._begin(call)
        try:
            for name in self._targets:
                completion = await self._try_target(name, self._complete_once, call)
                if completion is not None:
                    return Dispatched(tuple(self._attempts), name, completion=completion)
                if self._expired:
                    break
            error: Exception = self._exhausted()
        except Exception as exc:  # noqa: BLE001  a bug: the attempts made so far still reach the record
            error = exc
        return Dispatched(tuple(self._attempts), error=error)

    async def open_stream(self, call: ModelCall) -> Dispatched:
        """Opens the first target that sends a first chunk: a stream falls back only before its first
        chunk; after it, a failure ends the stream (``StreamInterrupted``)."""
        self._begin(call)
        try:
            for name in self._targets:
                opened = await self._try_target(name, self._open_stream, call)
                if opened is not None:
                    return Dispatched(tuple(self._attempts), name, stream=self._relay(name, opened))
                if self._expired:
                    break
            error: Exception = self._exhausted()
        except Exception as exc:  # noqa: BLE001  as in ``complete``
            error = exc
        return Dispatched(tuple(self._attempts), error=error)

    async def _relay(self, name: str, opened: _OpenStream) -> AsyncIterator[Chunk]:
        try:
            yield opened.first
            async for chunk in opened.upstream:
                yield chunk
        except UpstreamError as error:
            opened.attempt.outcome, opened.attempt.error_code = "interrupted", error.code
            log.warning("target %s failed mid-stream: %s", name, error.code)
            await self._record(name, error)
            raise StreamInterrupted("The upstream failed while streaming the answer.") from None
        finally:
            opened.attempt.latency_ms = _ms(opened.started)
            await opened.upstream.aclose()  # type: ignore[attr-defined]
            await opened.place.aclose()

    # -- one target, with retries ----------------------------------------------

    async def _try_target(
        self, name: str, once: Callable[[str, ModelCall], Awaitable[T]], call: ModelCall
    ) -> T | None:
        """``once`` under the retry policy; ``None`` when this target is done without an answer."""
        retrying = self._res.retry.retrying(
            name, self._deadline, on_retry=lambda _: self._res.note_retry(name)
        )
        if self._transformed is not None and name in self._transformed.targets:
            sent = self._transformed.outbound
            call = dataclasses.replace(call, messages=sent.messages, params=sent.params)
        try:
            return await retrying(once, name, call)
        except _Skipped:
            return None
        except UpstreamRejected:
            raise  # the request's own error (an upstream 4xx): no other target would take it either
        except Overloaded as error:
            self._overloaded = error
            self._attempts.append(Attempt(name, self._residency(name), "not_sent", "overloaded"))
            return None
        except UpstreamError as error:
            if not isinstance(error, UpstreamUnreachable):
                self._reached = error
            return None

    async def _admit(self, name: str, call: ModelCall) -> Target:
        """The checks before every attempt; raises ``_Skipped`` when this attempt may not happen."""
        target = self._policy.targets[name]
        level, content = self._level, self._outbound
        if self._transformed is not None and name in self._transformed.targets:
            level, content = self._transformed.level, self._transformed.outbound
        if not content.carries(call):
            log.critical("invariant guard refused target %s: the call is not the content that was classified", name)
            self._attempts.append(Attempt(name, target.residency, "refused_by_invariant", "unclassified_content"))
            raise _Skipped
        if not (permitted(self._policy, target, level) and name in self._adapters):
            log.critical(
                "invariant guard refused target %s for level %s (max_level %s)",
                name,
                level,
                self._policy.max_level_of(target),
            )
            self._attempts.append(Attempt(name, target.residency, "refused_by_invariant"))
            raise _Skipped
        if self._remaining() <= 0:
            self._expired = True
            raise _Skipped
        seen = self._circuits.get(name)
        closed = seen is not None and seen.state is CircuitState.CLOSED and name not in self._tries
        if not closed and not await self._res.breakers.allow(name):
            self._attempts.append(Attempt(name, target.residency, "breaker_open"))
            raise _Skipped
        self._tries[name] = self._tries.get(name, 0) + 1
        if self._tries[name] == 1:
            self._res.retry.budget.note_first_attempt(name)
        return target

    async def _complete_once(self, name: str, call: ModelCall) -> Completion:
        target = await self._admit(name, call)
        async with self._res.bulkheads.slot(name, target.max_in_flight, wait_s=self._remaining()):
            started = time.perf_counter()
            try:
                completion = await self._adapters[name].complete(self._call_for(target, call))
            except UpstreamError as error:
                await self._failed(name, error, started)
                raise
        self._attempts.append(Attempt(name, target.residency, "ok", None, _ms(started)))
        await self._succeeded(name)
        return completion

    async def _open_stream(self, name: str, call: ModelCall) -> _OpenStream:
        """Start a stream and wait for its first chunk; the target's place is held until the stream ends."""
        target = await self._admit(name, call)
        place = contextlib.AsyncExitStack()
        await place.enter_async_context(
            self._res.bulkheads.slot(name, target.max_in_flight, wait_s=self._remaining())
        )
        attempt_call = self._call_for(target, call)
        first_token_s = min(target.first_token_timeout_s or attempt_call.deadline_s, attempt_call.deadline_s)
        started = time.perf_counter()
        upstream = self._adapters[name].stream(attempt_call)
        try:
            async with asyncio.timeout(first_token_s):
                first = await anext(upstream)
        except StopAsyncIteration:
            first = Chunk(finish_reason="stop")
        except BaseException as exc:
            await upstream.aclose()  # type: ignore[attr-defined]
            await place.aclose()
            if isinstance(exc, TimeoutError):
                error: UpstreamError = UpstreamTimeout(f"target {name} sent no first token in {first_token_s:g} s")
                await self._failed(name, error, started)
                raise error from None
            if isinstance(exc, UpstreamError):
                await self._failed(name, exc, started)
            raise
        attempt = Attempt(name, target.residency, "ok")
        self._attempts.append(attempt)
        await self._succeeded(name)
        return _OpenStream(first, upstream, place, attempt, started)

    # -- bookkeeping -----------------------------------------------------------

    def _begin(self, call: ModelCall) -> None:
        self._deadline = asyncio.get_running_loop().time() + call.deadline_s

    def _remaining(self) -> float:
        return self._deadline - asyncio.get_running_loop().time()

    def _call_for(self, target: Target, call: ModelCall) -> ModelCall:
        return dataclasses.replace(call, deadline_s=max(min(target.timeout_s, self._remaining()), 0.001))

    async def _succeeded(self, name: str) -> None:
        """A success on a circuit the decision saw closed (a first try) is recorded without the answer
        waiting for Redis; one that may close a half-open circuit is recorded before going on."""
        seen = self._circuits.get(name)
        if seen is not None and seen.state is CircuitState.CLOSED and self._tries.get(name) == 1:
            self._res.breakers.record_soon(name, True)
        else:
            await self._res.breakers.record(name, True)

    def _residency(self, name: str) -> str:
        return self._policy.targets[name].residency

    async def _failed(self, name: str, error: UpstreamError, started: float) -> None:
        if isinstance(error, UpstreamUnreachable):
            outcome = "not_sent"
        else:
            outcome = "timeout" if isinstance(error, UpstreamTimeout) else "error"
        self._attempts.append(Attempt(name, self._residency(name), outcome, error.code, _ms(started)))
        log.warning("target %s failed: %s (status %s)", name, error.code, error.upstream_status)
        await self._record(name, error)

    async def _record(self, name: str, error: UpstreamError) -> None:
        """A failure counts against the circuit when it says the target is unwell (retryable:
        connection, timeout, 429, 5xx); a request the upstream rejected shows it is up."""
        await self._res.breakers.record(name, not error.retryable)

    def _exhausted(self) -> GatewayError:
        if self._expired or self._remaining() <= 0:
            return UpstreamTimeout("No permitted target answered before the request's deadline.")
        last = self._reached
        if last is not None:
            status = f" (upstream HTTP {last.upstream_status})" if last.upstream_status else ""
            if isinstance(last, UpstreamTimeout):
                return UpstreamTimeout("No permitted target answered in time; the last one timed out.")
            return UpstreamError(
                f"No permitted target could answer; the last one failed{status}.",
                retryable=last.retryable,
                upstream_status=last.upstream_status,
            )
        if self._overloaded is not None:
            return Overloaded(
                "Every permitted target is at its limit of requests in flight; retry shortly.",
                headers=self._overloaded.headers,
            )
        return NoTargetAvailable("No target that may receive this request is available. Nothing was sent.")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
