"""The data plane's front door: ``POST /v1/chat/completions`` without the framework's layers.

Every model call comes through this one route, so what it costs is paid on
every request. ``DataPlane`` is an ASGI middleware just inside
``RequestMiddleware`` (request id, access log, the SERVER span): it serves
``POST /v1/chat/completions`` itself (``serve_chat``) and passes everything
else, the control plane, to FastAPI. What it skips is what FastAPI and
Starlette do for any route: the router's scan, the exception and exit-stack
middlewares, dependency resolution, request and response objects that parse
headers. The key and role checks are the same code the other routes use
(``gateway.auth``), errors are rendered by the one renderer
(``gateway.errors.render``).

The FastAPI route of the same path stays registered (``routes.py``): it is
what ``/openapi.json`` describes, and it calls ``serve_chat`` too where an
app is assembled without this middleware.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import authenticate
from gateway.errors import GatewayError, PayloadTooLarge, PermissionDenied, render
from gateway.logs import current_request_id

if TYPE_CHECKING:
    from gateway.app import GatewayState

log = logging.getLogger("gateway.http")

CHAT_PATH = "/v1/chat/completions"
ROLES = ("user",)  # admin passes every check (Principal.has_role)


@dataclass(frozen=True, slots=True)
class _Route:
    """What ``scope["route"]`` must offer to ``RequestMiddleware``: the route's template."""

    path: str


_CHAT_ROUTE = _Route(CHAT_PATH)


class Answer(Response):
    """A JSON answer whose headers are already bytes: Starlette's ``Response`` without
    its header parsing and defaults (what ``__call__`` sends is the same)."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers]


def error_answer(error: GatewayError) -> Answer:
    status, body, headers = render(error)
    return Answer(status, orjson.dumps(body), _encoded(headers))


async def serve_chat(gateway: GatewayState, scope: Scope, receive: Receive) -> Response:
    """One chat completion request, from its ASGI scope to the response to send."""
    try:
        with gateway.telemetry.stage("auth"):
            caller = await authenticate(gateway.keys, _header(scope, b"authorization"))
        if not caller.has_role(*ROLES):
            raise PermissionDenied(f"This endpoint needs one of the roles: {', '.join(ROLES)}.")
        body = await _read_body(scope, receive, gateway.config.limits.max_body_bytes)
        outcome = await gateway.chat.handle(
            body, caller, _header(scope, b"cache-control").lower(), request_id=current_request_id()
        )
    except GatewayError as error:
        return error_answer(error)
    if outcome.stream is not None:
        headers = {**outcome.headers, "cache-control": "no-cache", "x-accel-buffering": "no"}
        return StreamingResponse(outcome.stream, media_type="text/event-stream", headers=headers)
    return Answer(200, orjson.dumps(outcome.body), _encoded(outcome.headers))


class DataPlane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = _CHAT_ROUTE
        try:
            response = await serve_chat(scope["app"].state.gateway, scope, receive)
        except ClientDisconnect:
            return  # gone before its request was read: nothing was accepted, nothing to answer
        except Exception:
            log.exception("unexpected error")  # the type and frames, never the message (gateway/logs.py)
            response = error_answer(GatewayError("The gateway failed to handle the request."))
        await response(scope, receive, send)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to be over ``limit`` bytes."""
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        part = message.get("body", b"")
        if part:
            size += len(part)
            if size > limit:
                raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
            parts.append(part)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


def _header(scope: Scope, name: bytes) -> str:
    """The first value of a request header (lower-case ``name``), or ``""``."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
