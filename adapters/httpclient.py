"""A small HTTP/1.1 client for one upstream origin, built for the data plane's request path.

``OpenAICompatibleAdapter`` talks to one vLLM-class server over this. It does
what that needs and nothing else, which is why it costs a fraction of a
general client per request (``bench/overhead``): keep-alive connections to
one ``scheme://host:port`` (TLS with the system's trust store for https),
``httptools`` (uvicorn's parser, llhttp) for responses with a length, chunked
or ending at close, a body read whole or line by line (server-sent events),
and four limits:

- ``max_connections``: connections open at once; a request waits at most
  ``connect_timeout_s`` for one of them (``PoolTimeout``);
- ``connect_timeout_s``: opening a connection (``ConnectTimeout``);
- ``read_timeout_s``: each wait for the next part of a response: the status
  line and headers, then each piece of the body (``ReadTimeout``), so a
  stream may run longer while data keeps coming;
- ``keepalive_s``: a connection idle that long is closed rather than reused,
  before the server would close it under a request.

No redirects, no proxies, no cookies, no retries: the caller decides what a
failure means. Errors are ``HttpError`` subclasses; ``sent`` on an error says
whether the request may have reached the server. A response that is not read
to its end closes its connection (that is how a server learns that a stream
was abandoned); one read to its end returns its connection to the pool.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

import httptools

Headers = Sequence[tuple[bytes, bytes]]

_MAX_BUFFER: Final = 1 << 20  # unread body bytes held before the socket stops being read
MAX_LINE: Final = 1 << 20  # the longest line ``Response.lines`` accepts
_STALE_WINDOW_S: Final = 0.05  # a reused connection lost this soon after the write never served it


class HttpError(Exception):
    """The exchange failed. ``sent``: the request may have reached the server."""

    sent = True


class ConnectError(HttpError):
    """No connection could be opened (refused, unresolvable, TLS failed): nothing was sent."""

    sent = False


class ConnectTimeout(ConnectError):
    """Opening a connection took longer than ``connect_timeout_s``: nothing was sent."""


class PoolTimeout(HttpError):
    """Every connection stayed busy for ``connect_timeout_s``: nothing was sent."""

    sent = False


class ReadTimeout(HttpError):
    """The server sent nothing for ``read_timeout_s`` while a response was awaited."""


class ReadError(HttpError):
    """The connection was reset or closed before the response was complete."""


class ProtocolError(HttpError):
    """The server's bytes are not an HTTP/1.1 response."""


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
        response._anything = True
        try:
            self._parser.feed_data(data)
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
        response.started = True
        response.wake()

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response.feed(body)
        if self.response.buffered > _MAX_BUFFER and self.transport is not None and not self._paused:
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

    def send(self, head: bytes, body: bytes, response: Response) -> None:
        assert self.transport is not None
        self.response = response
        if self.closed or self.transport.is_closing():  # lost while idle: the request cannot go out
            response.fail(ReadError("the connection closed before the request was sent"))
            return
        response.sent_at = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

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


