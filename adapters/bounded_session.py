"""An aiohttp session whose responses cannot grow without bound: litellm's HTTP client, limited.

litellm talks to closed APIs over aiohttp (its default transport, behind httpx's
interface) and reads what an upstream sends without a limit: a non-streamed
body whole, a stream for as long as it lasts. ``bounded_session`` builds the
``aiohttp.ClientSession`` that ``LiteLLMAdapter`` hands to every call
(litellm's ``shared_session`` argument), with the target's ``ResponseLimits``:

- header fields: at most ``max_headers`` of them, each at most
  ``min(max_header_bytes, 16 KiB)`` (aiohttp limits fields one by one, not
  their sum: the bound on all of them is the product);
- the body: a response whose ``content-length`` is over its limit is refused
  before its body is read; any other is counted as it is read, and reading
  past the limit closes the connection and raises ``BodyTooLarge``. The limit
  is ``max_stream_bytes`` for ``text/event-stream`` responses and
  ``max_response_bytes`` for others.

aiohttp's own flow control keeps at most a few hundred KiB unread per
response, so the counting sees everything that is held. ``BodyTooLarge``
reaches ``LiteLLMAdapter`` inside litellm's exception (its cause chain), where
it becomes ``UpstreamTooLarge``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
from aiohttp.client_reqrep import ClientResponse

from adapters.base import ResponseLimits

MAX_FIELD_BYTES: Final = 16 << 10
EVENT_STREAM: Final = "text/event-stream"


class BodyTooLarge(Exception):
    """The response's body passed its limit; its connection is closed."""


class _BoundedContent:
    """``StreamReader`` for a response body, counting what is read and stopping at ``limit``."""

    def __init__(self, inner: aiohttp.StreamReader, response: ClientResponse, limit: int) -> None:
        self._inner = inner
        self._response = response
        self._limit = limit

    def _checked(self, data: bytes) -> bytes:
        if self._inner.total_bytes > self._limit:
            self._response.close()  # the connection goes: the upstream learns that we stopped
            raise BodyTooLarge(f"the response body is larger than {self._limit} bytes")
        return data

    async def read(self, n: int = -1) -> bytes:
        if n < 0:  # the whole body: read it in pieces, so that the count stops it in time
            parts = [piece async for piece in self.iter_any()]
            return b"".join(parts)
        return self._checked(await self._inner.read(n))

    async def readany(self) -> bytes:
        return self._checked(await self._inner.readany())

    async def readline(self) -> bytes:
        return self._checked(await self._inner.readline())

    async def readexactly(self, n: int) -> bytes:
        return self._checked(await self._inner.readexactly(n))

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        while data := await self.read(n):
            yield data

    async def iter_any(self) -> AsyncIterator[bytes]:
        while data := await self.readany():
            yield data

    async def _lines(self) -> AsyncIterator[bytes]:
        while line := await self.readline():
            yield line

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._lines()

    def __getattr__(self, name: str) -> Any:  # at_eof, exception, total_bytes, on_eof...
        return getattr(self._inner, name)


class _BoundedResponse(ClientResponse):
    limits: ResponseLimits = ResponseLimits()

    async def start(self, connection: Any) -> ClientResponse:
        await super().start(connection)
        is_stream = self.content_type == EVENT_STREAM
        limit = self.limits.max_stream_bytes if is_stream else self.limits.max_response_bytes
        declared = self.content_length
        if declared is not None and declared > limit:
            self.close()
            raise BodyTooLarge(f"the response body is larger than {limit} bytes")
        self.content = _BoundedContent(self.content, self, limit)  # type: ignore[assignment]
        return self


def bounded_session(limits: ResponseLimits, *, keepalive_s: float = 4.0) -> aiohttp.ClientSession:
    """A session for one target's calls; close it with the adapter. Call from a running loop."""
    response_class = type("BoundedResponse", (_BoundedResponse,), {"limits": limits})
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(keepalive_timeout=keepalive_s),
        cookie_jar=aiohttp.DummyCookieJar(),
        response_class=response_class,
        max_field_size=min(limits.max_header_bytes, MAX_FIELD_BYTES),
        max_line_size=min(limits.max_header_bytes, MAX_FIELD_BYTES),
        max_headers=limits.max_headers,
    )
