"""``POST /v1/embeddings`` on the one path: the chat path's stages, with an embedding call.

    request -> auth -> rate limit -> classify -> decide -> cache -> embed
            (retries, fallbacks, breakers, invariant) -> ledger + audit -> response

Every stage but the call is the chat path's own: ``ChatService.classify`` (each
input is one text, ``gateway/classify/extract.py``), ``decide`` with
``Facts.api = "embeddings"`` (only targets whose ``task`` is ``embeddings`` are
candidates, ``gateway/policy/engine.py``), the team budget, the rate limit, the
cache's keys and sealing, and the ``Bookkeeper``: one ``RequestRecord`` per
accepted request (``asked.api == "embeddings"``), its headers, charge, ledger
row and audit record. The call goes through ``EmbeddingChain``: the
``TargetChain`` with an embedding step, behind the same guard before every
attempt (the call must be the sealed content; the target's ``max_level`` must
admit the level), the same retries, fallbacks, breakers and bulkheads.

Not offered for embeddings: a route's ``transform`` (vectors of a pseudonymised
text would be vectors of placeholders: a target the level excludes stays
excluded), and streaming (the API has none).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from adapters.base import ModelCall, Usage
from adapters.embeddings import EmbeddingAdapter, EmbeddingCall, Embeddings
from gateway.apis.embeddings import TOKEN_ENCODING, EmbeddingsRequest, embeddings_body, parse_request
from gateway.cache import CachedEmbeddings
from gateway.dispatch import Attempt, Dispatched, TargetChain
from gateway.errors import (
    BudgetExceeded,
    ModelNotFound,
    ModelNotSupported,
    NoTargetAvailable,
    PolicyDenied,
    UpstreamError,
)
from gateway.keys import Principal
from gateway.ledger.charge import estimate
from gateway.logs import new_request_id
from gateway.outbound import Outbound
from gateway.policy.engine import Decision, Facts, decide, estimate_input_tokens
from gateway.policy.loader import LoadedPolicy
from gateway.serving.bookkeeping import Bookkeeper, InFlight
from gateway.serving.path import ChatService, answer_key
from gateway.serving.wire import Outcome


class EmbeddingChain(TargetChain):
    """``TargetChain`` with an embedding step; every attempt passes the chain's own checks (``_admit``)."""

    async def embed(self, call: ModelCall) -> tuple[Dispatched, Embeddings | None]:
        """The first permitted target's vectors, and the attempts; ``Dispatched.error`` when none answered."""
        self._begin(call)
        try:
            for name in self._targets:
                embeddings = await self._try_target(name, self._embed_once, call)
                if embeddings is not None:
                    return Dispatched(tuple(self._attempts), name), embeddings
                if self._expired:
                    break
            error: Exception = self._exhausted()
        except Exception as exc:  # noqa: BLE001  a bug: the attempts made so far still reach the record
            error = exc
        return Dispatched(tuple(self._attempts), error=error), None

    async def _embed_once(self, name: str, call: ModelCall) -> Embeddings:
        target = await self._admit(name, call)  # the invariant and the seal, the deadline, the breaker
        adapter = self._adapters[name]
        if not isinstance(adapter, EmbeddingAdapter):  # the decision never offers one: fail closed all the same
            raise UpstreamError(f"target {name} cannot embed", retryable=False)
        async with self._res.bulkheads.slot(name, target.max_in_flight, wait_s=self._remaining()):
            started = time.perf_counter()
            try:
                embeddings = await adapter.embed(EmbeddingCall.of(self._call_for(target, call)))
            except UpstreamError as error:
                await self._failed(name, error, started)
                raise
        self._attempts.append(Attempt(name, target.residency, "ok", None, (time.perf_counter() - started) * 1000))
        await self._succeeded(name)
        return embeddings


