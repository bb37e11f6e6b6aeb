"""A small HTTP/1.1 client for one upstream origin, built for the data plane's request path.

``OpenAICompatibleAdapter`` talks to one vLLM-class server over this. It does
what that needs and nothing else, which is why it costs a fraction of a
general client per request (``bench/overhead``): keep-alive connections to
one ``scheme://host:port`` (TLS with the system's trust store for https),
``httptools`` (uvicorn's parser, llhttp) for responses with a length, chunked
or ending at close, a body read whole or line by line (server-sent events),
and these limits:

- ``max_connections``: connections open at once; a request waits at most
  ``connect_timeout_s`` for one of them (``PoolTimeout``);
- ``connect_timeout_s``: opening a connection (``ConnectTimeout``);
- ``read_timeout_s``: each wait for the next part of a response: the status
  line and headers, then each piece of the body (``ReadTimeout``), so a
  stream may run longer while data keeps coming;
- ``keepalive_s``: a connection idle that long is closed rather than reused,
  before the server would close it under a request;
- ``max_header_bytes`` and ``max_headers``: the response's header fields (names
  and values, informational responses included) and how many; ``max_body_bytes``:
  its body, per request (``request(max_body_bytes=...)``). Over one of them the
  connection is closed at once and the read fails with ``ResponseTooLarge``: a
  misbehaving server costs a bounded amount of memory, never all of it.

What is sent is checked: a path or header with CR, LF or NUL (or a path with a
space or a control byte) is refused before anything is written
(``InvalidRequest``), so no value can add a header or a second request.

No redirects, no proxies, no cookies, no retries: the caller decides what a
failure means. The one exception: a kept-alive connection found closed before
anything of the request was written to it is replaced by a new one, because the
server cannot have seen the request; once a byte of it was written the request
is never sent again (a duplicate generation is a duplicate bill).

Errors are ``HttpError`` subclasses (``adapters/httperrors.py``); ``sent`` on an
error says whether the request may have reached the server. A response that is not read
to its end closes its connection (that is how a server learns that a stream
was abandoned); one read to its end returns its connection to the pool.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

import httptools

from adapters.httperrors import (
    UNSAFE_PATH,
    ConnectError,
    ConnectTimeout,
    HttpError,
    InvalidRequest,
    PoolTimeout,
    ProtocolError,
    ReadError,
    ReadTimeout,
    ResponseTooLarge,
    check_header,
)
from adapters.httpresponse import MAX_BODY_BYTES, MAX_BUFFER, MAX_LINE, Response

__all__ = [
    "MAX_LINE", "ConnectError", "ConnectTimeout", "HttpClient", "HttpError", "InvalidRequest", "PoolTimeout",
    "ProtocolError", "ReadError", "ReadTimeout", "Response", "ResponseTooLarge",
]  # fmt: skip

Headers = Sequence[tuple[bytes, bytes]]

MAX_HEADER_BYTES: Final = 64 << 10  # defaults of the response limits (module docstring)
MAX_HEADERS: Final = 100


class _Connection(asyncio.Protocol):
    """One connection: a request at a time, its response parsed as it arrives."""

    def __init__(self, client: HttpClient) -> None:
        self._client = client
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.closed = False
        self.idle_since = 0.0
        self._header_name = b""
        self._header_bytes = 0
        self._header_count = 0
        self._too_large: ResponseTooLarge | None = None  # raised inside a parser callback
        self._paused = False

    # -- asyncio -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response.complete:
            # Bytes after the response ended, or nobody asked for: they would be read as the
            # next request's answer. The connection cannot be trusted any more.
            if response is not None:
                response.reusable = False
            self.close()
            return
        if not response.started:  # the status line and headers, counted on the wire: the parser
            room = self._client.max_header_bytes - self._header_bytes  # holds a header until it ends
            if len(data) > room:
                self._header_bytes += max(room, 0)
                self._feed(data[: max(room, 0)])
                if self.closed or response.started:
                    data = data[max(room, 0) :] if not self.closed else b""
                else:
                    limit = self._client.max_header_bytes
                    self._fail(ResponseTooLarge(f"the response headers are larger than {limit} bytes"))
                    return
            else:
                self._header_bytes += len(data)
        if data:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._fail(self._too_large or ProtocolError("the upstream sent a malformed response"))
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("the upstream switched protocols"))
        except httptools.HttpParserError:
            self._fail(ProtocolError("the upstream sent a malformed response"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None and not response.complete:
            if response.until_eof and response.started and exc is None:
                response.finish()  # a body that ends when the connection does (closed, not reset)
            else:
                response.fail(ReadError("the upstream closed the connection mid-response"))
        self._client.forget(self)

    # -- httptools callbacks ----------------------------------------------------

    def on_message_begin(self) -> None:
        if self.response is not None and self.response.complete:
            # A second message after the answer, in the same read: it belongs to no request.
            raise ProtocolError("the upstream sent more than one response")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += bool(name)
        if self._header_count > self._client.max_headers:
            self._too_large = ResponseTooLarge(f"the response has more than {self._client.max_headers} headers")
            raise self._too_large  # stops the parser at once (_feed fails the response)
        if name:
            self._header_name = name.lower()
            assert self.response is not None
            self.response.headers.append((self._header_name, value))
        elif self.response is not None and self.response.headers:  # a header value in several pieces
            last_name, last_value = self.response.headers[-1]
            self.response.headers[-1] = (last_name, last_value + value)

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # informational (100 Continue, 103 Early Hints): the answer follows
            response.headers.clear()
            return
        response.status = status
        names = {name for name, _ in response.headers}
        response.until_eof = b"content-length" not in names and b"transfer-encoding" not in names
        declared = response.header(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > response.max_body_bytes:
            self._too_large = ResponseTooLarge(f"the response body is larger than {response.max_body_bytes} bytes")
            raise self._too_large
        response.started = True
        response.wake()

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        if not self.response.feed(body):
            self._too_large = ResponseTooLarge(
                f"the response body is larger than {self.response.max_body_bytes} bytes"
            )
            raise self._too_large
        if self.response.buffered > MAX_BUFFER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        response = self.response
        assert response is not None
        if not response.started:  # the end of an informational response: keep reading
            return
        response.reusable = self._parser.should_keep_alive()
        response.finish()

    # -- for the client -------------------------------------------------------------

    def send(self, head: bytes, body: bytes, response: Response, *, reused: bool) -> None:
        assert self.transport is not None
        self.response = response
        if self.closed or self.transport.is_closing() or (reused and self._readable()):
            # Lost while idle (or the server said something unasked, which only a closing
            # server does): nothing of the request is written, so it may go out elsewhere.
            self.close()
            response.fail(ReadError("the connection closed before the request was sent"))
            return
        response.sent_at = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._header_bytes = self._header_count = 0
        self._too_large = None
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

    def _readable(self) -> bool:
        """Whether the idle socket has something to read: an end of stream or a reset not yet
        delivered by the event loop (one ``select`` call, no wait)."""
        assert self.transport is not None
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    @property
    def paused(self) -> bool:
        return self._paused

    def resume(self) -> None:
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def _fail(self, error: HttpError) -> None:
        if self.response is not None:
            self.response.fail(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpClient:
    """Keep-alive HTTP/1.1 to one origin; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 100,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        keepalive_s: float = 4.0,
        headers: Headers = (),
        ssl_context: ssl.SSLContext | None = None,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_headers: int = MAX_HEADERS,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.path = url.path.rstrip("/")
        self._ssl = (ssl_context or ssl.create_default_context()) if url.scheme == "https" else None
        authority = url.netloc.rsplit("@", 1)[-1]
        for name, value in headers:
            check_header(name, value)
        if UNSAFE_PATH.search(self.path.encode()):
            raise ValueError("the URL's path has a character that is not allowed")
        self._head_fixed = b"host: " + authority.encode("idna") + b"\r\n" + b"".join(
            name.lower() + b": " + value + b"\r\n" for name, value in headers
        )
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.keepalive_s = keepalive_s
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body_bytes = max_body_bytes
        self._places = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._closed = False

    async def request(
        self,
        method: bytes,
        path: str,
        *,
        headers: Headers = (),
        body: bytes = b"",
        read_timeout_s: float | None = None,
        max_body_bytes: int | None = None,
    ) -> Response:
        """Send the request and wait for the response's status line and headers.

        The caller reads the body from the ``Response`` and must ``release`` or
        ``close`` it: until then it holds one of the ``max_connections`` places.
        ``max_body_bytes`` replaces the client's for this response (a stream's is larger).
        """
        if self._closed:
            raise ConnectError("the client is closed")
        target = (self.path + path).encode()
        if UNSAFE_PATH.search(target) or UNSAFE_PATH.search(method):
            raise InvalidRequest("the request path has a character that is not allowed")
        for name, value in headers:
            check_header(name, value)
        head = b"".join((
            method, b" ", target, b" HTTP/1.1\r\n", self._head_fixed,
            b"".join(name + b": " + value + b"\r\n" for name, value in headers),
            b"content-length: ", str(len(body)).encode(), b"\r\n\r\n",
        ))  # fmt: skip
        await self._take_place()
        for fresh in (False, True):
            try:
                connection, reused = await self._connection(fresh)
            except BaseException:
                self._places.release()
                raise
            response = Response(
                self, connection, read_timeout_s or self.read_timeout_s, self._places.release,
                self.max_body_bytes if max_body_bytes is None else max_body_bytes,
            )  # fmt: skip
            try:
                connection.send(head, body, response, reused=reused)
                await response.start()
            except ReadError:
                if reused and not fresh and not response.written:
                    # A kept-alive connection found closed before anything was written to
                    # it: the server never saw the request. Once more, on a new connection.
                    response.close(keep_place=True)
                    continue
                response.close()
                raise
            except BaseException:
                response.close()
                raise
            return response
        raise AssertionError("unreachable")

    async def _take_place(self) -> None:
        if not self._places.locked():
            await self._places.acquire()
            return
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await self._places.acquire()
        except TimeoutError:
            raise PoolTimeout(f"no free connection within {self.connect_timeout_s:g} s") from None

    async def _connection(self, fresh: bool = False) -> tuple[_Connection, bool]:
        """A connection for one request, and whether it was used before."""
        now = time.monotonic()
        while self._idle and not fresh:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_s:
                return connection, True
            connection.close()
            self._open.discard(connection)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )  # fmt: skip
        except TimeoutError:
            raise ConnectTimeout(f"no connection within {self.connect_timeout_s:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"connection failed ({type(exc).__name__})") from None
        self._open.add(connection)
        return connection, False

    def give_back(self, connection: _Connection) -> None:
        if self._closed:
            connection.close()
            self._open.discard(connection)
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)

    async def close(self) -> None:
        self._closed = True
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
