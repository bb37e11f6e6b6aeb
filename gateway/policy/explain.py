"""Why a request would go where it goes: the full decision trace, without calling any model.

``explain`` runs the real request path up to the decision (extract the texts,
classify, build the facts, ``decide``) and returns the trace as plain JSON
data: the entity types found with the level each gives (never the values), the
level, every route with why it did or did not match, and the targets permitted
or excluded with the reason (invariant, budget, capability, unavailable), each
target's capabilities and what the request needs of one (tools, images...). ``policy test``
uses the same steps, so what ``explain`` shows is what a test checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from gateway.apis.embeddings import embeddings_outbound
from gateway.classify.base import Classification, Classifier, PolicyRecognizer
from gateway.errors import GatewayError
from gateway.outbound import Outbound
from gateway.policy.capabilities import NEEDS, effective, needs_of
from gateway.policy.engine import Decision, Facts, decide, estimate_input_tokens, level_for
from gateway.policy.loader import LoadedPolicy
from gateway.policy.model import Policy, Target
from gateway.protocol import ChatCompletionRequest, describe_validation_error
from gateway.pseudonymize.placeholders import PseudonymKey
from gateway.pseudonymize.plan import Transformed, with_transform

Request = Mapping[str, Any]

HTTP_STATUS = {"policy_denied": 403, "budget_exceeded": 429}


def capabilities_of(target: Target) -> dict[str, Any]:
    """A target's capabilities as the decision sees them (declared over its kind's defaults)."""
    declared = target.capabilities
    return {**effective(target.kind, declared), "context_tokens": declared.context_tokens if declared else None}


def recognizers_of(policy: Policy) -> tuple[PolicyRecognizer, ...]:
    """The policy's own detectors, as the classifier receives them."""
    return tuple(
        PolicyRecognizer(
            entity=r.entity, words=tuple(r.words), pattern=r.pattern, context=tuple(r.context), score=r.score
        )
        for r in policy.classification.recognizers
    )


def as_request(request_or_text: Request | str, model: str | None, policy: Policy, api: str = "chat") -> dict[str, Any]:
    """A request body: the request given (``model`` overriding its own), or a text as one user message
    (``api`` chat) or as the one input (``api`` embeddings).

    Without a model, a text uses the policy's first virtual model.
    """
    if isinstance(request_or_text, str):
        chosen = model or next(iter(policy.models))
        if api == "embeddings":
            return {"model": chosen, "input": request_or_text}
        return {"model": chosen, "messages": [{"role": "user", "content": request_or_text}]}
    body = dict(request_or_text)
    if model is not None:
        body["model"] = model
    return body


class InvalidRequestBody(ValueError):
    """The request is not one the server would accept (it answers 400); the message names the field."""


def api_of(request: Request) -> str:
    """The API a request body is for: an Embeddings request has ``input`` and no ``messages``."""
    return "embeddings" if "input" in request and "messages" not in request else "chat"


def outbound_of(request: Request) -> Outbound:
    """What the server would send for ``request`` (``gateway/outbound.py``), or ``InvalidRequestBody``."""
    if api_of(request) == "embeddings":
        try:
            return embeddings_outbound(orjson.dumps(dict(request)))
        except GatewayError as error:
            raise InvalidRequestBody(error.message) from None
    try:
        return Outbound.of(ChatCompletionRequest.model_validate(request))
    except ValidationError as exc:
        raise InvalidRequestBody(describe_validation_error(exc, request)[0]) from None


async def classify_request(loaded: LoadedPolicy, classifier: Classifier, request: Request) -> Classification:
    """Classify every string the request would send, as the server does; failures become errors (fail closed).

    Raises ``InvalidRequestBody`` for a request the server would refuse."""
    return await classify_outbound(loaded, classifier, outbound_of(request))


async def classify_outbound(loaded: LoadedPolicy, classifier: Classifier, outbound: Outbound) -> Classification:
    if not loaded.reads_content:  # as the server: a policy that maps no entity classifies nothing
        return Classification()
    texts, unscannable = outbound.texts()
    if unscannable:
        return Classification(error="unscannable_content")
    return await classify_texts(loaded, classifier, texts)


