"""One typed record per request: what was asked, who asked, what was decided, each attempt, the outcome.

Every accepted request leaves exactly one ``RequestRecord``, whatever happens to
it. It is THE thing the evidence readers read, each through attributes:

- the ledger (``gateway/ledger/row.py`` turns it into its SQL row, in one place),
- the audit trail (``AuditRecord.from_request``),
- metrics (``Metrics.observe_request``) and the request span (``Telemetry.annotate``).

A misspelt field is an attribute error, never a silent gap in the evidence.

The record is built along the path (``gateway/serving/``): ``Asked`` and
``Decided`` are frozen once the policy has decided; what happens after (the
cache, the attempts, the charge) goes on a ``RecordDraft``, whose ``finish``
returns the frozen ``RequestRecord``. Requests refused before a decision
(bad JSON, unknown model, rate limit) leave no record: they were not accepted.

``api`` says which wire the request came in on (``chat`` today; ``embeddings``,
``responses``, ``messages`` as they are added): one path, many front doors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from gateway.dispatch import Attempt
from gateway.ledger.charge import ZERO, Charge

Api = Literal["chat", "embeddings", "responses", "messages"]
CacheStatus = Literal["hit", "miss", "skip"]


@dataclass(frozen=True, slots=True)
class Asked:
    """What was asked, and who asked: known before the policy decides."""

    request_id: str
    ts: datetime
    api: Api
    key_id: str
    team: str
    model: str  # the virtual model the client named
    stream: bool
    estimated_input_tokens: int


@dataclass(frozen=True, slots=True)
class Decided:
    """What the policy decided, and on which facts (entity *types*, never values)."""

    level: str
    policy_version: str
    tier: str | None = None
    entity_types: tuple[str, ...] = ()  # sorted
    classifier_error: str | None = None
    route: str | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """The finished record of one accepted request; see the module docstring."""

    asked: Asked
    decided: Decided
    outcome: str  # ok, an error code, stream_interrupted, client_disconnected, internal_error
    status_code: int
    latency_ms: float
    error_code: str | None = None
    cache_status: CacheStatus = "skip"
    target: str | None = None  # the target that answered (or whose cached answer was served)
    target_model: str | None = None
    residency: str | None = None
    attempts: tuple[Attempt, ...] = ()
    charge: Charge | None = None  # the answer's usage, priced; ``None``: nothing answered
    cache_saved_usd: Decimal | None = None  # a cache hit: what the cached answer cost when it was made
    transform: str | None = None  # ``pseudonymize:PERSON=2,...`` when the answering target got it pseudonymised

    @property
    def cost_usd(self) -> Decimal:
        return self.charge.cost if self.charge is not None else ZERO

    @property
    def prompt_tokens(self) -> int:
        return self.charge.usage.prompt_tokens if self.charge is not None else 0

    @property
    def completion_tokens(self) -> int:
        return self.charge.usage.completion_tokens if self.charge is not None else 0

    @property
    def attempt_log(self) -> str:
        return " ".join(a.summary() for a in self.attempts)


# Called once per accepted request with its finished record: the ledger, metrics, the audit
# trail. Must not block; an observer that raises is logged and the others still run.
Observer = Callable[[RequestRecord], None]


@dataclass(slots=True)
class RecordDraft:
    """The record while its request is under way: the frozen facts, and what the path learns after."""

    asked: Asked
    decided: Decided
    started: float  # ``time.perf_counter()`` when the request arrived
    cache_status: CacheStatus = "skip"
    target: str | None = None
    target_model: str | None = None
    residency: str | None = None
    attempts: tuple[Attempt, ...] = ()
    charge: Charge | None = None
    cache_saved_usd: Decimal | None = None
    transform: str | None = None

    def finish(self, outcome: str, status: int, error_code: str | None = None) -> RequestRecord:
        return RequestRecord(
            asked=self.asked,
            decided=self.decided,
            outcome=outcome,
            status_code=status,
            latency_ms=(time.perf_counter() - self.started) * 1000,
            error_code=error_code,
            cache_status=self.cache_status,
            target=self.target,
            target_model=self.target_model,
            residency=self.residency,
            attempts=self.attempts,
            charge=self.charge,
            cache_saved_usd=self.cache_saved_usd,
            transform=self.transform,
        )
