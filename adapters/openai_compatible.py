"""Adapter for OpenAI-compatible servers inside the bank: vLLM, TGI, llama.cpp, Ollama.

It speaks Chat Completions over one ``adapters.httpclient.HttpClient`` (a
keep-alive pool to the server) and is the one boundary where that client's
errors and upstream statuses become ``gateway.errors``:

============================================  =====================================
upstream outcome                              raised
============================================  =====================================
connect refused or timed out (nothing sent)   ``UpstreamUnreachable`` (retryable)
reset / closed mid-body                       ``UpstreamError(retryable=True)``
nothing received for ``timeout_s``; the       ``UpstreamTimeout`` (retryable)
call's ``deadline_s`` passed
no free pooled connection in time             ``Overloaded`` (``Retry-After: 1``)
HTTP 408, 409, 429, 5xx                       ``UpstreamError(retryable=True,
                                              upstream_status, retry_after_s)``
any other non-2xx (400, 401, 404, 3xx...)     ``UpstreamError(retryable=False)``
2xx with a body we cannot read (bad JSON,     ``UpstreamError(retryable=True,
no choices, a stream cut before its end)      upstream_status=<the 2xx>)``
an ``{"error": ...}`` event inside a stream   as its ``code`` were an HTTP status
headers, body or stream over the target's     ``UpstreamTooLarge`` (not retried;
``limits`` (``ResponseLimits``)               the connection is closed at once)
a header that would split the request         ``UpstreamError(retryable=False)``,
(CR, LF, NUL in a key, say)                   nothing sent
============================================  =====================================

An unreadable 2xx counts as retryable: it is what a truncated body, a proxy's
HTML page or an overloaded server produces, all transient, and the gateway's
retry budget bounds the cost if it is not. Messages name the upstream's host
and the status only; upstream bodies are never read into them, because an
upstream may echo the prompt.

Why a client of our own: this adapter is on the request path of every
on-prem call. A general client spends more per request than the rest of the
gateway does (``bench/http_clients.py``, CPU per call on the benchmark machine:
httpx about 1.4-2.4 ms, aiohttp 0.2-0.3 ms, ``HttpClient`` 0.07-0.15 ms), and this one
needs only keep-alive HTTP/1.1 to one server.

Connections: at most ``max_connections`` per adapter, kept alive and reused
(closed after 4 s idle, before the server closes them). A call waits up to
``connect_timeout_s`` for a free one (then ``Overloaded``) and as long again
to open one; ``timeout_s`` bounds each wait for data (so a stream may run
longer while tokens keep coming), and the call's ``deadline_s`` the whole
call, first byte to last. A stream closed early closes its connection, which
is how the upstream learns to stop.

No proxy or netrc environment setting is read: on-premises upstreams are
reached directly, with no credential but ``api_key``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import orjson

from adapters.base import Adapter, Chunk, Completion, ModelCall, ResponseLimits
from adapters.httpclient import (
    ConnectError,
    ConnectTimeout,
    HttpClient,
    HttpError,
    InvalidRequest,
    PoolTimeout,
    ProtocolError,
    ReadTimeout,
    Response,
    ResponseTooLarge,
)
from adapters.openai_wire import (
    SSEDecoder,
    StreamAssembler,
    chat_params,
    is_retryable_status,
    parse_completion,
    retry_after_seconds,
)
from gateway.errors import Overloaded, UpstreamError, UpstreamTimeout, UpstreamTooLarge, UpstreamUnreachable
from gateway.fastpaths import FastPaths

if TYPE_CHECKING:
    from adapters.libraryclient import LibraryClient, LibraryResponse

_DRAIN_AFTER_DONE_S: Final = 1.0
_YIELD_EVERY: Final = 32  # stream lines read before the event loop is given a turn
# Idle connections are dropped before the upstream would drop them (uvicorn, which
# vLLM runs on, closes after 5 s): a request never goes out on a connection being closed.
_KEEPALIVE_S: Final = 4.0


class OpenAICompatibleAdapter(Adapter):
    """Talks to one model of one OpenAI-compatible server at ``api_base`` (``.../v1``)."""

    ready_ttl_s: float = 5.0
    """How long a ``ready()`` answer is reused before the server is asked again."""

    def __init__(
        self,
        api_base: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_connections: int = 100,
        limits: ResponseLimits = ResponseLimits(),  # noqa: B008 - frozen, shared safely
        fast_client: bool | None = None,
    ) -> None:
        """``fast_client``: the gateway's own HTTP client (``adapters/httpclient.py``), else aiohttp's
        (``adapters/libraryclient.py``); ``None``: ``fast_paths.http_client``'s default."""
        self.fast_client = FastPaths.current().http_client if fast_client is None else fast_client
        self.api_base = api_base.rstrip("/")
        self.limits = limits
        self.model = model
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._max_connections = max_connections
        self._host = urlsplit(self.api_base).netloc.rsplit("@", 1)[-1]
        self._client: HttpClient | LibraryClient | None = None
        self._ready: tuple[float, bool] | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleAdapter({self._host!r}, {self.model!r})"

    async def start(self) -> None:
        if self._client is None:
            headers = [(b"user-agent", b"vaultroute")]
            if self._api_key:
                headers.append((b"authorization", f"Bearer {self._api_key}".encode()))
            if self.fast_client:
                kind: type[HttpClient | LibraryClient] = HttpClient
            else:
                from adapters.libraryclient import LibraryClient

                kind = LibraryClient
            self._client = kind(
                self.api_base, max_connections=self._max_connections, connect_timeout_s=self._connect_timeout_s,
                read_timeout_s=self._timeout_s, keepalive_s=_KEEPALIVE_S, headers=headers,
                max_header_bytes=self.limits.max_header_bytes, max_headers=self.limits.max_headers,
                max_body_bytes=self.limits.max_response_bytes,
            )  # fmt: skip

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def ready(self) -> bool:
        """Whether ``GET {api_base}/models`` succeeds; answers are reused ``ready_ttl_s``."""
        now = time.monotonic()
        if self._ready is not None and now - self._ready[0] < self.ready_ttl_s:
            return self._ready[1]
        ok = False
        if self._client is not None:
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    response = await self._client.request(b"GET", "/models")
                    try:
                        await response.read()
                    finally:
                        response.release()
                ok = 200 <= response.status < 300
            except (HttpError, TimeoutError):
                ok = False
        self._ready = (time.monotonic(), ok)
        return ok

    async def complete(self, call: ModelCall) -> Completion:
        client = self._started()
        deadline = asyncio.get_running_loop().time() + call.deadline_s
        with self._translate():
            async with asyncio.timeout_at(deadline):
                response = await client.request(
                    b"POST", "/chat/completions", headers=self._headers(call, b"application/json"),
                    body=self._body(call, stream=False),
                )  # fmt: skip
                try:
                    if not 200 <= response.status < 300:
                        raise self._status_error(response)
                    content = await response.read()
                finally:
                    response.release()
        try:
            return self._completion(orjson.loads(content))
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError):
            raise self._unreadable(response.status) from None

    async def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        client = self._started()
        deadline = asyncio.get_running_loop().time() + call.deadline_s
        with self._translate():
            async with asyncio.timeout_at(deadline):
                response = await client.request(
                    b"POST", "/chat/completions", headers=self._headers(call, b"text/event-stream"),
                    body=self._body(call, stream=True), max_body_bytes=self.limits.max_stream_bytes,
                )  # fmt: skip
        try:
            if not 200 <= response.status < 300:
                raise self._status_error(response)
            async for chunk in self._chunks(response, deadline):
                yield chunk
        finally:
            # Read to the end, the connection goes back to the pool; not read to the end
            # (closed early, failed), it is closed, which tells the upstream to stop.
            response.release()

    async def _chunks(self, response: Response | LibraryResponse, deadline: float) -> AsyncIterator[Chunk]:
        lines = response.lines()
        decoder = SSEDecoder()
        assembler = StreamAssembler()
        count = 0
        while True:
            count += 1
            if count % _YIELD_EVERY == 0:  # buffered lines come without a pause: give the loop and the deadline a turn
                await asyncio.sleep(0)
                if asyncio.get_running_loop().time() >= deadline:
                    raise UpstreamTimeout(f"upstream {self._host} did not finish within the deadline")
            with self._translate():
                async with asyncio.timeout_at(deadline):
                    raw = await anext(lines, None)
            line = raw.decode("utf-8", "replace") if raw is not None else None
            data = decoder.flush() if line is None else decoder.feed(line)
            if data == "[DONE]":
                break
            if data is not None:
                chunk = self._stream_event(assembler, data, response.status)
                if chunk is not None:
                    yield chunk
            if line is None:
                if assembler.final is None:
                    raise UpstreamError(f"upstream {self._host} ended the stream early", upstream_status=200)
                break
        yield assembler.finish()
        # Read to the end of the body, so that the connection goes back to the pool.
        with suppress(HttpError, TimeoutError):
            async with asyncio.timeout(_DRAIN_AFTER_DONE_S):
                async for _ in lines:
                    pass

    def _stream_event(self, assembler: StreamAssembler, data: str, status: int) -> Chunk | None:
        try:
            event = orjson.loads(data)
            if isinstance(event, dict) and "error" in event:
                raise self._event_error(event["error"])
            if not isinstance(event, dict):
                raise ValueError("event is not an object")
            return assembler.feed(event)
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError):
            raise self._unreadable(status) from None

    # -- request and response shapes -----------------------------------------

    def _body(self, call: ModelCall, *, stream: bool) -> bytes:
        body: dict[str, Any] = {"model": self.model, "messages": call.messages, **chat_params(call.params)}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return orjson.dumps(body)

    @staticmethod
    def _headers(call: ModelCall, accept: bytes) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", b"application/json"), (b"accept", accept)]
        if call.request_id:
            headers.append((b"x-request-id", call.request_id.encode("ascii", "replace")))
        return headers

    def _completion(self, data: Any) -> Completion:
        if isinstance(data, dict) and "error" in data and not data.get("choices"):
            raise self._event_error(data["error"])
        return parse_completion(data)

    # -- errors: the one HTTP-client boundary ------------------------------------

    def _started(self) -> HttpClient | LibraryClient:
        if self._client is None:
            raise RuntimeError(f"{self!r} used before start()")
        return self._client

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """The client's errors and our own deadline as ``gateway.errors``."""
        try:
            yield
        except PoolTimeout:
            raise Overloaded(f"no free connection to upstream {self._host}", headers={"retry-after": "1"}) from None
        except ConnectTimeout:
            raise UpstreamUnreachable(f"timed out connecting to upstream {self._host}") from None
        except ConnectError:
            raise UpstreamUnreachable(f"could not connect to upstream {self._host}") from None
        except ReadTimeout:
            raise UpstreamTimeout(f"upstream {self._host} sent nothing for {self._timeout_s:g} s") from None
        except TimeoutError:  # the call's deadline passed
            raise UpstreamTimeout(f"upstream {self._host} did not finish within the deadline") from None
        except ResponseTooLarge as exc:
            raise UpstreamTooLarge(f"upstream {self._host}: {exc}") from None
        except InvalidRequest:
            raise UpstreamError(f"a header for upstream {self._host} cannot be sent safely", retryable=False) from None
        except ProtocolError:
            raise self._unreadable(None) from None
        except HttpError as exc:  # ReadError: reset or closed mid-response
            raise UpstreamError(f"connection to upstream {self._host} failed ({type(exc).__name__})") from None

    def _status_error(self, response: Response | LibraryResponse) -> UpstreamError:
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in response.headers}
        return UpstreamError(
            f"upstream {self._host} answered HTTP {response.status}",
            retryable=is_retryable_status(response.status),
            upstream_status=response.status,
            retry_after_s=retry_after_seconds(headers),
        )

    def _event_error(self, error: object) -> UpstreamError:
        code = error.get("code") if isinstance(error, dict) else None
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        return UpstreamError(
            f"upstream {self._host} reported an error" + (f" (code {status})" if status else ""),
            retryable=status is None or is_retryable_status(status),
            upstream_status=status,
        )

    def _unreadable(self, status: int | None) -> UpstreamError:
        return UpstreamError(f"upstream {self._host} sent an unreadable response", upstream_status=status)