class Response:
    """A response as it arrives. Read it whole (``read``) or by lines (``lines``), then
    ``release`` it (its connection is reused when it was read to the end) or ``close`` it."""

    def __init__(
        self, client: HttpClient, connection: _Connection, read_timeout_s: float, done: Callable[[], None]
    ) -> None:
        self._client = client
        self._connection: _Connection | None = connection
        self._done: Callable[[], None] | None = done  # frees the client's place, once
        self._read_timeout_s = read_timeout_s
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.started = False
        self.complete = False
        self.until_eof = False
        self.reusable = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self._error: HttpError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._anything = False  # set by the connection at the first byte
        self.sent_at = 0.0  # when the request was written; 0: it never was

    # -- fed by the connection ----------------------------------------------------

    def closed_unused(self) -> bool:
        """Whether the connection was found closed before or within moments of the write: the
        race of a kept-alive connection the server drops, not a server that failed on the request."""
        return self.sent_at == 0.0 or time.monotonic() - self.sent_at < _STALE_WINDOW_S

    @property
    def received(self) -> bool:
        """Whether any byte of the response has arrived."""
        return self.started or bool(self._chunks) or self._anything

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self.buffered += len(data)
        self.wake()

    def finish(self) -> None:
        self.complete = True
        self.wake()

    def fail(self, error: HttpError) -> None:
        if not self.complete and self._error is None:
            self._error = error
        self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- for the reader -----------------------------------------------------------

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case)."""
        return next((value for key, value in self.headers if key == name), None)

    async def _progress(self) -> None:
        """Wait until something arrives (headers, body, the end, an error), at most ``read_timeout_s``."""
        if self._error is not None:
            raise self._error
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._read_timeout_s):
                await self._waiter
        except TimeoutError:
            raise ReadTimeout(f"nothing received for {self._read_timeout_s:g} s") from None
        finally:
            self._waiter = None
        if self._error is not None:
            raise self._error

    async def start(self) -> None:
        """Wait for the status line and headers."""
        while not self.started:
            await self._progress()

    async def read(self) -> bytes:
        """The whole body."""
        parts: list[bytes] = []
        while True:
            while self._chunks:  # taken as they come: a paused socket is resumed as the buffer empties
                data = self._chunks.popleft()
                self._take(len(data))
                parts.append(data)
            if self.complete:
                return b"".join(parts)
            await self._progress()

    async def lines(self) -> AsyncIterator[bytes]:
        """The body line by line (line ends removed), then the unterminated rest if any.

        A line longer than ``MAX_LINE`` is a ``ProtocolError``: a server-sent event is small.
        """
        pending = bytearray()
        while True:
            while self._chunks:
                data = self._chunks.popleft()
                self._take(len(data))
                searched = len(pending)
                pending += data
                start = 0
                while (end := pending.find(b"\n", max(start, searched))) >= 0:
                    yield bytes(pending[start:end]).removesuffix(b"\r")
                    start = end + 1
                del pending[:start]
                if len(pending) > MAX_LINE:
                    raise ProtocolError(f"a line of the response is longer than {MAX_LINE} bytes")
            if self.complete:
                if pending:
                    yield bytes(pending).removesuffix(b"\r")
                return
            await self._progress()

    def _take(self, size: int) -> None:
        self.buffered -= size
        if self.buffered <= _MAX_BUFFER // 2 and self._connection is not None:
            self._connection.resume()

    def release(self) -> None:
        """Done with the response: the connection goes back to the pool if the response
        was complete and keep-alive, else it is closed."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        connection.response = None
        reusable = self.complete and self.reusable and not connection.closed and self._error is None
        if reusable and not connection.paused:  # a paused socket (an unread big body) is not reused
            self._client.give_back(connection)
        else:
            connection.close()
            self._client.forget(connection)
        self._free()

    def close(self, *, keep_place: bool = False) -> None:
        """Abandon the response: its connection is closed (a stream's server sees the client go)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.response = None
            connection.close()
            self._client.forget(connection)
        if not keep_place:
            self._free()

    def _free(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()


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
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.path = url.path.rstrip("/")
        self._ssl = (ssl_context or ssl.create_default_context()) if url.scheme == "https" else None
        authority = url.netloc.rsplit("@", 1)[-1]
        self._head_fixed = b"host: " + authority.encode("idna") + b"\r\n" + b"".join(
            name.lower() + b": " + value + b"\r\n" for name, value in headers
        )
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.keepalive_s = keepalive_s
        self._places = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._closed = False

    async def request(
        self, method: bytes, path: str, *, headers: Headers = (), body: bytes = b"", read_timeout_s: float | None = None
    ) -> Response:
        """Send the request and wait for the response's status line and headers.

        The caller reads the body from the ``Response`` and must ``release`` or
        ``close`` it: until then it holds one of the ``max_connections`` places.
        """
        if self._closed:
            raise ConnectError("the client is closed")
        head = b"".join((
            method, b" ", (self.path + path).encode(), b" HTTP/1.1\r\n", self._head_fixed,
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
            response = Response(self, connection, read_timeout_s or self.read_timeout_s, self._places.release)
            try:
                connection.send(head, body, response)
                await response.start()
            except ReadError:
                if reused and not fresh and not response.received and response.closed_unused():
                    # A kept-alive connection the server had closed (or closed as we wrote):
                    # it never saw the request. Once more, on a new connection.
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
