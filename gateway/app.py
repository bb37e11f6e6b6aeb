"""The application factory: builds the object graph once and keeps it on ``app.state``.

Nothing here is a module global, so two gateways can live in one process (the
tests do that). ``create_app`` takes the pieces that tests replace (classifier,
adapter factory) as arguments; production passes none and gets the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from gateway.cache import MemoryCache, ResponseCache
from gateway.classify.base import Classifier
from gateway.config import Config
from gateway.keys import KeyStore
from gateway.ledger.store import Database
from gateway.ledger.writer import LedgerWriter
from gateway.metrics import Metrics
from gateway.policy.engine import level_is_final
from gateway.policy.holder import PolicyHolder
from gateway.policy.loader import LoadedPolicy
from gateway.pricing import Pricer
from gateway.serving import ChatService
from gateway.targets import AdapterFactory, TargetPool, build_adapter

log = logging.getLogger("gateway")


@dataclass
class GatewayState:
    """Everything a request handler may reach, built once per app."""

    config: Config
    db: Database
    keys: KeyStore
    policy: PolicyHolder
    targets: TargetPool
    ledger: LedgerWriter
    chat: ChatService
    metrics: Metrics
    ready: bool = False


def create_app(
    config: Config,
    *,
    classifier: Classifier | None = None,
    adapter_factory: AdapterFactory | None = None,
    cache: ResponseCache | None = None,
) -> FastAPI:
    from gateway.routes import router

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await _build(config, classifier, adapter_factory, cache)
        app.state.gateway = state
        watcher = (
            asyncio.create_task(state.policy.watch(config.policy_watch_s)) if config.policy_watch_s > 0 else None
        )
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            if watcher is not None:
                watcher.cancel()
            await state.targets.close()
            await state.ledger.close()
            close = getattr(state.chat.classifier, "close", None)
            if close is not None:
                close()
            state.db.close()

    app = FastAPI(
        title="vaultroute gateway",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(router)
    from gateway.routes import install_error_handlers

    install_error_handlers(app)
    return app


async def _build(
    config: Config,
    classifier: Classifier | None,
    adapter_factory: AdapterFactory | None,
    cache: ResponseCache | None,
) -> GatewayState:
    db = Database(config.database_url)
    await asyncio.to_thread(db.create_schema)
    ledger = LedgerWriter(db)
    ledger.start()
    targets = TargetPool(adapter_factory or build_adapter(config.model_cache))

    async def on_change(loaded: LoadedPolicy) -> None:
        # The version's text reaches the database before any request is decided
        # under it; if the database is down the reload is refused (old policy stays).
        await asyncio.to_thread(
            db.record_policy_version, loaded.version, loaded.policy.name, loaded.source, datetime.now(UTC)
        )
        await targets.sync(loaded.policy)

    holder = PolicyHolder(config.policy, known_entities=_known_entities())
    await on_change(holder.current)
    holder.on_change_async = on_change
    holder.install_sighup(asyncio.get_running_loop())
    if classifier is None:
        classifier = await asyncio.to_thread(_presidio, config, holder)
    secret = os.environ.get("GATEWAY_CACHE_SECRET", "").encode() or secrets.token_bytes(32)
    chat = ChatService(
        policy=holder,
        classifier=classifier,
        targets=targets,
        cache=cache or MemoryCache(),
        cache_secret=secret,
        ledger=ledger,
        pricer=Pricer(),
        max_messages=config.limits.max_messages,
        deadline_s=config.limits.request_deadline_s,
    )
    keys = KeyStore(db, config.keys)
    return GatewayState(config, db, keys, holder, targets, ledger, chat, Metrics())


def _known_entities() -> frozenset[str] | None:
    try:
        from gateway.classify import KNOWN_ENTITIES
    except ImportError:
        return None
    return KNOWN_ENTITIES


def _presidio(config: Config, holder: PolicyHolder) -> Classifier:
    from gateway.classify import PresidioClassifier

    settings = config.classifier
    classifier = PresidioClassifier(
        ner_model=settings.ner_model,
        timeout_s=settings.timeout_s,
        workers=settings.workers,
        max_chars=settings.max_chars,
        decisive_entities=lambda found: level_is_final(holder.current.policy, found),
    )
    classifier.load()
    return classifier


def ensure_dev_key(config: Config, keys: KeyStore) -> str:
    """The development key for ``make run``: created once, kept in ``var/dev-key``."""
    path = Path(config.var_dir) / "dev-key"
    if path.exists():
        key = path.read_text().strip()
        if keys.authenticate(key) is not None:
            return key
    _, key = keys.create("dev", ["user", "finance", "compliance", "admin"], description="development key")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key
