"""Typed FastAPI dependencies: the application state, the caller, role checks; and the JSON response."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from gateway.auth import authenticate
from gateway.errors import PermissionDenied
from gateway.http.state import GatewayState
from gateway.keys import Principal


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def state(request: Request) -> GatewayState:
    # async: FastAPI runs a plain function dependency in a worker thread, on every request
    return request.app.state.gateway  # type: ignore[no-any-return]


State = Annotated[GatewayState, Depends(state)]


async def principal(request: Request, gateway: State) -> Principal:
    """The caller's key, checked (401 when missing, unknown or revoked). ``openapi.py`` finds the
    routes that need a key by this function's name."""
    with gateway.telemetry.stage("auth"):
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
    """A dependency that lets in callers with one of ``roles`` (admin passes every check)."""

    async def check(caller: Caller) -> Principal:
        if not caller.has_role(*roles):
            raise PermissionDenied(f"This endpoint needs one of the roles: {', '.join(roles)}.")
        return caller

    return Depends(check)


# Roles per endpoint (docs/security.md); admin passes every check.
DataPlaneCaller = Annotated[Principal, require("user")]