async def classify_texts(loaded: LoadedPolicy, classifier: Classifier, texts: Sequence[str]) -> Classification:
    c = loaded.policy.classification
    try:
        return await classifier.classify(
            texts, recognizers=recognizers_of(loaded.policy), min_score=c.min_score, entities=loaded.detects
        )
    except Exception:  # noqa: BLE001 - any classifier failure fails closed, as in the server
        return Classification(error="exception")


@dataclass(frozen=True, slots=True)
class Decided:
    """A request taken through the server's steps up to the decision, pseudonymisation included."""

    facts: Facts
    classification: Classification
    decision: Decision | None  # None: the model is not in the policy
    transformed: Transformed | None


async def decide_request(
    loaded: LoadedPolicy,
    classifier: Classifier,
    request: Request,
    team: str | None,
    unavailable: Mapping[str, str] | None = None,
    over_budget: bool = False,
) -> Decided:
    """Classify, decide and, where the route pseudonymises, transform and decide again, as the server does
    (with a key of its own: the placeholders differ from the server's, the decision does not)."""
    outbound = outbound_of(request)
    classification = await classify_outbound(loaded, classifier, outbound)
    facts = facts_for(request, classification, team, unavailable, over_budget)
    if facts.model not in loaded.policy.models:
        return Decided(facts, classification, None, None)
    facts, decision, transformed = await with_transform(
        loaded.policy, facts, decide(loaded.policy, facts), outbound, classification,
        lambda texts: classify_texts(loaded, classifier, texts), PseudonymKey.random(), team or "",
    )  # fmt: skip
    return Decided(facts, classification, decision, transformed)


def facts_for(
    request: Request,
    classification: Classification,
    team: str | None,
    unavailable: Mapping[str, str] | None = None,
    over_budget: bool = False,
) -> Facts:
    api = api_of(request)
    return Facts(
        model=str(request.get("model", "")),
        entity_types=classification.entity_types,
        classifier_error=classification.error,
        team=team or "",
        estimated_input_tokens=estimate_input_tokens(
            request.get("input", []) if api == "embeddings" else request.get("messages", [])
        ),
        unavailable=dict(unavailable or {}),
        over_budget=over_budget,
        needs=_needs(request) if api != "embeddings" else frozenset(),
        api=api,
    )


def _needs(request: Request) -> frozenset[str]:
    """What the request asks of a target (tools, images...), read from what the server would send."""
    try:
        outbound = outbound_of(request)
    except InvalidRequestBody:
        return frozenset()
    return needs_of(outbound.messages, outbound.params)


async def explain(
    loaded: LoadedPolicy,
    request_or_text: Request | str,
    team: str | None,
    model: str | None,
    classifier: Classifier,
    unavailable: Mapping[str, str] | None = None,
    over_budget: bool = False,
    api: str = "chat",
) -> dict[str, Any]:
    """The decision trace for one request (a Chat Completions or Embeddings body, or just a user's text,
    sent through ``api``)."""
    request = as_request(request_or_text, model, loaded.policy, api)
    try:
        decided = await decide_request(loaded, classifier, request, team, unavailable, over_budget)
    except InvalidRequestBody as invalid:
        return {
            "policy": {"name": loaded.policy.name, "version": loaded.version, "file": loaded.path},
            "decision": {"outcome": "invalid_request", "http_status": 400, "message": str(invalid)},
        }
    out = trace(loaded, decided.facts, decided.classification)
    if decided.decision is not None and decided.decision.transform_types:
        out["transform"] = _transform(decided)
    return out


def _transform(decided: Decided) -> dict[str, Any]:
    """What the route's transform does to this request: types and counts, never values or placeholders."""
    assert decided.decision is not None
    decision = decided.decision
    return {
        "kind": "pseudonymize",
        "entity_types": sorted(decision.transform_types),
        "applied": decided.transformed is not None,
        "replaced": decided.transformed.result.counts if decided.transformed is not None else {},
        "residual_entities": sorted(decided.facts.residual_types or ()),
        "residual_level": decision.residual_level,
        "targets_receiving_pseudonymised": list(decision.transformed),
    }


