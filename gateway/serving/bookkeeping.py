"""The record along the path: what a request has learned, its usage and charge, its headers, its end.

``InFlight`` is one request on its way: its ``RecordDraft`` once the policy has
decided (a request refused before that was not accepted and leaves no record),
and what only memory keeps (the messages, to count tokens; the budget's
reservation; the pseudonymised content and its vault, never recorded).
``Bookkeeper`` fills the draft and, at ``finish``, hands the frozen
``RequestRecord`` to the ledger and the observers: exactly once per request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from adapters.base import Usage
from gateway.budget import Admission
from gateway.dispatch import Dispatched
from gateway.errors import GatewayError
from gateway.keys import Principal
from gateway.ledger.charge import ZERO, charge
from gateway.policy.engine import Decision, Facts
from gateway.policy.loader import LoadedPolicy
from gateway.pseudonymize.plan import Transformed
from gateway.record import Api, Asked, Decided, RecordDraft
from gateway.serving.services import Services

log = logging.getLogger("gateway.serving")


@dataclass(slots=True)
class InFlight:
    """One request on its way through the path; see the module docstring."""

    request_id: str
    principal: Principal
    api: Api
    loaded: LoadedPolicy  # the policy version that decides this request, whatever reloads meanwhile
    started: float
    draft: RecordDraft | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)  # memory only: to count tokens
    admission: Admission | None = None  # the team budget's reservation, settled in ``finish``
    transform: Transformed | None = None  # memory only, never recorded
    counted: bool = False  # the usage was counted by the gateway, not reported by the upstream

    @property
    def record(self) -> RecordDraft:
        assert self.draft is not None, "the record starts when the policy has decided"
        return self.draft


T = TypeVar("T")


class Bookkeeper:
    def __init__(self, services: Services) -> None:
        self._s = services

    async def accounted(self, flight: InFlight, serve: Callable[[], Awaitable[T]]) -> T:
        """Serve one request (every API's path runs inside this): an accepted request (one the policy
        has decided, so with a draft) that then fails still gets its one record, and every error
        carries the request id."""
        try:
            return await serve()
        except GatewayError as error:
            error.headers.setdefault("x-request-id", flight.request_id)
            if flight.draft is not None:  # accepted: the ledger keeps it
                self.finish(flight, outcome=error.code, status=error.status, error_code=error.code)
            raise
        except Exception:
            # A bug, not a client error: the client gets a generic 500, the
            # accepted request still gets its record.
            if flight.draft is not None:
                self.finish(flight, outcome="internal_error", status=500, error_code="internal_error")
            raise

    @staticmethod
    def draft(flight: InFlight, model: str, stream: bool, facts: Facts, decision: Decision) -> RecordDraft:
        """The record's frozen part, once the policy has decided: what was asked, and what was decided."""
        asked = Asked(
            request_id=flight.request_id,
            ts=datetime.now(UTC),
            api=flight.api,
            key_id=flight.principal.key_id,
            team=flight.principal.team,
            model=model,
            stream=stream,
            estimated_input_tokens=facts.estimated_input_tokens,
        )
        decided = Decided(
            level=decision.level,
            policy_version=flight.loaded.version,
            tier=decision.tier,
            entity_types=tuple(sorted(facts.entity_types)),
            classifier_error=facts.classifier_error,
            route=decision.route,
        )
        return RecordDraft(asked, decided, flight.started)

    def note_dispatch(self, flight: InFlight, dispatched: Dispatched) -> None:
        """The attempts, and the target that answered."""
        draft = flight.record
        draft.attempts = dispatched.attempts
        self.note_target(flight, dispatched.target)

    def note_target(self, flight: InFlight, target_name: str | None) -> None:
        if target_name is None:
            return
        draft = flight.record
        target = flight.loaded.policy.targets.get(target_name)
        draft.target, draft.residency = target_name, target.residency if target is not None else None
        transform = flight.transform
        if transform is not None and target_name in transform.targets:  # types and counts, never values
            counts = transform.result.counts
            draft.transform = "pseudonymize:" + ",".join(f"{t}={n}" for t, n in sorted(counts.items()))

    def cached(self, flight: InFlight, target_name: str, usage: Usage) -> None:
        """A cache hit: the same columns as an answered request; it cost nothing, and saved what the
        cached usage costs at the original target's prices."""
        policy = flight.loaded.policy
        target = policy.targets[target_name]
        charged = charge(self._s.pricer, target, usage, "cache", policy.reference_model)
        draft = flight.record
        draft.cache_status = "hit"
        self.note_target(flight, target_name)
        draft.target_model = target.model
        draft.charge, draft.cache_saved_usd = dataclasses.replace(charged, cost=ZERO), charged.cost

    def usage(
        self,
        flight: InFlight,
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
        target = flight.loaded.policy.targets.get(target_name or "")
        flight.counted = True
        usage = self._s.tokens.usage(target.model if target else "", flight.messages, text or "", tool_calls or ())
        return dataclasses.replace(usage, completion_tokens=usage.completion_tokens + counted) if counted else usage

    async def usage_off_loop(
        self,
        flight: InFlight,
        target_name: str | None,
        reported: Usage | None,
        text: str | None,
        tool_calls: Iterable[Mapping[str, Any]] | None,
        counted: int = 0,
    ) -> Usage:
        """``usage``, counting in a worker thread: a long prompt or answer costs ~0.1 s of CPU per MB."""
        if reported is not None and reported.total_tokens > 0:
            return reported
        calls = list(tool_calls or ())
        return await asyncio.to_thread(self.usage, flight, target_name, reported, text, calls, counted)

    def settle(self, flight: InFlight, target_name: str, usage: Usage) -> Decimal:
        """Price the answering target's usage (``gateway/ledger/charge.py``) onto the record."""
        policy = flight.loaded.policy
        target = policy.targets[target_name]
        charged = charge(
            self._s.pricer, target, usage, "counted" if flight.counted else "upstream", policy.reference_model
        )
        flight.record.target_model, flight.record.charge = target.model, charged
        return charged.cost

    def finish(self, flight: InFlight, *, outcome: str, status: int, error_code: str | None = None) -> None:
        """The request's end: settle its budget and rate limit, and hand its record to the evidence."""
        record = flight.record.finish(outcome, status, error_code)
        s = self._s
        s.budgets.settle(flight.admission, record.cost_usd)
        used = record.prompt_tokens + record.completion_tokens
        s.resilience.limits.charge(  # tokens beyond the estimate admitted: counted against the rate limit
            flight.principal.key_id, flight.principal.team, used - record.asked.estimated_input_tokens
        )
        s.telemetry.annotate(record)
        with s.telemetry.stage("ledger"):
            s.ledger.observe(record)
            for observe in s.observers:
                try:
                    observe(record)
                except Exception:  # evidence must never break an answer; logged loudly
                    log.exception("a request observer failed (metrics or audit)")

    def headers(self, flight: InFlight, decision: Decision, target: str, fallbacks: int) -> dict[str, str]:
        headers = {
            "x-request-id": flight.request_id,
            "x-gateway-level": decision.level,
            "x-gateway-route": decision.route or "",
            "x-gateway-target": target,
            "x-gateway-residency": flight.loaded.policy.targets[target].residency,
            "x-gateway-policy": flight.loaded.version,
            "x-gateway-cache": flight.record.cache_status,
            "x-gateway-fallbacks": str(fallbacks),
        }
        transform = flight.transform
        if transform is not None and target in transform.targets:
            counts = ", ".join(f"{entity}={n}" for entity, n in sorted(transform.result.counts.items()))
            headers["x-gateway-transform"] = f"pseudonymize; {counts}"
        return headers
