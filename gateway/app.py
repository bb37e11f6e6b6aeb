"""The application factory: builds the object graph once and keeps it on ``app.state``
(``gateway/http/state.py``); the HTTP edge (``gateway/http/``) serves it.

Nothing here is a module global, so two gateways can live in one process (the
tests do that). ``create_app`` takes the pieces that tests replace (classifier,
adapter factory) as arguments; production passes none and gets the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.audit import AuditSpool, AuditStore, AuditWriter
from gateway.budget import BudgetKeeper
from gateway.cache import AnswerCache, ResponseCache
from gateway.classify.base import Classifier
from gateway.config import Config
from gateway.http import install
from gateway.http.state import GatewayState
from gateway.keys import KeyStore
from gateway.ledger.spool import LedgerSpool
from gateway.ledger.store import Database
from gateway.ledger.writer import LedgerWriter
from gateway.logs import quiet_libraries
from gateway.metrics import Metrics
from gateway.policy.engine import level_is_final
from gateway.policy.holder import PolicyHolder
from gateway.policy.loader import LoadedPolicy
from gateway.pricing import Pricer
from gateway.pseudonymize import PseudonymKey
from gateway.resilience import Resilience
from gateway.serving import ChatService, Limits, Services
from gateway.serving.embeddings import EmbeddingsService
from gateway.targets import AdapterFactory, TargetPool, build_adapter
from gateway.telemetry import Telemetry
from gateway.tokens import TokenCounter
from gateway.workermetrics import METRICS_DIR_ENV

log = logging.getLogger("gateway")


def create_app(
    config: Config,
    *,
    classifier: Classifier | None = None,
    adapter_factory: AdapterFactory | None = None,
    cache: ResponseCache | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """``span_exporter``: where spans go besides OTLP (tests pass an in-memory one)."""
    telemetry = Telemetry.build(config.telemetry, exporter=span_exporter)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await _build(config, classifier, adapter_factory, cache, telemetry)
        quiet_libraries()  # adapters may have imported a library that brings its own log handler
        _settle_heap()
        app.state.gateway = state
        watcher = asyncio.create_task(state.policy.watch(config.policy_watch_s)) if config.policy_watch_s > 0 else None
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            if watcher is not None:
                watcher.cancel()
            await state.targets.close()
            await state.chat.services.budgets.close()
            await state.resilience.close()
            await state.ledger.close()  # what the database does not take goes to the spool
            if state.audit is not None:
                await state.audit.close()
            await state.metrics.close()  # a last snapshot for the other workers' scrapes
            if state.redis is not None:
                await state.redis.aclose()
            close = getattr(state.chat.services.classifier, "close", None)
            if close is not None:
                close()
            state.db.close()
            telemetry.shutdown()

    app = FastAPI(
        title="vaultroute gateway",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by gateway/http/routes.py behind a key, like everything but the probes
        # Our spans, metrics and logs are gateway/telemetry.py's, which withhold content and raw
        # paths. FastAPI's own would start whenever a global OpenTelemetry provider exists (an
        # operator's auto-instrumentation), with exception messages that may quote a prompt;
        # off, it also costs nothing per request (it looks the providers up on every request).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install(app, telemetry)
    return app


async def _build(
    config: Config,
    classifier: Classifier | None,
    adapter_factory: AdapterFactory | None,
    cache: ResponseCache | None,
    telemetry: Telemetry | None = None,
) -> GatewayState:
    telemetry = telemetry or Telemetry()
    db = Database(config.database_url)
    await asyncio.to_thread(db.create_schema)
    ledger = LedgerWriter(db, spool=LedgerSpool(Path(config.var_dir) / "ledger-spool"))
    ledger.start()
    audit = AuditWriter(AuditStore(db.engine), spool=AuditSpool(Path(config.var_dir) / "audit-spool"))
    await asyncio.to_thread(audit.store.create_schema)
    audit.start()
    targets = TargetPool(adapter_factory or build_adapter(config.model_cache, config.fast_paths))

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
    metrics = Metrics()
    if os.environ.get(METRICS_DIR_ENV):  # gateway serve --workers N: one scrape answers for every worker
        metrics.share(os.environ[METRICS_DIR_ENV])
    telemetry.metrics = metrics
    redis = _redis(config)
    resilience = Resilience(
        config.resilience,
        redis=redis,
        registry=metrics.registry,
        spooled=lambda: ledger.spooled,
        fast_retry=config.fast_paths.retry_loop,
    )
    answer_cache = AnswerCache.build(config.cache, environ=os.environ, redis=redis, store=cache, metrics=metrics)
    chat = ChatService(
        Services(
            policy=holder,
            classifier=classifier,
            targets=targets,
            cache=answer_cache,
            ledger=ledger,
            limits=Limits(max_messages=config.limits.max_messages, deadline_s=config.limits.request_deadline_s),
            pricer=Pricer(),
            telemetry=telemetry,
            observers=(metrics.observe_request, audit.observe),
            budgets=_budgets(db, redis, metrics),
            tokens=TokenCounter(),
            resilience=resilience,
            pseudonym_key=PseudonymKey.from_env(os.environ),
        )
    )
    keys = KeyStore(db, config.keys)
    state = GatewayState(
        config,
        db,
        keys,
        holder,
        targets,
        ledger,
        chat,
        metrics,
        redis=redis,
        audit=audit,
        telemetry=telemetry,
        resilience=resilience,
        embeddings=EmbeddingsService(chat),
    )
    _gauges(state)
    return state


def _settle_heap() -> None:
    """Move everything loaded so far (models, Presidio, torch: hundreds of thousands of objects)
    out of the cyclic garbage collector's reach. Otherwise each full collection walks all of
    them and stalls the event loop for a quarter of a second under load. They stay alive for
    the process's life anyway; what requests allocate afterwards is collected as usual. (No
    collection first: it would take as long, at every start, to free a few start-up leftovers.)"""
    gc.freeze()


def _gauges(state: GatewayState) -> None:
    """Gauges read at scrape time: targets the engine cannot use (breakers, keys), queued evidence."""
    audit = state.audit
    state.metrics.watch_local_models(lambda: state.targets.adapters)  # queue depth, batch size
    state.metrics.gauge(
        "gateway_target_unavailable",
        "1 for each target the policy engine cannot use now (breaker open, key missing, failed start).",
        ["target"],
        lambda: {
            (name,): 1.0
            for name in [*state.targets.unavailable(state.policy.current.policy), *state.resilience.open_targets()]
        },
    )
    state.metrics.gauge(
        "gateway_ledger_pending", "Ledger rows not yet written.", [], lambda: {(): float(state.ledger.pending)}
    )
    state.metrics.gauge(
        "gateway_audit_pending",
        "Audit records not yet written.",
        [],
        lambda: {(): float(audit.pending if audit is not None else 0)},
    )


def _budgets(db: Database, redis: Redis | None, metrics: Metrics) -> BudgetKeeper:
    """Team budgets: counters in Redis when configured, else in this process;
    a counter that starts takes the month's spend from the ledger."""

    async def recorded(team: str, start: datetime, end: datetime) -> Decimal:
        return await asyncio.to_thread(db.team_spend, team, start, end)

    return BudgetKeeper(recorded, redis=redis, registry=metrics.registry)


def _redis(config: Config) -> Redis | None:
    """One pooled client per app. Every call is time-bounded: a slow Redis must
    degrade the features that use it, never hang a request."""
    if not config.redis_url:
        return None
    # A pooled connection that died with its server (a restart, a failover) fails once when next used:
    # one immediate reconnect then, or every stale connection would send its replica to local limits for
    # ``redis_retry_s`` (tests/scaleout/ restarts Redis under load and counts what one limit admitted).
    return Redis.from_url(
        config.redis_url,
        socket_timeout=0.25,
        socket_connect_timeout=0.25,
        health_check_interval=5,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )


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
        ner_models=settings.ner_models,
        compiled_ner=settings.compiled_ner and config.fast_paths.compiled_ner,
        renew_after_unseen=settings.renew_after_unseen,
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
