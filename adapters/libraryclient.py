"""``HttpClient``'s interface over aiohttp: the library the gateway's own client replaces.

``fast_paths.http_client: false`` (or ``GATEWAY_FAST_PATHS=off``) makes
``OpenAICompatibleAdapter`` talk to its upstream through this instead of
``adapters/httpclient.py`` (``open_client``). It keeps the same contract where
aiohttp lets it: the same requests (what is sent is checked the same way, before
anything is written), the same limits (connections, connect and read timeouts,
keep-alive, header fields and their size, body size) and the same errors
(``adapters/httperrors.py``), so the adapter's one translation boundary does
not change. The oracle tests (``tests/adapters/test_httpclient.py``, marker
``oracle``) run every case of the own client's against this one on the same
loopback server's answers.

Where aiohttp differs, it is written down here and in the tests:

- header size: aiohttp limits each field (``max_field_size``, at most 16 KiB
  here), not the sum of all of them; the sum is checked once they have arrived;
- a kept-alive connection the server closed unseen: aiohttp reports the
  failure (a ``ReadError``) where the own client, having written nothing, opens
  a new connection and sends the request there.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final
from urllib.parse import urlsplit

import aiohttp

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
from adapters.httpresponse import MAX_BODY_BYTES, MAX_LINE

Headers = Sequence[tuple[bytes, bytes]]
MAX_FIELD_BYTES: Final = 16 << 10
_AUTO_HEADERS: Final = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})


@contextmanager
def _translated(limit_note: str) -> Iterator[None]:
    """aiohttp's errors as ``adapters/httperrors.py``'s, at this one boundary."""
    try:
        yield
    except HttpError:
        raise
    except aiohttp.ConnectionTimeoutError:
        raise ConnectTimeout("no connection in time") from None
    except aiohttp.SocketTimeoutError:
        raise ReadTimeout("nothing received in time") from None
    except aiohttp.ClientConnectorError as exc:
        raise ConnectError(f"connection failed ({type(exc).__name__})") from None
    except aiohttp.ClientResponseError as exc:
        message = str(exc.message)
        if "Too many headers" in message or "Got more than" in message or "too long" in message.lower():
            raise ResponseTooLarge(f"the response's headers passed a limit ({limit_note})") from None
        raise ProtocolError(f"not an HTTP/1.1 response ({message[:80]})") from None
    except aiohttp.ClientPayloadError:
        raise ReadError("the connection ended before the response did") from None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError) as exc:
        raise ReadError(f"the connection failed ({type(exc).__name__})") from None
    except TimeoutError:  # aiohttp's read timeout surfaces as the builtin on some paths
        raise ReadTimeout("nothing received in time") from None


class LibraryResponse:
    """``httpresponse.Response``'s reading side over an aiohttp response."""

    def __init__(self, response: aiohttp.ClientResponse, done: Callable[[], None], max_body_bytes: int) -> None:
        self._response = response
        self._done: Callable[[], None] | None = done
        self.max_body_bytes = max_body_bytes
        self.status = response.status
        self.headers: list[tuple[bytes, bytes]] = [(name.lower(), value) for name, value in response.raw_headers]
        self.body_bytes = 0

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case)."""
        return next((value for key, value in self.headers if key == name), None)

    async def _pieces(self) -> AsyncIterator[bytes]:
        with _translated("body"):
            while data := await self._response.content.readany():
                self.body_bytes += len(data)
                if self.body_bytes > self.max_body_bytes:
                    self.close()
                    raise ResponseTooLarge(f"the response body is larger than {self.max_body_bytes} bytes")
                yield data

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([piece async for piece in self._pieces()])

    async def lines(self) -> AsyncIterator[bytes]:
        """The body line by line (line ends removed), then the unterminated rest: as ``Response.lines``."""
        pending = bytearray()
        async for data in self._pieces():
            searched = len(pending)
            pending += data
            start = 0
            while (end := pending.find(b"\n", max(start, searched))) >= 0:
                yield bytes(pending[start:end]).removesuffix(b"\r")
                start = end + 1
            del pending[:start]
            if len(pending) > MAX_LINE:
                raise ProtocolError(f"a line of the response is longer than {MAX_LINE} bytes")
        if pending:
            yield bytes(pending).removesuffix(b"\r")

    def release(self) -> None:
        """Done: the connection is reused if the body was read to its end, else closed."""
        if not self._response.content.at_eof():
            self._response.close()
        self._response.release()
        self._free()

    def close(self) -> None:
        """Abandon the response: its connection is closed."""
        self._response.close()
        self._free()

    def _free(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()


class LibraryClient:
    """Keep-alive HTTP/1.1 to one origin through aiohttp; ``HttpClient``'s constructor and ``request``."""

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
        max_header_bytes: int = 64 << 10,
        max_headers: int = 100,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        for name, value in headers:
            check_header(name, value)
        if UNSAFE_PATH.search(url.path.encode()):
            raise ValueError("the URL's path has a character that is not allowed")
        self.base_url = base_url.rstrip("/")
        self._fixed = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
        self._ssl: ssl.SSLContext | bool = (ssl_context or True) if url.scheme == "https" else False
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.keepalive_s = keepalive_s
        self.max_connections = max_connections
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body_bytes = max_body_bytes
        self._places = asyncio.Semaphore(max_connections)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _opened(self) -> aiohttp.ClientSession:
        if self._session is None:  # made in the running loop, on first use
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=self.keepalive_s),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                max_field_size=min(self.max_header_bytes, MAX_FIELD_BYTES),
                max_line_size=min(self.max_header_bytes, MAX_FIELD_BYTES),
                max_headers=self.max_headers,
            )
        return self._session

    async def request(
        self,
        method: bytes,
        path: str,
        *,
        headers: Headers = (),
        body: bytes = b"",
        read_timeout_s: float | None = None,
        max_body_bytes: int | None = None,
    ) -> LibraryResponse:
        """Send the request and wait for the status line and headers (``HttpClient.request``)."""
        if self._closed:
            raise ConnectError("the client is closed")
        if UNSAFE_PATH.search(path.encode()) or UNSAFE_PATH.search(method):
            raise InvalidRequest("the request path has a character that is not allowed")
        for name, value in headers:
            check_header(name, value)
        limit = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        await self._take_place()
        try:
            response = await self._send(method, path, headers, body, read_timeout_s or self.read_timeout_s)
        except BaseException:
            self._places.release()
            raise
        exchange = LibraryResponse(response, self._places.release, limit)
        size = sum(len(name) + len(value) + 4 for name, value in response.raw_headers)
        if size > self.max_header_bytes:
            exchange.close()
            raise ResponseTooLarge(f"the response's headers are larger than {self.max_header_bytes} bytes")
        declared = response.content_length
        if declared is not None and declared > limit:
            exchange.close()
            raise ResponseTooLarge(f"the response body is larger than {limit} bytes")
        return exchange

    async def _send(
        self, method: bytes, path: str, headers: Headers, body: bytes, read_timeout_s: float
    ) -> aiohttp.ClientResponse:
        session = self._opened()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s, sock_read=read_timeout_s)
        sent = [*self._fixed, *((name.decode("latin-1"), value.decode("latin-1")) for name, value in headers)]
        with _translated(f"{self.max_headers} fields, {self.max_header_bytes} bytes"):
            return await session.request(
                method.decode("ascii"), self.base_url + path, data=body, headers=sent, timeout=timeout,
                allow_redirects=False, skip_auto_headers=_AUTO_HEADERS, ssl=self._ssl,
            )  # fmt: skip

    async def _take_place(self) -> None:
        if not self._places.locked():
            await self._places.acquire()
            return
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await self._places.acquire()
        except TimeoutError:
            raise PoolTimeout(f"no free connection within {self.connect_timeout_s:g} s") from None

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


__all__ = ["LibraryClient", "LibraryResponse"]
