"""What the request path needs, built once by the app factory (``gateway/app.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.budget import BudgetKeeper
from gateway.cache import AnswerCache
from gateway.classify.base import Classifier
from gateway.ledger.writer import LedgerWriter
from gateway.policy.holder import PolicyHolder
from gateway.pricing import Pricer
from gateway.pseudonymize import PseudonymKey
from gateway.record import Observer
from gateway.resilience import Resilience
from gateway.targets import TargetPool
from gateway.telemetry import Telemetry
from gateway.tokens import TokenCounter


@dataclass(slots=True)
class Limits:
    max_messages: int  # more messages in one request: 413
    deadline_s: float  # a request's deadline when its route sets none


@dataclass(slots=True)
class Services:
    """The path's dependencies. ``ledger`` and ``observers`` (metrics, the audit trail) get every
    accepted request's ``RequestRecord``; the ledger's write is not guarded, the observers' are."""

    policy: PolicyHolder  # ``.current``: the LoadedPolicy in force
    classifier: Classifier
    targets: TargetPool
    cache: AnswerCache
    ledger: LedgerWriter
    limits: Limits
    pricer: Pricer = field(default_factory=Pricer)
    telemetry: Telemetry = field(default_factory=Telemetry)
    observers: tuple[Observer, ...] = ()
    budgets: BudgetKeeper = field(default_factory=BudgetKeeper)
    tokens: TokenCounter = field(default_factory=TokenCounter)
    resilience: Resilience = field(default_factory=Resilience)  # rate limits, breakers, retries, backpressure
    pseudonym_key: PseudonymKey = field(default_factory=PseudonymKey.random)
