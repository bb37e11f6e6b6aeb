"""The application state: everything a request handler may reach, built once per app (``gateway/app.py``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.audit import AuditWriter
from gateway.config import Config
from gateway.keys import KeyStore
from gateway.ledger.store import Database
from gateway.ledger.writer import LedgerWriter
from gateway.metrics import Metrics
from gateway.policy.holder import PolicyHolder
from gateway.resilience import Resilience
from gateway.serving import ChatService
from gateway.serving.embeddings import EmbeddingsService
from gateway.targets import TargetPool
from gateway.telemetry import Telemetry


@dataclass
class GatewayState:
    """Kept on ``app.state.gateway``; handlers reach it through ``deps.State``."""

    config: Config
    db: Database
    keys: KeyStore
    policy: PolicyHolder
    targets: TargetPool
    ledger: LedgerWriter
    chat: ChatService
    metrics: Metrics
    redis: Redis | None = None  # shared client when ``redis_url`` is configured
    audit: AuditWriter | None = None
    telemetry: Telemetry = dataclasses.field(default_factory=Telemetry)
    resilience: Resilience = dataclasses.field(default_factory=Resilience)
    embeddings: EmbeddingsService | None = None  # ``POST /v1/embeddings``, on ``chat``'s stages
    ready: bool = False
