"""The request path, in one straight function.

    request -> auth -> rate limit -> classify -> decide -> cache -> call target
            (retries, fallbacks, breakers, invariant) -> ledger + audit -> response

``ChatService.serve`` is that path for a validated ``ChatCompletionRequest``;
``handle`` parses the Chat Completions body first. Authentication happens at
the HTTP edge (``gateway/http/``); everything after it is here. Every accepted
request leaves one ``RequestRecord`` (``gateway/record.py``), whatever happens
to it (``bookkeeping.py``). Each stage is a span (``gateway/telemetry.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.base import ModelCall
from gateway.body import json_object, validated
from gateway.cache import CachedAnswer, deterministic, scope_for
from gateway.classify.base import Classification, PolicyRecognizer
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
from gateway.ledger.charge import estimate_request
from gateway.logs import new_request_id
from gateway.outbound import Outbound
from gateway.policy.capabilities import needs_of
from gateway.policy.engine import Decision, Facts, decide, estimate_input_tokens
from gateway.policy.explain import recognizers_of
from gateway.policy.loader import LoadedPolicy
from gateway.policy.model import Policy
from gateway.protocol import ChatCompletionRequest
from gateway.pseudonymize.answer import AnswerRestorer, restored
from gateway.pseudonymize.plan import Transformed, with_transform
from gateway.record import Api
from gateway.serving.bookkeeping import Bookkeeper, InFlight
from gateway.serving.services import Services
from gateway.serving.streaming import StreamPlan, relay, replay
from gateway.serving.wire import ChatWire, Outcome, Wire, WireFor

log = logging.getLogger("gateway.serving")


class ChatService:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._book = Bookkeeper(services)
        self._recognizers: dict[str, tuple[PolicyRecognizer, ...]] = {}

    async def handle(
        self, raw: bytes, principal: Principal, cache_control: str = "", *, request_id: str | None = None
    ) -> Outcome:
        """A Chat Completions request body, answered in Chat Completions' shapes."""
        started = time.perf_counter()  # the request's latency includes its parse
        request_id = request_id or new_request_id()
        try:
            with self.services.telemetry.stage("parse"):
                request = self.parse(raw)
        except GatewayError as error:
            error.headers.setdefault("x-request-id", request_id)
            raise
        return await self._run(request, principal, cache_control, "chat", ChatWire, request_id, started)

    async def serve(
        self,
        request: ChatCompletionRequest,
        principal: Principal,
        cache_control: str = "",
        *,
        api: Api = "chat",
        wire: WireFor = ChatWire,
        request_id: str | None = None,
    ) -> Outcome:
        """The path for an already validated request (another API's front door translates its own
        request into this one): classify, decide, call, record. Errors are ``GatewayError``s for the
        front door to render in its own shape; the answer is written by ``wire``."""
        started = time.perf_counter()
        return await self._run(request, principal, cache_control, api, wire, request_id or new_request_id(), started)

    async def _run(
        self,
        request: ChatCompletionRequest,
        principal: Principal,
        cache_control: str,
        api: Api,
        wire: WireFor,
        request_id: str,
        started: float,
    ) -> Outcome:
        flight = InFlight(request_id, principal, api, self.services.policy.current, started)
        return await self._book.accounted(
            flight, lambda: self._serve(request, cache_control, flight, wire(request_id, request))
        )

    async def _serve(self, request: ChatCompletionRequest, cache_control: str, flight: InFlight, wire: Wire) -> Outcome:
        s, loaded, principal = self.services, flight.loaded, flight.principal
        outbound = Outbound.of(request)  # what may leave: classified as built, sent as classified
        policy = loaded.policy
        if request.model not in policy.models or not principal.may_use(request.model):
            raise ModelNotFound("The requested model does not exist or is not available to this key.", param="model")

        estimated_tokens = estimate_input_tokens(outbound.messages)
        await s.resilience.limits.admit(principal.key_id, principal.team, estimated_tokens)  # 429 before work

        with s.telemetry.stage("classify"):
            classification = await self._classify(outbound, loaded)
        circuits, open_circuits = await s.resilience.circuits(policy.targets)
        facts = Facts(
            model=request.model,
            entity_types=classification.entity_types,
            classifier_error=classification.error,
            team=principal.team,
            estimated_input_tokens=estimated_tokens,
            unavailable={**open_circuits, **s.targets.unavailable(policy)},
            needs=needs_of(outbound.messages, outbound.params),
            api=flight.api,  # routes may match on it (``when.api``)
        )
        with s.telemetry.stage("decide"):
            decision = decide(policy, facts)
        transformed: Transformed | None = None
        if decision.transform_wanted:  # the route pseudonymises for targets the level excludes
            with s.telemetry.stage("transform"):
                facts, decision, transformed = await with_transform(
                    policy, facts, decision, outbound, classification,
                    lambda texts: self._classify_texts(texts, loaded), s.pseudonym_key, principal.team,
                )  # fmt: skip
            flight.transform = transformed
        facts, decision = await self._budget(flight, request, outbound, policy, facts, decision)
        flight.draft = self._book.draft(flight, request.model, request.stream, facts, decision)

        if decision.deny is not None:
            error_type = BudgetExceeded if decision.deny_code == "budget_exceeded" else PolicyDenied
            raise error_type(decision.deny)
        if decision.unserved is not None:  # what it asks (tools, images...), no permitted target can do
            raise InvalidRequest(decision.unserved)
        if not decision.targets:
            raise NoTargetAvailable("No target that may receive this request is available. Nothing was sent.")

        call = outbound.call(deadline_s=decision.deadline_s or s.limits.deadline_s, request_id=flight.request_id)
        flight.messages = call.messages
        # With a transform in play the cache sees the pseudonymised content only: its key, and the
        # answers it keeps (from the targets that got that content, placeholders unrestored).
        keyed = call if transformed is None else transformed.outbound.call(deadline_s=1, request_id="")
        key = self._cache_key(decision, loaded, principal, request, keyed, cache_control)
        if key is not None and "no-cache" not in cache_control:
            with s.telemetry.stage("cache"):
                found = await s.cache.lookup(key)
            if found.answer is not None and found.answer.target in policy.targets:
                cached = found.answer
                if transformed is not None:
                    cached = dataclasses.replace(
                        cached, completion=AnswerRestorer(transformed.result.vault).completion(cached.completion)
                    )
                return self._answer_from_cache(flight, request, decision, cached, wire)
            if found.status == "skip":  # the store is failing: neither read nor write it
                key = None
        flight.record.cache_status = "miss" if key is not None else "skip"

        adapters = s.telemetry.traced(s.targets.adapters, policy)
        chain = TargetChain(
            policy, decision.level, decision.targets, adapters, s.resilience, circuits,
            outbound=outbound, transformed=transformed,
        )  # fmt: skip
        if request.stream:
            store_key = None if "no-store" in cache_control or transformed is not None else key
            return await self._stream(flight, decision, chain, call, store_key, wire)
        with s.telemetry.stage("adapter"):
            dispatched = await chain.complete(call)  # the chain keeps the deadline: 504 when it passes
            self._book.note_dispatch(flight, dispatched)
            completion = dispatched.answer()
        answered_by = dispatched.target
        assert answered_by is not None
        pseudonymised = transformed is not None and answered_by in transformed.targets
        if (
            key is not None
            and "no-store" not in cache_control
            and decision.cache is not None
            and (transformed is None or pseudonymised)
        ):
            await s.cache.store(key, CachedAnswer(answered_by, completion), decision.cache.ttl_s)
        usage = await self._book.usage_off_loop(  # what the target produced (and bills): placeholders included
            flight, answered_by, completion.usage, completion.content, completion.tool_calls
        )
        if pseudonymised:
            assert transformed is not None
            completion = AnswerRestorer(transformed.result.vault).completion(completion)
        cost = self._book.settle(flight, answered_by, usage)
        headers = self._book.headers(flight, decision, answered_by, dispatched.failed_attempts)
        headers["x-gateway-cost-usd"] = f"{cost:.8f}"
        self._book.finish(flight, outcome="ok", status=200)
        return Outcome(headers, body=wire.body(completion))

    # -- stages --------------------------------------------------------------

    def parse(self, raw: bytes) -> ChatCompletionRequest:
        """A Chat Completions body, validated: 400 (or 413 for too many messages) when it is not one."""
        payload = json_object(raw)
        messages = payload.get("messages")
        limit = self.services.limits.max_messages
        if isinstance(messages, list) and len(messages) > limit:
            raise PayloadTooLarge(f"At most {limit} messages are accepted.", param="messages")
        return validated(ChatCompletionRequest, payload)

    async def classify(self, outbound: Outbound, loaded: LoadedPolicy) -> Classification:
        """What ``outbound`` carries, classified as this path does (``serving/embeddings.py`` reuses it)."""
        return await self._classify(outbound, loaded)

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
            return await self.services.classifier.classify(
                texts, recognizers=recognizers, min_score=c.min_score, entities=loaded.detects
            )
        except Exception:
            log.exception("classifier raised; applying on_error level")
            return Classification(error="exception")

    async def _budget(
        self,
        flight: InFlight,
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
        s = self.services
        targets = [policy.targets[name] for name in decision.targets]
        max_output = request.max_completion_tokens or request.max_tokens
        estimate = estimate_request(s.pricer, s.tokens, targets, outbound.messages, max_output)
        flight.admission = await s.budgets.admit(policy, facts.team, estimate)
        if not flight.admission.over:
            return facts, decision
        facts = dataclasses.replace(facts, over_budget=True)
        return facts, decide(policy, facts)

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
        if settings is not None and not settings.nondeterministic and not deterministic(call.params):
            return None
        return answer_key(self.services, decision, loaded, principal, request.model, call.messages, call.params,
                          cache_control)  # fmt: skip

    def _answer_from_cache(
        self, flight: InFlight, request: ChatCompletionRequest, decision: Decision, cached: CachedAnswer, wire: Wire
    ) -> Outcome:
        self._book.cached(flight, cached.target, cached.completion.usage)
        headers = self._book.headers(flight, decision, cached.target, 0)
        headers["x-gateway-cost-usd"] = "0.00000000"
        self._book.finish(flight, outcome="ok", status=200)
        if request.stream:
            return Outcome(headers, stream=replay(wire, cached.completion))
        return Outcome(headers, body=wire.body(cached.completion))

    async def _stream(
        self, flight: InFlight, decision: Decision, chain: TargetChain, call: ModelCall, key: str | None, wire: Wire
    ) -> Outcome:
        with self.services.telemetry.stage("adapter"):  # a stream's adapter stage ends at its first chunk
            dispatched = await chain.open_stream(call)  # the chain keeps the deadline, until the last chunk
            if dispatched.stream is None:
                self._book.note_dispatch(flight, dispatched)
            chunks = dispatched.chunks()
            transformed = flight.transform
            if transformed is not None and dispatched.target in transformed.targets:
                # the targets that got the pseudonymised content answer with placeholders
                chunks = restored(chunks, lambda: AnswerRestorer(transformed.result.vault))
            try:
                first = await anext(chunks)
            except BaseException:
                self._book.note_dispatch(flight, dispatched)
                await chunks.aclose()  # type: ignore[attr-defined]
                raise
        assert dispatched.target is not None
        headers = self._book.headers(flight, decision, dispatched.target, dispatched.failed_attempts)
        plan = StreamPlan(dispatched, chunks, first, decision, key)
        return Outcome(headers, stream=relay(self.services, self._book, flight, wire, plan))


def answer_key(
    services: Services,
    decision: Decision,
    loaded: LoadedPolicy,
    principal: Principal,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    cache_control: str,
) -> str | None:
    """The cache key of an answer (any API's): ``None`` when the route caches nothing at this level or
    the client asked for neither read nor write; else within the route's scope, level and policy version
    (``gateway/cache/keys.py``), over the route's configured targets (a target going down does not empty it)."""
    settings = decision.cache
    if settings is None or not decision.cache_allowed or decision.route is None:
        return None
    if "no-cache" in cache_control and "no-store" in cache_control:
        return None
    policy = loaded.policy
    route = next(r for r in policy.routes if r.name == decision.route)
    return services.cache.key(
        scope=scope_for(settings.scope, team=principal.team, level=decision.level, lowest_level=policy.levels[0]),
        policy_version=loaded.version,
        route=decision.route,
        targets=route.targets or (),
        level=decision.level,
        model=model,
        messages=messages,
        params=params,
    )
