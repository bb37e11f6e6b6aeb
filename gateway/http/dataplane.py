"""The data plane's front door: the model APIs, served without the framework's layers.

Every model call comes through here, so what it costs is paid on every
request. ``DataPlane`` is an ASGI middleware just inside ``RequestMiddleware``
(request id, access log, the SERVER span): it serves the paths in its
``ENDPOINTS`` itself and passes everything else, the control plane, to
FastAPI. What it skips is what FastAPI and Starlette do for any route: the
router's scan, the exception and exit-stack middlewares, dependency
resolution, request and response objects that parse headers. The key and role
checks are the same code the other routes use (``gateway.auth``), errors are
rendered by the one renderer (``errors.py``). A data-plane path has no FastAPI
route: one route per path. ``openapi.py`` describes them.

A new API adds one ``Endpoint`` (its path, its roles, its handler, its error
shape, where its key is): the handler reads its body with ``read_body``
(``request.py``), translates it into a ``ChatCompletionRequest`` and calls
``ChatService.serve`` (see ``gateway/serving/__init__.py``); ``apis.py`` holds
those of Anthropic's Messages and OpenAI's Responses APIs. ``POST /v1/embeddings``
calls ``EmbeddingsService.handle`` (``gateway/serving/embeddings.py``): its call step differs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.apis import anthropic_messages
from gateway.apis.anthropic_wire import MessagesRequest
from gateway.apis.embeddings import EmbeddingsRequest
from gateway.apis.responses_wire import ResponsesRequest
from gateway.auth import authenticate
from gateway.errors import GatewayError, PermissionDenied
from gateway.http import apis
from gateway.http.errors import Answer, encoded, error_answer, http_error, unexpected
from gateway.http.request import bearer, header, read_body
from gateway.http.state import GatewayState
from gateway.keys import Principal
from gateway.logs import current_request_id
from gateway.protocol import ChatCompletionRequest
from gateway.serving import Outcome

log = logging.getLogger("gateway.http")

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"

Handler = Callable[[GatewayState, Principal, Scope, Receive], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One data-plane path. ``path`` is also what ``scope["route"]`` offers ``RequestMiddleware``
    (the route template of the access log and the span). ``render`` writes its errors (its API's
    error shape); the caller is authenticated and holds one of ``roles`` before ``handle`` runs."""

    path: str
    roles: tuple[str, ...]
    handle: Handler
    render: Callable[[GatewayError], Response] = error_answer
    credentials: Callable[[Scope], str] = bearer  # the key, as ``Authorization: Bearer <key>``
    error_schema: tuple[str, Mapping[str, Any]] | None = None  # (name, JSON Schema) when not OpenAI's ``Error``
    method: str = "POST"
    request_model: type[BaseModel] | None = None  # its body, for ``/openapi.json``
    summary: str = ""
    answers: str = ""  # what a 200 is, for ``/openapi.json``


async def serve_chat(gateway: GatewayState, caller: Principal, scope: Scope, receive: Receive) -> Response:
    """One chat completion request, from its ASGI scope to the response to send."""
    body = await read_body(scope, receive, gateway.config.limits.max_body_bytes)
    outcome = await gateway.chat.handle(
        body, caller, header(scope, b"cache-control").lower(), request_id=current_request_id()
    )
    return respond(outcome)


async def serve_embeddings(gateway: GatewayState, caller: Principal, scope: Scope, receive: Receive) -> Response:
    """One embeddings request (``gateway/serving/embeddings.py``), from its ASGI scope to the response."""
    assert gateway.embeddings is not None  # built with the app
    body = await read_body(scope, receive, gateway.config.limits.max_body_bytes)
    outcome = await gateway.embeddings.handle(
        body, caller, header(scope, b"cache-control").lower(), request_id=current_request_id()
    )
    return respond(outcome)


def respond(outcome: Outcome) -> Response:
    """The path's outcome as a response: JSON, or an event stream."""
    if outcome.stream is not None:
        headers = {**outcome.headers, "cache-control": "no-cache", "x-accel-buffering": "no"}
        return StreamingResponse(outcome.stream, media_type="text/event-stream", headers=headers)
    return Answer(200, orjson.dumps(outcome.body), encoded(outcome.headers))


CHAT = Endpoint(
    CHAT_PATH,
    ("user",),  # admin passes every role check
    serve_chat,
    request_model=ChatCompletionRequest,
    summary="Chat Completions",
    answers="A chat completion (JSON), or with stream: true a text/event-stream ending in [DONE].",
)
MESSAGES = Endpoint(
    apis.MESSAGES_PATH,
    ("user",),
    apis.serve_messages,
    render=apis.anthropic_error,
    credentials=apis.anthropic_credentials,  # Anthropic's clients send the key in x-api-key
    error_schema=("AnthropicError", anthropic_messages.ERROR_SCHEMA),
    request_model=MessagesRequest,
    summary="Anthropic Messages (translated into the chat path)",
    answers="An Anthropic message (JSON), or with stream: true Anthropic's event stream.",
)
RESPONSES = Endpoint(
    apis.RESPONSES_PATH,
    ("user",),
    apis.serve_responses,
    request_model=ResponsesRequest,
    summary="OpenAI Responses, stateless (translated into the chat path)",
    answers="A response object (JSON), or with stream: true the Responses API's typed events.",
)
EMBEDDINGS = Endpoint(
    EMBEDDINGS_PATH,
    ("user",),
    serve_embeddings,
    request_model=EmbeddingsRequest,
    summary="Embeddings",
    answers="One vector per input, in order (OpenAI's CreateEmbeddingResponse; base64 on request).",
)
ENDPOINTS: Mapping[str, Endpoint] = {
    CHAT_PATH: CHAT,
    EMBEDDINGS_PATH: EMBEDDINGS,
    apis.MESSAGES_PATH: MESSAGES,
    apis.RESPONSES_PATH: RESPONSES,
}


async def serve(endpoint: Endpoint, gateway: GatewayState, scope: Scope, receive: Receive) -> Response:
    """Authenticate, check the role, handle; any ``GatewayError`` in the endpoint's error shape."""
    try:
        if scope["method"] != endpoint.method:
            error = http_error(405)
            error.headers["allow"] = endpoint.method
            raise error
        with gateway.telemetry.stage("auth"):
            caller = await authenticate(gateway.keys, endpoint.credentials(scope))
        if not caller.has_role(*endpoint.roles):
            raise PermissionDenied(f"This endpoint needs one of the roles: {', '.join(endpoint.roles)}.")
        return await endpoint.handle(gateway, caller, scope, receive)
    except GatewayError as error:
        return endpoint.render(error)


class DataPlane:
    def __init__(self, app: ASGIApp, endpoints: Mapping[str, Endpoint] = ENDPOINTS) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = endpoint
        try:
            response = await serve(endpoint, scope["app"].state.gateway, scope, receive)
        except ClientDisconnect:
            return  # gone before its request was read: nothing was accepted, nothing to answer
        except Exception:
            log.exception("unexpected error")  # the type and frames, never the message (gateway/logs.py)
            response = endpoint.render(unexpected())
        await response(scope, receive, send)
