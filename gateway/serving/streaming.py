"""A streamed answer: relayed chunk by chunk, counted as it goes, recorded when it ends.

``relay`` writes the answering target's chunks on the request's wire. The
answer is never held whole: text past ``AnswerTally``'s bounds is counted off
the loop and let go. Whatever ends the stream (its last chunk, the upstream
failing, the client leaving) the request is charged for what was produced and
its record is finished, once. ``replay`` streams a cached answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from adapters.base import AnswerExtras, Chunk, Completion, ToolCallParts, Usage, join_extras, tool_call_text
from gateway.cache import CachedAnswer
from gateway.dispatch import Dispatched
from gateway.errors import GatewayError
from gateway.policy.engine import Decision
from gateway.serving.bookkeeping import Bookkeeper, InFlight
from gateway.serving.services import Services
from gateway.serving.wire import Wire
from gateway.tokens import AnswerTally


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """One stream's answer and where it may be kept."""

    dispatched: Dispatched
    chunks: AsyncIterator[Chunk]  # the answer, restored where it was pseudonymised
    first: Chunk
    decision: Decision
    cache_key: str | None  # where a complete answer is kept; ``None``: not kept


async def relay(
    services: Services, book: Bookkeeper, flight: InFlight, wire: Wire, plan: StreamPlan
) -> AsyncIterator[bytes]:
    chunks, answered_by, decision = plan.chunks, plan.dispatched.target, plan.decision
    answering = flight.loaded.policy.targets.get(answered_by or "")
    tally = AnswerTally(services.tokens, answering.model if answering else "")
    tool_calls = ToolCallParts()  # kept while the answer is short enough to cache
    extras: list[AnswerExtras] = []  # likewise
    usage: Usage | None = None
    finish: str | None = None
    outcome, status, error_code = "client_disconnected", 499, None
    try:
        yield wire.opening()
        chunk: Chunk | None = plan.first
        while chunk is not None:
            if chunk.content or chunk.tool_calls or chunk.extras:
                if chunk.content:
                    tally.add(chunk.content)
                for call_delta in chunk.tool_calls or ():
                    tally.add(tool_call_text(call_delta), content=False)
                    if tally.text is not None:
                        tool_calls.add(call_delta)
                if chunk.extras:  # a refusal, reasoning: produced (and billed) text; kept with the answer
                    for said in (chunk.extras.refusal, chunk.extras.reasoning_content):
                        if said:
                            tally.add(said, content=False)
                    if tally.text is not None:
                        extras.append(chunk.extras)
                if tally.due:
                    await tally.count_due()
                piece = wire.delta(chunk.content, chunk.tool_calls, chunk.extras)
                if piece:  # an API whose stream has no place for what this chunk carries writes nothing
                    yield piece
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.finish_reason:
                finish = chunk.finish_reason
            chunk = await anext(chunks, None)
        yield wire.finish(finish or "stop")
        usage = await book.usage_off_loop(flight, answered_by, usage, tally.pending, (), tally.counted)
        line = wire.usage(usage)
        if line:
            yield line
        yield wire.done()
        outcome, status = "ok", 200
        # Only a stream that ran to its end with a finish reason is cached; a cut
        # or failed one raised above, a client that left stopped us at a yield.
        kept = tally.text  # None: too long to cache
        if (
            plan.cache_key is not None
            and decision.cache is not None
            and answered_by is not None
            and finish
            and (kept is not None)
        ):
            text = kept if kept or not tool_calls else None
            answer = Completion(text, finish, usage, tool_calls.calls() or None, extras=join_extras(extras))
            await services.cache.store(plan.cache_key, CachedAnswer(answered_by, answer), decision.cache.ttl_s)
    except GatewayError as error:
        outcome, status, error_code = "stream_interrupted", error.status, error.code
        yield wire.error(error)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
        book.note_dispatch(flight, plan.dispatched)  # an attempt cut mid-stream is ``interrupted`` now
        cancelled: asyncio.CancelledError | None = None
        try:
            produced = await book.usage_off_loop(flight, answered_by, usage, tally.pending, (), tally.counted)
        except asyncio.CancelledError as exc:  # going away while counting: count here, keep the record
            cancelled = exc
            produced = book.usage(flight, answered_by, usage, tally.pending, (), tally.counted)
        if answered_by is not None:
            book.settle(flight, answered_by, produced)
        book.finish(flight, outcome=outcome, status=status, error_code=error_code)
        if cancelled is not None:
            raise cancelled


async def replay(wire: Wire, completion: Completion) -> AsyncIterator[bytes]:
    """A cached answer as a stream."""
    yield wire.opening()
    if completion.content:
        yield wire.delta(completion.content, None)
    if completion.tool_calls:
        yield wire.delta(None, [{"index": i, **call} for i, call in enumerate(completion.tool_calls)])
    if completion.extras:
        yield wire.delta(None, None, completion.extras)
    yield wire.finish(completion.finish_reason)
    line = wire.usage(completion.usage)
    if line:
        yield line
    yield wire.done()