class EmbeddingsService:
    """``POST /v1/embeddings`` on the chat path's stages (see the module docstring)."""

    def __init__(self, chat: ChatService) -> None:
        self._chat = chat
        self._s = chat.services
        self._book = Bookkeeper(chat.services)

    async def handle(
        self, raw: bytes, principal: Principal, cache_control: str = "", *, request_id: str | None = None
    ) -> Outcome:
        request_id = request_id or new_request_id()
        flight = InFlight(request_id, principal, "embeddings", self._s.policy.current, time.perf_counter())
        return await self._book.accounted(flight, lambda: self._serve(raw, cache_control, flight))

    async def _serve(self, raw: bytes, cache_control: str, flight: InFlight) -> Outcome:
        s, loaded, principal = self._s, flight.loaded, flight.principal
        with s.telemetry.stage("parse"):
            request = parse_request(raw)
            texts = (
                request.texts(s.tokens.encoding(TOKEN_ENCODING).decode)
                if request.tokenized
                else request.texts(_no_tokens)
            )
            outbound = request.outbound(texts)  # what may leave: classified as built, sent as classified
        policy = loaded.policy
        if request.model not in policy.models or not principal.may_use(request.model):
            raise ModelNotFound("The requested model does not exist or is not available to this key.", param="model")

        estimated_tokens = estimate_input_tokens(texts)
        await s.resilience.limits.admit(principal.key_id, principal.team, estimated_tokens)  # 429 before work

        with s.telemetry.stage("classify"):
            classification = await self._chat.classify(outbound, loaded)  # each input is one text
        circuits, open_circuits = await s.resilience.circuits(policy.targets)
        facts = Facts(
            model=request.model,
            entity_types=classification.entity_types,
            classifier_error=classification.error,
            team=principal.team,
            estimated_input_tokens=estimated_tokens,
            unavailable={**open_circuits, **s.targets.unavailable(policy)},
            api="embeddings",
        )
        with s.telemetry.stage("decide"):
            decision = decide(policy, facts)
        facts, decision = await self._budget(flight, texts, facts, decision)
        flight.draft = self._book.draft(flight, request.model, False, facts, decision)

        if decision.deny is not None:
            error_type = BudgetExceeded if decision.deny_code == "budget_exceeded" else PolicyDenied
            raise error_type(decision.deny)
        if not decision.targets:
            if decision.excluded and all(e.reason == "api" for e in decision.excluded):
                raise ModelNotSupported(
                    f"The model {request.model!r} offers no embeddings under this gateway's policy (route "
                    f"{decision.route!r} has no embedding model). Nothing was sent.", param="model",
                )  # fmt: skip
            raise NoTargetAvailable("No target that may receive this request is available. Nothing was sent.")

        call = outbound.call(deadline_s=decision.deadline_s or s.limits.deadline_s, request_id=flight.request_id)
        key = self._cache_key(decision, loaded, principal, request, outbound, cache_control)
        if key is not None and "no-cache" not in cache_control:
            with s.telemetry.stage("cache"):
                status, cached = await s.cache.lookup_embeddings(key)
            if cached is not None and cached.target in policy.targets:
                return self._answer_from_cache(flight, request, decision, cached)
            if status == "skip":  # the store is failing: neither read nor write it
                key = None
        flight.record.cache_status = "miss" if key is not None else "skip"

        chain = EmbeddingChain(
            policy, decision.level, decision.targets, s.targets.adapters, s.resilience, circuits, outbound=outbound
        )
        with s.telemetry.stage("adapter"):
            dispatched, embeddings = await chain.embed(call)  # the chain keeps the deadline: 504 when it passes
        self._book.note_dispatch(flight, dispatched)
        if embeddings is None:
            raise dispatched.error or NoTargetAvailable("No target answered.")
        answered_by = dispatched.target
        assert answered_by is not None
        if key is not None and "no-store" not in cache_control and decision.cache is not None:
            value = CachedEmbeddings(answered_by, embeddings.vectors, embeddings.prompt_tokens)
            await s.cache.store(key, value, decision.cache.ttl_s)
        usage = await self._usage(flight, answered_by, embeddings, texts)
        cost = self._book.settle(flight, answered_by, usage)
        headers = self._book.headers(flight, decision, answered_by, dispatched.failed_attempts)
        headers["x-gateway-cost-usd"] = f"{cost:.8f}"
        self._book.finish(flight, outcome="ok", status=200)
        body = embeddings_body(embeddings.vectors, request.model, usage.prompt_tokens, request.encoding_format)
        return Outcome(headers, body=body)

    # -- the stages that differ from chat's ---------------------------------------------

    async def _budget(
        self, flight: InFlight, texts: list[str], facts: Facts, decision: Decision
    ) -> tuple[Facts, Decision]:
        """The team budget as for chat (``gateway/budget.py``): the inputs' tokens at the dearest
        candidate's input price reserved before any call; over budget, decide again."""
        policy = flight.loaded.policy
        if decision.deny is not None or not decision.targets or not any(b.team == facts.team for b in policy.budgets):
            return facts, decision
        targets = [policy.targets[name] for name in decision.targets]
        cost = max(estimate(self._s.pricer.price(t), self._count(t.model, texts), 0) for t in targets)
        flight.admission = await self._s.budgets.admit(policy, facts.team, cost)
        if not flight.admission.over:
            return facts, decision
        facts = dataclasses.replace(facts, over_budget=True)
        return facts, decide(policy, facts)

    def _count(self, model: str, texts: list[str]) -> int:
        return sum(self._s.tokens.count_text(model, text) for text in texts)

    async def _usage(self, flight: InFlight, target: str, embeddings: Embeddings, texts: list[str]) -> Usage:
        """The upstream's count of input tokens; without one, the inputs counted with the model's tokenizer."""
        if embeddings.prompt_tokens > 0:
            return Usage(prompt_tokens=embeddings.prompt_tokens)
        flight.counted = True
        model = flight.loaded.policy.targets[target].model
        return Usage(prompt_tokens=await asyncio.to_thread(self._count, model, texts))

    def _cache_key(
        self,
        decision: Decision,
        loaded: LoadedPolicy,
        principal: Principal,
        request: EmbeddingsRequest,
        outbound: Outbound,
        cache_control: str,
    ) -> str | None:
        """Embeddings are deterministic: the same inputs, model and ``dimensions`` share vectors, within
        the route's cache scope, level and policy version like any answer (``gateway/cache/keys.py``)."""
        return answer_key(self._s, decision, loaded, principal, request.model,
                          [{"api": "embeddings"}],  # never the key of a chat request with the same parameters
                          outbound.params, cache_control)  # fmt: skip

    def _answer_from_cache(
        self, flight: InFlight, request: EmbeddingsRequest, decision: Decision, cached: CachedEmbeddings
    ) -> Outcome:
        self._book.cached(flight, cached.target, Usage(prompt_tokens=cached.prompt_tokens))
        headers = self._book.headers(flight, decision, cached.target, 0)
        headers["x-gateway-cost-usd"] = "0.00000000"
        self._book.finish(flight, outcome="ok", status=200)
        body = embeddings_body(cached.vectors, request.model, cached.prompt_tokens, request.encoding_format)
        return Outcome(headers, body=body)


def _no_tokens(ids: object) -> str:
    raise ValueError("not token ids")
