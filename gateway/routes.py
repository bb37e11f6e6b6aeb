"""HTTP routes: a few lines each. The work happens in ``serving.py``."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.app import GatewayState
from gateway.auth import authenticate
from gateway.dataplane import error_answer, serve_chat
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    PermissionDenied,
)
from gateway.keys import Principal
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

log = logging.getLogger("gateway.http")
router = APIRouter()


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def state(request: Request) -> GatewayState:
    # async: FastAPI runs a plain function dependency in a worker thread, on every request
    return request.app.state.gateway  # type: ignore[no-any-return]


State = Annotated[GatewayState, Depends(state)]


async def principal(request: Request, gateway: State) -> Principal:
    with gateway.telemetry.stage("auth"):
        return await _principal(request, gateway)


async def _principal(request: Request, gateway: State) -> Principal:
    return await authenticate(gateway.keys, request.headers.get("authorization", ""))


Caller = Annotated[Principal, Depends(principal)]


async def probe_caller(request: Request, gateway: State) -> Principal | None:
    """Platform probes send no key: no ``Authorization`` header is an anonymous probe
    (``None``, status only); a key that is sent is checked like anywhere else."""
    if "authorization" not in request.headers:
        return None
    return await principal(request, gateway)


ProbeCaller = Annotated[Principal | None, Depends(probe_caller)]


def require(*roles: str) -> Any:
    async def check(caller: Caller) -> Principal:
        if not caller.has_role(*roles):
            raise PermissionDenied(f"This endpoint needs one of the roles: {', '.join(roles)}.")
        return caller

    return Depends(check)


# Roles per endpoint (docs/security.md); admin passes every check.
DataPlaneCaller = Annotated[Principal, require("user")]


@router.post("/v1/chat/completions", openapi_extra={"security": [{"bearer": []}]})
async def chat_completions(request: Request) -> Response:
    # Served by ``gateway.dataplane.DataPlane`` before FastAPI sees the request; this
    # route describes it for /openapi.json and serves it where that middleware is absent.
    return await serve_chat(request.app.state.gateway, request.scope, request.receive)


@router.get("/v1/models")
async def list_models(gateway: State, caller: DataPlaneCaller) -> Response:
    policy = gateway.policy.current.policy
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": policy.name, "tier": model.tier}
        for name, model in policy.models.items()
        if caller.may_use(name)
    ]
    return ORJSONResponse({"object": "list", "data": data})


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
    cache = await gateway.chat.cache.readiness()  # "degraded" never makes the gateway unready
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


def install_error_handlers(app: FastAPI) -> None:
    async def gateway_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_answer(exc)

    async def validation_error(_: Request, exc: Exception) -> Response:
        return await gateway_error(_, InvalidRequest("The request is malformed."))

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = GatewayError("Not found." if exc.status_code == 404 else "Request not allowed.")
        error.status = exc.status_code
        error.type = "invalid_request_error"
        error.code = "not_found" if exc.status_code == 404 else "invalid_request"
        return await gateway_error(_, error)

    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return await gateway_error(_, GatewayError("The gateway failed to handle the request."))

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
