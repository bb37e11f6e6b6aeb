"""Errors at the HTTP edge, rendered in one place.

``error_answer`` writes any ``GatewayError`` as its response (through the one
renderer, ``gateway.errors.render``); ``install_error_handlers`` routes
FastAPI's and Starlette's own failures (validation, 404, 405, a bug) to it.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway.errors import GatewayError, InvalidRequest, render

log = logging.getLogger("gateway.http")


class Answer(Response):
    """A JSON answer whose headers are already bytes: Starlette's ``Response`` without
    its header parsing and defaults (what ``__call__`` sends is the same)."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers]


def encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def error_answer(error: GatewayError) -> Answer:
    status, body, headers = render(error)
    return Answer(status, orjson.dumps(body), encoded(headers))


def http_error(status: int) -> GatewayError:
    """Starlette's routing failures (404, 405) as the gateway's error."""
    error = GatewayError("Not found." if status == 404 else "Request not allowed.")
    error.status = status
    error.type = "invalid_request_error"
    error.code = "not_found" if status == 404 else "invalid_request"
    return error


def unexpected() -> GatewayError:
    """A bug: the client learns nothing of it (the log has the type and frames)."""
    return GatewayError("The gateway failed to handle the request.")


async def _gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_answer(exc)


async def _validation_error(_: Request, exc: Exception) -> Response:
    return error_answer(InvalidRequest("The request is malformed."))


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return error_answer(http_error(exc.status_code))


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return error_answer(unexpected())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
