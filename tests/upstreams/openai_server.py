"""A real OpenAI Chat Completions server on loopback, for integration tests.

``OpenAIUpstream`` serves a starlette app with uvicorn in a background thread
on ``127.0.0.1`` and a free port::

    with OpenAIUpstream(api_key="sk-test") as up:
        client_base_url = up.base_url          # http://127.0.0.1:PORT/v1
        ...
        assert up.chat_requests[-1].bearer == "sk-test"

It speaks the wire protocol (``POST /v1/chat/completions`` with and without
``stream``, ``stream_options.include_usage``, ``GET /v1/models``, ``GET /health``),
answers deterministically (``set_reply``), records every request it receives
(``requests``), and misbehaves on demand: each fault method queues a fault for
the next ``times`` requests to ``path`` (``times=None``: until ``clear_faults``).
Faults are taken first in, first out, one per request.

Connection resets are real TCP resets (see ``tests/upstreams/loopback.py``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.upstreams.chat_replies import (
    CREATED,
    MALFORMED_BODY,
    Reply,
    completion_body,
    error_response,
    sse_frames,
)
from tests.upstreams.embeddings_reply import embeddings_reply
from tests.upstreams.loopback import LoopbackServer, reset_connection, transport_of

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"

FaultKind = Literal["status", "hang", "reset", "malformed"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it. Header names are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    client_port: int = 0
    """The client's port: equal ports mean a reused connection."""

    @property
    def bearer(self) -> str | None:
        """The token of ``Authorization: Bearer <token>``, if any."""
        return _bearer(self.headers.get("authorization", ""))


@dataclass(slots=True)
class _Fault:
    kind: FaultKind
    path: str
    remaining: int | None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    after_chunks: int | None = None
    code: str | None = None


