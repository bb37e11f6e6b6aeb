"""The request path, in one straight function.

    request -> auth -> rate limit -> classify -> decide -> cache -> call target
            (retries, fallbacks, breakers, invariant) -> ledger + audit -> response

``ChatService.handle`` is that path. Authentication happens in the HTTP layer
(``routes.py``); everything after it is here. Every accepted request leaves one
ledger row, whatever happens to it; the observers (metrics, the audit trail)
see the same row and its attempts. Each stage is a span (``gateway/telemetry.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError

from adapters.base import Chunk, Completion, ModelCall, ToolCallParts, Usage, tool_call_text
from gateway.budget import Admission, BudgetKeeper
from gateway.cache import AnswerCache, CachedAnswer, deterministic, scope_for
from gateway.classify.base import Classification, Classifier, PolicyRecognizer
from gateway.dispatch import TargetChain
from gateway.errors import (
    BudgetExceeded,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    NoTargetAvailable,
    PayloadTooLarge,
    PolicyDenied,
)
from gateway.keys import Principal
from gateway.ledger.charge import UsageSource, charge, estimate_request
from gateway.ledger.writer import LedgerWriter
from gateway.logs import new_request_id
from gateway.outbound import Outbound
from gateway.policy.capabilities import needs_of
from gateway.policy.engine import Decision, Facts, decide, estimate_input_tokens
from gateway.policy.explain import recognizers_of
from gateway.policy.loader import LoadedPolicy
from gateway.policy.model import Policy
from gateway.pricing import Pricer
from gateway.protocol import ChatCompletionRequest, chunk_body, completion_body, describe_validation_error
from gateway.pseudonymize import PseudonymKey
from gateway.pseudonymize.answer import AnswerRestorer, restored
from gateway.pseudonymize.plan import Transformed, with_transform
from gateway.resilience import Resilience
from gateway.targets import TargetPool
from gateway.telemetry import Telemetry
from gateway.tokens import AnswerTally, TokenCounter

log = logging.getLogger("gateway.serving")

# Called once per accepted request with its finished ledger row and its attempts
# (``gateway.dispatch.Attempt``): metrics and the audit trail. Must not block or raise.
Observer = Callable[[Mapping[str, Any], Sequence[Any]], None]


@dataclass(slots=True)
class Outcome:
    """What the HTTP layer sends: a JSON body, or a stream of SSE lines; plus headers."""

    headers: dict[str, str]
    body: dict[str, Any] | None = None
    stream: AsyncIterator[bytes] | None = None


@dataclass(slots=True)
class _Record:
    """The ledger row being built for one request."""

    request_id: str
    principal: Principal
    started: float
    row: dict[str, Any] = field(default_factory=dict)
    attempts: list[Any] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # in memory only: to count tokens
    admission: Admission | None = None  # the team budget's reservation, settled in _finish
    transform: Transformed | None = None  # the pseudonymised content and its vault: memory only, never recorded


class ChatService:
    def __init__(
        self,
        *,
        policy: Any,  # PolicyHolder: ``.current`` is the LoadedPolicy in force
        classifier: Classifier,
        targets: TargetPool,
        cache: AnswerCache,
        ledger: LedgerWriter,
        pricer: Pricer,
        max_messages: int,
        deadline_s: float,
        telemetry: Telemetry | None = None,
        observers: Sequence[Observer] = (),
        budgets: BudgetKeeper | None = None,
        tokens: TokenCounter | None = None,
        resilience: Resilience | None = None,
        pseudonym_key: PseudonymKey | None = None,
    ) -> None:
        self._policy = policy
        self._telemetry = telemetry or Telemetry()
        self._observers = tuple(observers)
        self.classifier = classifier
        self._targets = targets
        self.cache = cache
        self._ledger = ledger
        self._pricer = pricer
        self._max_messages = max_messages
        self._deadline_s = deadline_s
        self._recognizers: dict[str, tuple[PolicyRecognizer, ...]] = {}
        self.budgets = budgets or BudgetKeeper()
        self._tokens = tokens or TokenCounter()
        self.resilience = resilience or Resilience()  # rate limits, breakers, retries, backpressure
        self._pseudonym_key = pseudonym_key or PseudonymKey.random()

    async def handle(
        self, raw: bytes, principal: Principal, cache_control: str = "", *, request_id: str | None = None
    ) -> Outcome:
        request_id = request_id or new_request_id()
        record = _Record(request_id, principal, time.perf_counter())
        loaded: LoadedPolicy = self._policy.current
        try:
            return await self._handle(raw, principal, cache_control, record, loaded)
        except GatewayError as error:
            error.headers.setdefault("x-request-id", request_id)
            if record.row:  # accepted: the ledger keeps it
                self._finish(record, outcome=error.code, status=error.status, error_code=error.code)
            raise
        except Exception:
            # A bug, not a client error: the client gets a generic 500, the
            # accepted request still gets its ledger row.
            if record.row:
                self._finish(record, outcome="internal_error", status=500, error_code="internal_error")
            raise

    async def _handle(
        self, raw: bytes, principal: Principal, cache_control: str, record: _Record, loaded: LoadedPolicy
    ) -> Outcome:
        with self._telemetry.stage("parse"):
            request = self._parse(raw)
            outbound = Outbound.of(request)  # what may leave: classified as built, sent as classified
        policy = loaded.policy
        if request.model not in policy.models or not principal.may_use(request.model):
            raise ModelNotFound("The requested model does not exist or is not available to this key.",
                                param="model")

        estimated_tokens = estimate_input_tokens(outbound.messages)
        await self.resilience.limits.admit(principal.key_id, principal.team, estimated_tokens)  # 429 before work

        with self._telemetry.stage("classify"):
            classification = await self._classify(outbound, loaded)
        circuits, open_circuits = await self.resilience.circuits(policy.targets)
        facts = Facts(
            model=request.model,
            entity_types=classification.entity_types,
            classifier_error=classification.error,
            team=principal.team,
            estimated_input_tokens=estimated_tokens,
            unavailable={**open_circuits, **self._targets.unavailable(policy)},
            needs=needs_of(outbound.messages, outbound.params),
        )
        with self._telemetry.stage("decide"):
            decision = decide(policy, facts)
        transformed: Transformed | None = None
        if decision.transform_wanted:  # the route pseudonymises for targets the level excludes
            with self._telemetry.stage("transform"):
                facts, decision, transformed = await with_transform(
                    policy, facts, decision, outbound, classification,
                    lambda texts: self._classify_texts(texts, loaded), self._pseudonym_key, principal.team,
                )  # fmt: skip
            record.transform = transformed
        facts, decision = await self._budget(record, request, outbound, policy, facts, decision)
        self._start_record(record, request, loaded, facts, decision)

        if decision.deny is not None:
            error_type = BudgetExceeded if decision.deny_code == "budget_exceeded" else PolicyDenied
            raise error_type(decision.deny)
        if decision.unserved is not None:  # what it asks (tools, images...), no permitted target can do
            raise InvalidRequest(decision.unserved)
        if not decision.targets:
            raise NoTargetAvailable("No target that may receive this request is available. Nothing was sent.")

        call = outbound.call(deadline_s=decision.deadline_s or self._deadline_s, request_id=record.request_id)
        record.messages = call.messages
        # With a transform in play the cache sees the pseudonymised content only: its key, and the
        # answers it keeps (from the targets that got that content, placeholders unrestored).
        keyed = call if transformed is None else transformed.outbound.call(deadline_s=1, request_id="")
        key = self._cache_key(decision, loaded, principal, request, keyed, cache_control)
        if key is not None and "no-cache" not in cache_control:
            with self._telemetry.stage("cache"):
                found = await self.cache.lookup(key)
            if found.answer is not None and found.answer.target in policy.targets:
                cached = found.answer
                if transformed is not None:
                    cached = dataclasses.replace(cached, completion=AnswerRestorer(transformed.result.vault).completion(
                        cached.completion))
                return self._answer_from_cache(record, request, decision, loaded, cached)
            if found.status == "skip":  # the store is failing: neither read nor write it
                key = None
        record.row["cache_status"] = "miss" if key is not None else "skip"

        adapters = self._telemetry.traced(self._targets.adapters, policy)
        chain = TargetChain(
            policy, decision.level, decision.targets, adapters, self.resilience, circuits,
            outbound=outbound, transformed=transformed,
        )  # fmt: skip
        if request.stream:
            store_key = None if "no-store" in cache_control or transformed is not None else key
            return await self._stream(record, request, decision, loaded, chain, call, store_key)
        try:
            with self._telemetry.stage("adapter"):
                completion = await chain.complete(call)  # the chain keeps the deadline: 504 when it passes
        finally:
            self._note_attempts(record, chain)
        assert chain.answered_by is not None
        pseudonymised = transformed is not None and chain.answered_by in transformed.targets
        if key is not None and "no-store" not in cache_control and decision.cache is not None and (
            transformed is None or pseudonymised
        ):
            await self.cache.store(key, CachedAnswer(chain.answered_by, completion), decision.cache.ttl_s)
        usage = await self._usage_off_loop(  # what the target produced (and bills): placeholders included
            record, chain.answered_by, completion.usage, completion.content, completion.tool_calls
        )
        if pseudonymised:
            assert transformed is not None
            completion = AnswerRestorer(transformed.result.vault).completion(completion)
        cost = self._settle(record, loaded, chain.answered_by, usage)
        headers = self._headers(record, decision, loaded, chain.answered_by, chain.failed_attempts)
        headers["x-gateway-cost-usd"] = f"{cost:.8f}"
        self._finish(record, outcome="ok", status=200)
        body = completion_body(record.request_id, request.model, completion, legacy_functions=request.legacy_functions)
        return Outcome(headers, body=body)

    # -- stages --------------------------------------------------------------

    def _parse(self, raw: bytes) -> ChatCompletionRequest:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest("The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        messages = payload.get("messages")
        if isinstance(messages, list) and len(messages) > self._max_messages:
            raise PayloadTooLarge(f"At most {self._max_messages} messages are accepted.", param="messages")
        try:
            return ChatCompletionRequest.model_validate(payload)
        except ValidationError as exc:
            message, param = describe_validation_error(exc, payload)
            raise InvalidRequest(message, param=param) from None

    async def _classify(self, outbound: Outbound, loaded: LoadedPolicy) -> Classification:
        if not loaded.reads_content:  # nothing in the request can change the decision or the record
            return Classification()
        texts, unscannable = outbound.texts()
        if unscannable:
            return Classification(error="unscannable_content")
        return await self._classify_texts(texts, loaded)

    async def _classify_texts(self, texts: Sequence[str], loaded: LoadedPolicy) -> Classification:
        c = loaded.policy.classification
        recognizers = self._recognizers.get(loaded.version)
        if recognizers is None:
            recognizers = self._recognizers[loaded.version] = recognizers_of(loaded.policy)
        try:
            return await self.classifier.classify(
                texts, recognizers=recognizers, min_score=c.min_score, entities=loaded.detects
            )
        except Exception:
            log.exception("classifier raised; applying on_error level")
            return Classification(error="exception")

    def _cache_key(
        self,
        decision: Decision,
        loaded: LoadedPolicy,
        principal: Principal,
        request: ChatCompletionRequest,
        call: ModelCall,
        cache_control: str,
    ) -> str | None:
        settings = decision.cache
        if settings is None or not decision.cache_allowed or decision.route is None:
            return None
        if "no-cache" in cache_control and "no-store" in cache_control:
            return None
        if not settings.nondeterministic and not deterministic(call.params):
            return None
        policy = loaded.policy
        route = next(r for r in policy.routes if r.name == decision.route)
        return self.cache.key(
            scope=scope_for(settings.scope, team=principal.team, level=decision.level, lowest_level=policy.levels[0]),
            policy_version=loaded.version,
            route=decision.route,
            targets=route.targets or (),  # as configured: a target going down does not empty the cache
            level=decision.level,
            model=request.model,
            messages=call.messages,
            params=call.params,
        )

    def _answer_from_cache(
        self,
        record: _Record,
        request: ChatCompletionRequest,
        decision: Decision,
        loaded: LoadedPolicy,
        cached: CachedAnswer,
    ) -> Outcome:
        record.row["cache_status"] = "hit"
        target = loaded.policy.targets.get(cached.target)
        record.row.update(target=cached.target, residency=target.residency if target else None)
        self._note_transform(record, cached.target)
        headers = self._headers(record, decision, loaded, cached.target, 0)
        headers["x-gateway-cost-usd"] = "0.00000000"
        # The same columns as an answered row (one shape for every ledger batch), then: it cost
        # nothing, and saved what the cached usage costs at the original target's prices.
        charged = charge(
            self._pricer, loaded.policy.targets[cached.target], cached.completion.usage, "cache",
            loaded.policy.reference_model,
        )  # fmt: skip
        record.row.update(target_model=loaded.policy.targets[cached.target].model, **charged.row())
        record.row.update(cost_usd=Decimal(0), cache_saved_usd=charged.cost)
        self._finish(record, outcome="ok", status=200)
        if request.stream:
            return Outcome(headers, stream=_replay(record.request_id, request, cached.completion))
        return Outcome(headers, body=completion_body(
            record.request_id, request.model, cached.completion, legacy_functions=request.legacy_functions))

    async def _stream(
        self,
        record: _Record,
        request: ChatCompletionRequest,
        decision: Decision,
        loaded: LoadedPolicy,
        chain: TargetChain,
        call: ModelCall,
        key: str | None,
    ) -> Outcome:
        chunks = chain.stream(call)
        transformed = record.transform
        if transformed is not None:  # the targets that got the pseudonymised content answer with placeholders
            chunks = restored(chunks, lambda: AnswerRestorer(transformed.result.vault)
                              if chain.answered_by in transformed.targets else None)  # fmt: skip
        try:
            with self._telemetry.stage("adapter"):  # a stream's adapter stage ends at its first chunk
                first = await anext(chunks)  # the chain keeps the deadline, until the stream's last chunk
        except BaseException:
            self._note_attempts(record, chain)
            await chunks.aclose()  # type: ignore[attr-defined]
            raise
        assert chain.answered_by is not None
        headers = self._headers(record, decision, loaded, chain.answered_by, chain.failed_attempts)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        body = self._sse(record, request, loaded, chain, chunks, first, include_usage, key, decision)
        return Outcome(headers, stream=body)

    async def _sse(
        self,
        record: _Record,
        request: ChatCompletionRequest,
        loaded: LoadedPolicy,
        chain: TargetChain,
        chunks: AsyncIterator[Chunk],
        first: Chunk,
        include_usage: bool,
        key: str | None,
        decision: Decision,
    ) -> AsyncIterator[bytes]:
        created = int(time.time())
        rid, model, legacy = record.request_id, request.model, request.legacy_functions
        # The answer is never held whole: text past AnswerTally's bounds is counted off the loop and let go.
        answering = loaded.policy.targets.get(chain.answered_by or "")
        tally = AnswerTally(self._tokens, answering.model if answering else "")
        tool_calls = ToolCallParts()  # kept while the answer is short enough to cache
        usage: Usage | None = None
        finish: str | None = None
        outcome, status, error_code = "client_disconnected", 499, None
        try:
            yield _sse_line(chunk_body(rid, model, created, delta={"role": "assistant", "content": ""}))
            chunk: Chunk | None = first
            while chunk is not None:
                if chunk.content or chunk.tool_calls or chunk.extras:
                    delta: dict[str, Any] = {}
                    if chunk.content:
                        tally.add(chunk.content)
                        delta["content"] = chunk.content
                    if chunk.tool_calls:
                        delta["tool_calls"] = chunk.tool_calls
                        for call_delta in chunk.tool_calls:
                            tally.add(tool_call_text(call_delta), content=False)
                            if tally.text is not None:
                                tool_calls.add(call_delta)
                    if tally.due:
                        await tally.count_due()
                    more = chunk.extras
                    yield _sse_line(chunk_body(rid, model, created, delta=delta, extras=more, legacy_functions=legacy))
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason:
                    finish = chunk.finish_reason
                chunk = await anext(chunks, None)
            yield _sse_line(chunk_body(rid, model, created, finish_reason=finish or "stop", legacy_functions=legacy))
            usage = await self._usage_off_loop(record, chain.answered_by, usage, tally.pending, (), tally.counted)
            if include_usage:
                yield _sse_line(chunk_body(rid, model, created, usage=usage, with_choice=False))
            yield b"data: [DONE]\n\n"
            outcome, status = "ok", 200
            # Only a stream that ran to its end with a finish reason is cached; a cut
            # or failed one raised above, a client that left stopped us at a yield.
            kept = tally.text  # None: too long to cache
            if key is not None and decision.cache is not None and chain.answered_by is not None and finish and (
                kept is not None
            ):
                text = kept if kept or not tool_calls else None
                answer = Completion(text, finish, usage, tool_calls.calls() or None)
                await self.cache.store(key, CachedAnswer(chain.answered_by, answer), decision.cache.ttl_s)
        except GatewayError as error:
            outcome, status, error_code = "stream_interrupted", error.status, error.code
            yield _sse_line(error.body())
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            self._note_attempts(record, chain)
            cancelled: asyncio.CancelledError | None = None
            try:
                produced = await self._usage_off_loop(
                    record, chain.answered_by, usage, tally.pending, (), tally.counted
                )
            except asyncio.CancelledError as exc:  # going away while counting: count here, keep the record
                cancelled = exc
                produced = self._usage(record, chain.answered_by, usage, tally.pending, (), tally.counted)
            if chain.answered_by is not None:
                self._settle(record, loaded, chain.answered_by, produced)
            self._finish(record, outcome=outcome, status=status, error_code=error_code)
            if cancelled is not None:
                raise cancelled

    # -- the record ------------------------------------------------------------

    def _start_record(
        self, record: _Record, request: ChatCompletionRequest, loaded: LoadedPolicy, facts: Facts, decision: Decision
    ) -> None:
        record.row.update(
            request_id=record.request_id,
            ts=datetime.now(UTC),
            key_id=record.principal.key_id,
            team=record.principal.team,
            model=request.model,
            tier=decision.tier,
            level=decision.level,
            entity_types=",".join(sorted(facts.entity_types)),
            classifier_error=facts.classifier_error,
            route=decision.route,
            policy_version=loaded.version,
            estimated_input_tokens=facts.estimated_input_tokens,
            stream=request.stream,
            cache_status="skip",
            cache_saved_usd=None,
            attempts=0,
            attempt_log="",
        )

    def _note_attempts(self, record: _Record, chain: TargetChain) -> None:
        record.attempts = list(chain.attempts)
        record.row["attempts"] = len(chain.attempts)
        record.row["attempt_log"] = " ".join(a.summary() for a in chain.attempts)
        self._note_transform(record, chain.answered_by)
        if chain.answered_by is not None:
            target = self._policy.current.policy.targets.get(chain.answered_by)
            record.row["target"] = chain.answered_by
            record.row["residency"] = target.residency if target is not None else None

    def _note_transform(self, record: _Record, target: str | None) -> None:
        """Types and counts of the values replaced, when ``target`` got the pseudonymised request."""
        if record.transform is not None and target in record.transform.targets:
            counts = record.transform.result.counts
            record.row["transform"] = "pseudonymize:" + ",".join(f"{t}={n}" for t, n in sorted(counts.items()))

    async def _budget(
        self,
        record: _Record,
        request: ChatCompletionRequest,
        outbound: Outbound,
        policy: Policy,
        facts: Facts,
        decision: Decision,
    ) -> tuple[Facts, Decision]:
        """Before any call: reserve the request's estimated cost on its team's budget
        (``gateway/budget.py``); over budget, decide again with ``over_budget``."""
        if decision.deny is not None or not decision.targets or not any(b.team == facts.team for b in policy.budgets):
            return facts, decision
        targets = [policy.targets[name] for name in decision.targets]
        max_output = request.max_completion_tokens or request.max_tokens
        estimate = estimate_request(self._pricer, self._tokens, targets, outbound.messages, max_output)
        record.admission = await self.budgets.admit(policy, facts.team, estimate)
        if not record.admission.over:
            return facts, decision
        facts = dataclasses.replace(facts, over_budget=True)
        return facts, decide(policy, facts)

    def _usage(
        self,
        record: _Record,
        target_name: str | None,
        reported: Usage | None,
        text: str | None,
        tool_calls: Iterable[Mapping[str, Any]] | None,
        counted: int = 0,
    ) -> Usage:
        """The upstream's usage report; without one (some streams, a client that left
        before it came), the prompt and what was produced, counted with the model's tokenizer.
        ``counted``: completion tokens of text already counted (``AnswerTally``), not in ``text``."""
        if reported is not None and reported.total_tokens > 0:
            return reported
        target = self._policy.current.policy.targets.get(target_name or "")
        record.row["usage_source"] = "counted"
        usage = self._tokens.usage(target.model if target else "", record.messages, text or "", tool_calls or ())
        return dataclasses.replace(usage, completion_tokens=usage.completion_tokens + counted) if counted else usage

    async def _usage_off_loop(
        self,
        record: _Record,
        target_name: str | None,
        reported: Usage | None,
        text: str | None,
        tool_calls: Iterable[Mapping[str, Any]] | None,
        counted: int = 0,
    ) -> Usage:
        """``_usage``, counting in a worker thread: a long prompt or answer costs ~0.1 s of CPU per MB."""
        if reported is not None and reported.total_tokens > 0:
            return reported
        calls = list(tool_calls or ())
        return await asyncio.to_thread(self._usage, record, target_name, reported, text, calls, counted)

    def _settle(self, record: _Record, loaded: LoadedPolicy, target_name: str, usage: Usage) -> Decimal:
        """Price the answering target's usage (``gateway/ledger/charge.py``) onto the row."""
        target = loaded.policy.targets[target_name]
        source: UsageSource = "counted" if record.row.get("usage_source") == "counted" else "upstream"
        charged = charge(self._pricer, target, usage, source, loaded.policy.reference_model)
        record.row.update(target_model=target.model, **charged.row())
        return charged.cost

    def _finish(self, record: _Record, *, outcome: str, status: int, error_code: str | None = None) -> None:
        record.row.update(
            outcome=outcome,
            status_code=status,
            error_code=error_code,
            latency_ms=(time.perf_counter() - record.started) * 1000,
        )
        self.budgets.settle(record.admission, record.row.get("cost_usd") or Decimal(0))
        used = int(record.row.get("prompt_tokens") or 0) + int(record.row.get("completion_tokens") or 0)
        self.resilience.limits.charge(  # tokens beyond the estimate admitted: counted against the rate limit
            record.principal.key_id, record.principal.team, used - int(record.row.get("estimated_input_tokens") or 0)
        )
        self._telemetry.annotate(record.row, record.attempts)
        with self._telemetry.stage("ledger"):
            self._ledger.record(dict(record.row))
            for observe in self._observers:
                try:
                    observe(record.row, record.attempts)
                except Exception:  # evidence must never break an answer; logged loudly
                    log.exception("a request observer failed (metrics or audit)")

    def _headers(
        self, record: _Record, decision: Decision, loaded: LoadedPolicy, target: str, fallbacks: int
    ) -> dict[str, str]:
        headers = {
            "x-request-id": record.request_id,
            "x-gateway-level": decision.level,
            "x-gateway-route": decision.route or "",
            "x-gateway-target": target,
            "x-gateway-residency": loaded.policy.targets[target].residency,
            "x-gateway-policy": loaded.version,
            "x-gateway-cache": record.row.get("cache_status", "skip"),
            "x-gateway-fallbacks": str(fallbacks),
        }
        if record.transform is not None and target in record.transform.targets:
            counts = ", ".join(f"{entity}={n}" for entity, n in sorted(record.transform.result.counts.items()))
            headers["x-gateway-transform"] = f"pseudonymize; {counts}"
        return headers


async def _replay(request_id: str, request: ChatCompletionRequest, completion: Completion) -> AsyncIterator[bytes]:
    created = int(time.time())
    yield _sse_line(chunk_body(request_id, request.model, created, delta={"role": "assistant", "content": ""}))
    if completion.content:
        yield _sse_line(chunk_body(request_id, request.model, created, delta={"content": completion.content}))
    if completion.tool_calls:
        deltas = [{"index": i, **call} for i, call in enumerate(completion.tool_calls)]
        yield _sse_line(chunk_body(request_id, request.model, created, delta={"tool_calls": deltas},
                                   legacy_functions=request.legacy_functions))
    yield _sse_line(chunk_body(request_id, request.model, created, finish_reason=completion.finish_reason,
                               legacy_functions=request.legacy_functions))
    if request.stream_options and request.stream_options.include_usage:
        yield _sse_line(chunk_body(request_id, request.model, created, usage=completion.usage, with_choice=False))
    yield b"data: [DONE]\n\n"


def _sse_line(body: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"