def trace(loaded: LoadedPolicy, facts: Facts, classification: Classification) -> dict[str, Any]:
    """The trace as JSON-ready data, from facts already established."""
    policy = loaded.policy
    out: dict[str, Any] = {
        "policy": {"name": policy.name, "version": loaded.version, "file": loaded.path},
        "request": {
            "model": facts.model,
            "api": facts.api,
            "tier": policy.models[facts.model].tier if facts.model in policy.models else None,
            "team": facts.team or None,
            "estimated_input_tokens": facts.estimated_input_tokens,
            "needs": [need for need in NEEDS if need in facts.needs],
            "over_budget": facts.over_budget,
            "unavailable": dict(facts.unavailable),
        },
        "classification": _classification(loaded, classification),
    }
    level, raised_by = level_for(policy, facts)
    out["level"] = {
        "level": level,
        "default_level": policy.classification.default_level,
        "raised_by": [{"entity": entity, "level": to} for entity, to in raised_by],
        "on_error_applied": facts.classifier_error is not None,
    }
    if facts.model not in policy.models:
        out["routes"] = []
        out["decision"] = {
            "outcome": "model_not_found",
            "http_status": 404,
            "message": f"{facts.model!r} is not a virtual model of this policy; the models are {sorted(policy.models)}",
        }
        out["excluded"] = []
        return out
    decision = decide(policy, facts)
    out["routes"] = _routes(loaded, decision)
    out["decision"] = _decision(policy, decision)
    out["excluded"] = [{"target": e.target, "reason": e.reason, "detail": e.detail} for e in decision.excluded]
    return out


def _classification(loaded: LoadedPolicy, classification: Classification) -> dict[str, Any]:
    policy = loaded.policy
    mapped = policy.classification.entities
    return {
        # What the classifier looks for under this policy (the types it maps, tests or defines);
        # none at all: the request is not classified and gets the default level.
        "looked_for": sorted(loaded.detects) if loaded.detects is not None else None,
        "skipped": None if loaded.reads_content else "this policy uses no entity type: requests are not classified",
        "entities": [
            {
                "type": entity,
                "level": mapped.get(entity),
                "score": classification.scores.get(entity),
                "effect": f"raises the level to {mapped[entity]}" if entity in mapped else "no level mapped: no effect",
            }
            for entity in sorted(classification.entity_types)
        ],
        "error": classification.error,
        "min_score": policy.classification.min_score,
        "elapsed_ms": round(classification.elapsed_ms, 2),
    }


def _routes(loaded: LoadedPolicy, decision: Decision) -> list[dict[str, Any]]:
    checked = {check.route: check for check in decision.trace}
    rows = []
    for i, route in enumerate(loaded.policy.routes):
        found = checked.get(route.name)
        reasons = list(found.reasons) if found else [f"not evaluated: route {decision.route!r} matched first"]
        rows.append(
            {
                "route": route.name,
                "line": loaded.where(("routes", i))[0],
                "evaluated": found is not None,
                "matched": found is not None and found.matched,
                "reasons": reasons,
            }
        )
    return rows


def _decision(policy: Policy, decision: Decision) -> dict[str, Any]:
    targets = [
        {
            "target": name,
            "model": policy.targets[name].model,
            "residency": policy.targets[name].residency,
            "max_level": policy.max_level_of(policy.targets[name]),
            "capabilities": capabilities_of(policy.targets[name]),
        }
        for name in decision.targets
    ]
    if decision.deny is not None:
        outcome, status = "denied", HTTP_STATUS.get(decision.deny_code or "", 403)
    elif decision.unserved is not None:
        outcome, status = "unserved", 400
    elif decision.route is None:
        outcome, status = "no_route", 503
    elif not decision.targets:
        outcome, status = "no_target_available", 503
    else:
        outcome, status = "targets", 200
    return {
        "outcome": outcome,
        "http_status": status,
        "route": decision.route,
        "targets": targets,
        "first_target": decision.targets[0] if decision.targets else None,
        "residency": targets[0]["residency"] if targets else None,
        "deny": decision.deny,
        "deny_code": decision.deny_code if decision.deny is not None else None,
        "unserved": decision.unserved,
        "cache": decision.cache.model_dump() if decision.cache is not None else None,
        "cache_allowed": decision.cache_allowed,
        "deadline_s": decision.deadline_s,
    }
