"""The request path for ``POST /v1/embeddings``: the chat path's stages, with an embedding call.

    request -> auth -> rate limit -> classify -> decide -> cache -> embed
            (retries, fallbacks, breakers, invariant) -> ledger + audit -> response

Every stage but the call is the chat path's own (``ChatService``): the same
classifier (each input is one text: ``gateway/classify/extract.py``), the same
``decide`` with ``Facts.api = "embeddings"`` (only targets whose ``task`` is
``embeddings`` are candidates), the same budgets, rate limits, cache keys
and sealing, ledger row, audit record and headers. The call goes through
``EmbeddingChain``, the ``TargetChain`` with an ``embed`` step: the same
invariant guard before every attempt (the call must be the sealed content,
the target's ``max_level`` must admit the level), retries, fallbacks and
breakers.

Not offered for embeddings: a route's ``transform`` (pseudonymised text would
give vectors of placeholders: a target the level excludes stays excluded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters.base import ModelCall, Usage
from adapters.embeddings import EmbeddingAdapter, EmbeddingCall, Embeddings
from gateway.apis.embeddings import TOKEN_ENCODING, EmbeddingsRequest, embeddings_body, parse_request
from gateway.cache import CachedEmbeddings, scope_for
from gateway.dispatch import Attempt, TargetChain
from gateway.errors import (
    BudgetExceeded,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    NoTargetAvailable,
    PolicyDenied,
    UpstreamError,
)
from gateway.keys import Principal
from gateway.ledger.charge import charge, estimate
from gateway.logs import new_request_id
from gateway.outbound import Outbound
from gateway.policy.engine import Decision, Facts, decide, estimate_input_tokens
from gateway.policy.loader import LoadedPolicy
from gateway.serving import ChatService, Outcome, _Record


class ModelNotSupported(InvalidRequest):
    """The route the policy chose has no model for this API (nothing was sent)."""

    code = "model_not_supported"


class EmbeddingChain(TargetChain):
    """``TargetChain`` with an embedding call: the same checks before every attempt (``_admit``)."""

    async def embed(self, call: ModelCall) -> Embeddings:
        self._begin(call)
        for name in self._targets:
            embeddings = await self._try_target(name, self._embed_once, call)
            if embeddings is not None:
                return embeddings
            if self._expired:
                break
        raise self._exhausted()

    async def _embed_once(self, name: str, call: ModelCall) -> Embeddings:
        target = await self._admit(name, call)  # the invariant and the seal, the deadline, the breaker
        adapter = self._adapters[name]
        if not isinstance(adapter, EmbeddingAdapter):
            raise UpstreamError(f"target {name} cannot embed", retryable=False)  # the decision never offers one
        async with self._res.bulkheads.slot(name, target.max_in_flight, wait_s=self._remaining()):
            started = time.perf_counter()
            try:
                embeddings = await adapter.embed(EmbeddingCall.of(self._call_for(target, call)))
            except UpstreamError as error:
                await self._failed(name, error, started)
                raise
        self.attempts.append(Attempt(name, target.residency, "ok", None, (time.perf_counter() - started) * 1000))
        await self._succeeded(name)
        self.answered_by = name
        return embeddings


class EmbeddingsService:
    """``POST /v1/embeddings`` on the chat path's stages (see the module docstring)."""

    def __init__(self, chat: ChatService) -> None:
        self._chat = chat

    async def handle(
        self, raw: bytes, principal: Principal, cache_control: str = "", *, request_id: str | None = None
    ) -> Outcome:
        chat = self._chat
        request_id = request_id or new_request_id()
        record = _Record(request_id, principal, time.perf_counter())
        loaded: LoadedPolicy = chat._policy.current
        try:
            return await self._handle(raw, principal, cache_control, record, loaded)
        except GatewayError as error:
            error.headers.setdefault("x-request-id", request_id)
            if record.row:
                chat._finish(record, outcome=error.code, status=error.status, error_code=error.code)
            raise
        except Exception:
            if record.row:
                chat._finish(record, outcome="internal_error", status=500, error_code="internal_error")
            raise

    async def _handle(
        self, raw: bytes, principal: Principal, cache_control: str, record: _Record, loaded: LoadedPolicy
    ) -> Outcome:
        chat = self._chat
        telemetry = chat._telemetry
        with telemetry.stage("parse"):
            request = parse_request(raw)
            decode = chat._tokens.encoding(TOKEN_ENCODING).decode if request.tokenized else None
            texts = request.texts(decode) if decode is not None else request.texts(_never)
            outbound = request.outbound(texts)  # what may leave: classified as built, sent as classified
        policy = loaded.policy
        if request.model not in policy.models or not principal.may_use(request.model):
            raise ModelNotFound("The requested model does not exist or is not available to this key.", param="model")

        estimated_tokens = estimate_input_tokens(texts)
        await chat.resilience.limits.admit(principal.key_id, principal.team, estimated_tokens)

        with telemetry.stage("classify"):
            classification = await chat._classify(outbound, loaded)  # each input is one text
        circuits, open_circuits = await chat.resilience.circuits(policy.targets)
        facts = Facts(
            model=request.model,
            entity_types=classification.entity_types,
            classifier_error=classification.error,
            team=principal.team,
            estimated_input_tokens=estimated_tokens,
            unavailable={**open_circuits, **chat._targets.unavailable(policy)},
            api="embeddings",
        )
        with telemetry.stage("decide"):
            decision = decide(policy, facts)
        facts, decision = await self._budget(record, texts, loaded, facts, decision)
        self._start_record(record, request, loaded, facts, decision)

        if decision.deny is not None:
            error_type = BudgetExceeded if decision.deny_code == "budget_exceeded" else PolicyDenied
            raise error_type(decision.deny)
        if not decision.targets:
            if decision.route is not None and decision.excluded and all(e.reason == "api" for e in decision.excluded):
                raise ModelNotSupported(
                    f"The model {request.model!r} offers no embeddings under this gateway's policy (route "
                    f"{decision.route!r} has no embedding model). Nothing was sent.", param="model",
                )  # fmt: skip
            raise NoTargetAvailable("No target that may receive this request is available. Nothing was sent.")

        call = outbound.call(deadline_s=decision.deadline_s or chat._deadline_s, request_id=record.request_id)
        key = self._cache_key(decision, loaded, principal, request, outbound, cache_control)
        if key is not None and "no-cache" not in cache_control:
            with telemetry.stage("cache"):
                status, cached = await chat.cache.lookup_embeddings(key)
            if cached is not None and cached.target in policy.targets:
                return self._answer_from_cache(record, request, decision, loaded, cached)
            if status == "skip":
                key = None
        record.row["cache_status"] = "miss" if key is not None else "skip"

        chain = EmbeddingChain(
            policy, decision.level, decision.targets, chat._targets.adapters, chat.resilience, circuits,
            outbound=outbound,
        )  # fmt: skip
        try:
            with telemetry.stage("adapter"):
                embeddings = await chain.embed(call)
        finally:
            chat._note_attempts(record, chain)
        answered_by = chain.answered_by
        assert answered_by is not None
        if key is not None and "no-store" not in cache_control and decision.cache is not None:
            value = CachedEmbeddings(answered_by, embeddings.vectors, embeddings.prompt_tokens)
            await chat.cache.store(key, value, decision.cache.ttl_s)
        usage = await self._usage(record, loaded, answered_by, embeddings, texts)
        cost = chat._settle(record, loaded, answered_by, usage)
        headers = chat._headers(record, decision, loaded, answered_by, chain.failed_attempts)
        headers["x-gateway-cost-usd"] = f"{cost:.8f}"
        chat._finish(record, outcome="ok", status=200)
        body = embeddings_body(embeddings.vectors, request.model, usage.prompt_tokens, request.encoding_format)
        return Outcome(headers, body=body)

    # -- stages that differ from chat's ------------------------------------------------

    async def _budget(
        self, record: _Record, texts: list[str], loaded: LoadedPolicy, facts: Facts, decision: Decision
    ) -> tuple[Facts, Decision]:
        """The team budget as for chat: the inputs' tokens at the dearest candidate's input price."""
        policy = loaded.policy
        if decision.deny is not None or not decision.targets or not any(b.team == facts.team for b in policy.budgets):
            return facts, decision
        chat = self._chat
        cost = max(
            estimate(chat._pricer.price(policy.targets[name]), self._count(policy.targets[name].model, texts), 0)
            for name in decision.targets
        )
        record.admission = await chat.budgets.admit(policy, facts.team, cost)
        if not record.admission.over:
            return facts, decision
        facts = dataclasses.replace(facts, over_budget=True)
        return facts, decide(policy, facts)

    def _count(self, model: str, texts: list[str]) -> int:
        return sum(self._chat._tokens.count_text(model, text) for text in texts)

    async def _usage(
        self, record: _Record, loaded: LoadedPolicy, target: str, embeddings: Embeddings, texts: list[str]
    ) -> Usage:
        """The upstream's count of input tokens; without one, the inputs counted with the model's tokenizer."""
        if embeddings.prompt_tokens > 0:
            return Usage(prompt_tokens=embeddings.prompt_tokens)
        record.row["usage_source"] = "counted"
        model = loaded.policy.targets[target].model
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
        """Embeddings are deterministic: the same inputs, model and ``dimensions`` share vectors, within the
        route's cache scope, level and policy version like any answer (``gateway/cache/keys.py``)."""
        settings = decision.cache
        if settings is None or not decision.cache_allowed or decision.route is None:
            return None
        if "no-cache" in cache_control and "no-store" in cache_control:
            return None
        policy = loaded.policy
        route = next(r for r in policy.routes if r.name == decision.route)
        return self._chat.cache.key(
            scope=scope_for(settings.scope, team=principal.team, level=decision.level, lowest_level=policy.levels[0]),
            policy_version=loaded.version,
            route=decision.route,
            targets=route.targets or (),
            level=decision.level,
            model=request.model,
            messages=[{"api": "embeddings"}],  # never the key of a chat request with the same parameters
            params=outbound.params,
        )

    def _answer_from_cache(
        self,
        record: _Record,
        request: EmbeddingsRequest,
        decision: Decision,
        loaded: LoadedPolicy,
        cached: CachedEmbeddings,
    ) -> Outcome:
        chat = self._chat
        record.row["cache_status"] = "hit"
        target = loaded.policy.targets[cached.target]
        record.row.update(target=cached.target, residency=target.residency)
        headers = chat._headers(record, decision, loaded, cached.target, 0)
        headers["x-gateway-cost-usd"] = "0.00000000"
        usage = Usage(prompt_tokens=cached.prompt_tokens)
        charged = charge(chat._pricer, target, usage, "cache", loaded.policy.reference_model)
        record.row.update(target_model=target.model, **charged.row())
        record.row.update(cost_usd=Decimal(0), cache_saved_usd=charged.cost)
        chat._finish(record, outcome="ok", status=200)
        body = embeddings_body(cached.vectors, request.model, cached.prompt_tokens, request.encoding_format)
        return Outcome(headers, body=body)

    def _start_record(
        self, record: _Record, request: EmbeddingsRequest, loaded: LoadedPolicy, facts: Facts, decision: Decision
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
            stream=False,
            cache_status="skip",
            cache_saved_usd=None,
            attempts=0,
            attempt_log="",
        )


def _never(ids: Any) -> str:
    raise ValueError("not token ids")