class OpenAIUpstream:
    """A loopback OpenAI-compatible upstream; see the module docstring."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] = ("test-model",),
        reply: Reply | None = None,
    ) -> None:
        self.api_key = api_key
        self.models = tuple(models)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._initial_reply = self._reply = reply or Reply()
        self._stream_delay_s = 0.0
        self._stream_usage = True
        self._echo_chunk_chars: int | None = None
        self._unfinished_bodies = 0
        self._unfinished_ports: list[int] = []
        app = Starlette(
            routes=[
                Route(CHAT_PATH, self._chat, methods=["POST"]),
                Route(EMBEDDINGS_PATH, self._embeddings, methods=["POST"]),
                Route(MODELS_PATH, self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ]
        )
        self._server = LoopbackServer(app)

    # -- life cycle -----------------------------------------------------------

    def start(self) -> OpenAIUpstream:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OpenAIUpstream:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``: ends in ``/v1``."""
        return f"{self.url}/v1"

    # -- what it saw ----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == CHAT_PATH]

    @property
    def unfinished_bodies(self) -> int:
        """Chunked bodies (streams) that stopped before their end: the client
        went away, or a fault cut them."""
        with self._lock:
            return self._unfinished_bodies

    @property
    def unfinished_ports(self) -> list[int]:
        """The client ports of the unfinished bodies: which request was cut (a count alone also takes
        in streams of earlier tests that end late)."""
        with self._lock:
            return list(self._unfinished_ports)

    # -- how it answers -------------------------------------------------------

    def set_reply(
        self,
        text: str,
        prompt_tokens: int = 11,
        completion_tokens: int = 3,
        cached_tokens: int = 0,
        *,
        tool_calls: Sequence[dict[str, Any]] = (),
        extras: dict[str, Any] | None = None,
    ) -> None:
        """``extras``: see ``Reply.extras`` (refusal, reasoning, logprobs, system_fingerprint)."""
        with self._lock:
            self._reply = Reply(text, prompt_tokens, completion_tokens, cached_tokens, tuple(tool_calls), extras)

    def slow_stream(self, delay_s: float) -> None:
        """Pause ``delay_s`` before each streamed chunk (0 turns it off)."""
        with self._lock:
            self._stream_delay_s = delay_s

    def echo(self, chunk_chars: int | None = 0) -> None:
        """Answer with the text of the request's last message (``None``: stop echoing); streamed in
        pieces of ``chunk_chars`` characters (0: word by word), so chunk boundaries fall anywhere."""
        with self._lock:
            self._echo_chunk_chars = chunk_chars

    def stream_usage(self, enabled: bool) -> None:
        """Whether streams honour ``stream_options.include_usage`` (some servers never send usage)."""
        with self._lock:
            self._stream_usage = enabled

    def reset(self) -> None:
        """Forget requests and faults; back to the first reply and full speed."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._reply = self._initial_reply
            self._stream_delay_s = 0.0
            self._stream_usage = True
            self._unfinished_bodies = 0
            self._unfinished_ports.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- faults ---------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        times: int | None = 1,
        *,
        headers: dict[str, str] | None = None,
        path: str = CHAT_PATH,
        code: str | None = None,
    ) -> None:
        """Answer ``status`` with an OpenAI error body that echoes the prompt (``code``: its error code)."""
        self._add(_Fault("status", path, times, status=status, headers=dict(headers or {}), code=code))

    def rate_limit_next(
        self, retry_after: float | str | None = 1, times: int | None = 1, *, path: str = CHAT_PATH
    ) -> None:
        """Answer 429, with ``Retry-After`` (seconds or an HTTP date) unless None."""
        headers = {} if retry_after is None else {"retry-after": _retry_after(retry_after)}
        self._add(_Fault("status", path, times, status=429, headers=headers))

    def hang_next(
        self,
        seconds: float,
        times: int | None = 1,
        *,
        after_chunks: int | None = None,
        path: str = CHAT_PATH,
    ) -> None:
        """Say nothing for ``seconds``: before the headers, or after ``after_chunks``
        chunks of the body (a non-streamed body is sent in two chunks)."""
        self._add(_Fault("hang", path, times, seconds=seconds, after_chunks=after_chunks))

    def reset_before_headers_next(self, times: int | None = 1, *, path: str = CHAT_PATH) -> None:
        """Read the request, then reset the connection without answering."""
        self._add(_Fault("reset", path, times))

    def reset_mid_stream_next(self, after_chunks: int = 2, times: int | None = 1, *, path: str = CHAT_PATH) -> None:
        """Send headers and ``after_chunks`` chunks of the body, then reset."""
        self._add(_Fault("reset", path, times, after_chunks=after_chunks))

    def malformed_json_next(self, times: int | None = 1, *, path: str = CHAT_PATH) -> None:
        """Answer 200 with a truncated JSON body (streamed: a broken first event)."""
        self._add(_Fault("malformed", path, times))

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path != path:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                return replace(fault)
        return None

    # -- handlers -------------------------------------------------------------

    async def _health(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse({"status": "ok"})

    async def _models(self, request: Request) -> Response:
        await self._record(request)
        early = self._deny(request) or await self._strike_early(self._take_fault(request.url.path), request, None)
        if early is not None:
            return early
        data = [{"id": name, "object": "model", "created": CREATED, "owned_by": "upstream"} for name in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
        body = await self._record(request)
        denied = self._deny(request)
        if denied is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_response(400, "messages is required")
        if not isinstance(body.get("model"), str):
            return error_response(400, "model is required")
        fault = self._take_fault(request.url.path)
        early = await self._strike_early(fault, request, body)
        if early is not None:
            return early
        with self._lock:
            reply, delay, stream_usage = self._reply, self._stream_delay_s, self._stream_usage
            echo = self._echo_chunk_chars
        if echo is not None:
            reply = replace(reply, text=_last_text(body))
        transport = transport_of(request.scope)
        if body.get("stream"):
            options = body.get("stream_options") or {}
            frames = sse_frames(
                body["model"], reply, stream_usage and bool(options.get("include_usage")), chunk_chars=echo or 0
            )
            if fault is not None and fault.kind == "malformed":
                frames[0] = b"data: " + MALFORMED_BODY + b"\n\n"
            return StreamingResponse(self._send(frames, fault, transport, delay), media_type="text/event-stream")
        payload = (
            MALFORMED_BODY
            if fault is not None and fault.kind == "malformed"
            else orjson.dumps(completion_body(body["model"], reply))
        )
        if fault is None or fault.after_chunks is None:
            return Response(payload, media_type="application/json")
        half = len(payload) // 2
        return StreamingResponse(
            self._send([payload[:half], payload[half:]], fault, transport, 0.0),
            media_type="application/json",
            headers={"content-length": str(len(payload))},
        )

    async def _embeddings(self, request: Request) -> Response:
        body = await self._record(request)
        denied = self._deny(request)
        if denied is not None:
            return denied
        fault = self._take_fault(request.url.path)
        early = await self._strike_early(fault, request, body)
        if early is not None:
            return early
        reply = embeddings_reply(body) if isinstance(body, dict) else None
        if reply is None:
            return error_response(400, "input must be a string or a list of strings")
        malformed = fault is not None and fault.kind == "malformed"
        return Response(MALFORMED_BODY if malformed else orjson.dumps(reply), media_type="application/json")

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        port = request.client.port if request.client else 0
        recorded = RecordedRequest(request.method, request.url.path, dict(request.headers), body, port)
        with self._lock:
            self._requests.append(recorded)
        return body

    def _deny(self, request: Request) -> Response | None:
        """401 unless a bearer token (the configured one, if any) came along."""
        token = _bearer(request.headers.get("authorization", ""))
        if token is None:
            return error_response(401, "missing bearer token", "invalid_api_key")
        if self.api_key is not None and token != self.api_key:
            return error_response(401, "incorrect API key", "invalid_api_key")
        return None

    async def _strike_early(self, fault: _Fault | None, request: Request, body: Any) -> Response | None:
        """Apply ``fault`` if it strikes before any header is sent."""
        if fault is None or fault.after_chunks is not None:
            return None
        if fault.kind == "status":
            message = f"injected failure; prompt was: {_prompt(body)}"
            return error_response(fault.status, message, fault.code, headers=fault.headers)
        if fault.kind == "hang":
            await self._server.pause(fault.seconds)
        elif fault.kind == "reset":
            await reset_connection(transport_of(request.scope))
            return Response(status_code=500)  # never reaches the client
        return None

    async def _send(
        self,
        frames: list[bytes],
        fault: _Fault | None,
        transport: asyncio.Transport,
        delay_s: float,
    ) -> AsyncIterator[bytes]:
        sent = 0
        try:
            for frame in frames:
                if fault is not None and fault.after_chunks == sent:
                    if fault.kind == "reset":
                        await reset_connection(transport)
                        return
                    if fault.kind == "hang":
                        await self._server.pause(fault.seconds)
                if delay_s:
                    await self._server.pause(delay_s)
                yield frame
                sent += 1
        finally:
            if sent < len(frames):
                peer = transport.get_extra_info("peername")
                with self._lock:
                    self._unfinished_bodies += 1
                    self._unfinished_ports.append(int(peer[1]) if peer else 0)


def _bearer(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _prompt(body: Any) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        return str(messages[-1].get("content"))
    return ""


def _last_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1].get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _retry_after(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:g}"
