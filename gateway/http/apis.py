"""The front doors of ``POST /v1/messages`` (Anthropic) and ``POST /v1/responses`` (OpenAI).

Each API is three translations at the edge and nothing else (``gateway/apis/``):

- its request, parsed strictly into its own wire models, becomes the one
  validated ``ChatCompletionRequest`` (what it cannot express is refused with a
  400 in the API's own error shape, never dropped);
- that request takes the chat path, ``ChatService.serve``: classify, decide,
  call, record, with the API's name on the record. No stage is copied here:
  what leaves for a target is what the path built and classified from the
  translated request;
- the path's answer is written by the API's ``Wire`` (``MessagesWire``,
  ``ResponsesWire``): its JSON body, or its event stream.

``dataplane.py`` makes them ``Endpoint``s: the key and role checks are the data
plane's, the error shape the API's (``anthropic_error`` for Messages; OpenAI's
for Responses), and Messages also takes its key from ``x-api-key``.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope

from gateway.apis import anthropic_messages, responses
from gateway.apis.anthropic_answer import MessagesWire
from gateway.apis.responses_answer import ResponsesWire
from gateway.errors import AuthenticationFailed, GatewayError, PayloadTooLarge
from gateway.http.errors import Answer, encoded
from gateway.http.request import header, read_body
from gateway.http.state import GatewayState
from gateway.keys import Principal
from gateway.logs import current_request_id, new_request_id
from gateway.protocol import ChatCompletionRequest
from gateway.record import Api
from gateway.serving import Outcome, WireFor

MESSAGES_PATH = "/v1/messages"
RESPONSES_PATH = "/v1/responses"


async def serve_messages(gateway: GatewayState, caller: Principal, scope: Scope, receive: Receive) -> Response:
    request = anthropic_messages.parse(await read_body(scope, receive, gateway.config.limits.max_body_bytes))
    return await _serve(gateway, caller, scope, anthropic_messages.to_chat(request), "messages", MessagesWire)


async def serve_responses(gateway: GatewayState, caller: Principal, scope: Scope, receive: Receive) -> Response:
    request = responses.parse(await read_body(scope, receive, gateway.config.limits.max_body_bytes))

    def wire(request_id: str, _: ChatCompletionRequest) -> ResponsesWire:
        return ResponsesWire(request_id, request)  # its answer echoes the Responses request's settings

    return await _serve(gateway, caller, scope, responses.to_chat(request), "responses", wire)


async def _serve(
    gateway: GatewayState, caller: Principal, scope: Scope, chat: ChatCompletionRequest, api: Api, wire: WireFor
) -> Response:
    limit = gateway.config.limits.max_messages
    if len(chat.messages) > limit:  # as the chat path's own parse refuses it
        raise PayloadTooLarge(f"At most {limit} messages are accepted.", param="messages")
    request_id = current_request_id() or new_request_id()
    cache_control = header(scope, b"cache-control").lower()
    outcome = await gateway.chat.serve(chat, caller, cache_control, api=api, wire=wire, request_id=request_id)
    return _respond(outcome)


def _respond(outcome: Outcome) -> Response:
    headers = dict(outcome.headers)
    if "x-request-id" in headers:
        headers["request-id"] = headers["x-request-id"]  # where Anthropic's clients look for it
    if outcome.stream is not None:
        headers |= {"cache-control": "no-cache", "x-accel-buffering": "no"}
        return StreamingResponse(outcome.stream, media_type="text/event-stream", headers=headers)
    return Answer(200, orjson.dumps(outcome.body), encoded(headers))


def anthropic_credentials(scope: Scope) -> str:
    """``Authorization: Bearer <key>``, or Anthropic's ``x-api-key: <key>``: as ``authenticate`` reads it."""
    authorization = header(scope, b"authorization")
    if authorization:
        return authorization
    key = header(scope, b"x-api-key").strip()
    if not key:
        raise AuthenticationFailed("Missing API key: send 'x-api-key: <key>' or 'Authorization: Bearer <key>'.")
    return f"Bearer {key}"


def anthropic_error(error: GatewayError) -> Response:
    """Any error of ``/v1/messages``, the key's included, in Anthropic's shape."""
    request_id = current_request_id()
    if request_id:
        error.headers.setdefault("x-request-id", request_id)
    status, body, headers = anthropic_messages.error_answer(error)
    return Answer(status, orjson.dumps(body), encoded(headers))
