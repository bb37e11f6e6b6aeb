"""The control plane's routes: models, probes, metrics, the OpenAPI document, policy administration.

A few lines each. The model APIs are the data plane's (``dataplane.py``); the
work happens in ``gateway/serving/``.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.apis.models import models_list
from gateway.http.deps import Caller, DataPlaneCaller, ORJSONResponse, ProbeCaller, State, require
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

router = APIRouter()


@router.get("/v1/models")
async def list_models(gateway: State, caller: DataPlaneCaller, api: str | None = None) -> Response:
    """The virtual models this key may use, each with the APIs it serves (``apis``); ``?api=embeddings``
    (or chat, responses, messages) lists only those that serve that API (``gateway/apis/models.py``)."""
    return ORJSONResponse(models_list(gateway.policy.current.policy, caller, api))


@router.get("/healthz")
async def healthz() -> Response:
    return ORJSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(gateway: State, caller: ProbeCaller) -> Response:
    targets = await gateway.targets.readiness()
    database = await asyncio.to_thread(gateway.db.ping)
    policy = gateway.policy.current.policy
    circuits = await gateway.resilience.breakers.states(policy.targets)  # open circuits: not used, not unready
    unavailable = {**await gateway.resilience.unavailable(policy.targets), **gateway.targets.unavailable(policy)}
    cache = await gateway.chat.services.cache.readiness()  # "degraded" never makes the gateway unready
    ready = gateway.ready and database and any(targets.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "database": "ok" if database else "unreachable",
        "targets": {name: "ready" if ok else "not_ready" for name, ok in targets.items()}
        | {name: f"unavailable: {why}" for name, why in unavailable.items()},
        "ledger_pending": gateway.ledger.pending,
        "ledger_spooled": gateway.ledger.spooled,
        "circuits": {name: view.state.value for name, view in circuits.items()},
        "shared_state": await gateway.resilience.shared_state(),  # redis for limits and circuits
        "cache": cache,
        "policy_version": gateway.policy.current.version,
    }
    if caller is None:  # a probe: the status only
        body = {"status": body["status"]}
    elif not caller.has_role("monitor"):  # target names and reasons are for operators
        body = {"status": body["status"], "policy_version": body["policy_version"]}
    return ORJSONResponse(body, status_code=200 if ready else 503)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, caller: Caller) -> Response:
    return ORJSONResponse(request.app.openapi())


@router.get("/metrics", dependencies=[require("monitor", "admin")])
async def metrics(gateway: State) -> Response:
    await gateway.resilience.breakers.states(gateway.policy.current.policy.targets)  # circuits as of now
    return Response(gateway.metrics.render(), media_type=METRICS_CONTENT_TYPE)


@router.get("/admin/policy", dependencies=[require("compliance", "admin")])
async def admin_policy(gateway: State) -> Response:
    return ORJSONResponse(gateway.policy.status())


@router.post("/admin/policy/reload", dependencies=[require("compliance", "admin")])
async def admin_policy_reload(gateway: State) -> Response:
    changed = await gateway.policy.reload()
    status = gateway.policy.status()
    return ORJSONResponse({"reloaded": changed, **status}, status_code=200 if status.get("error") is None else 422)
