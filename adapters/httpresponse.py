"""A response of ``adapters/httpclient.py`` as it arrives: its body read whole or line by line."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, Protocol, TypeVar

from adapters.httperrors import HttpError, ProtocolError, ReadTimeout

MAX_BUFFER: Final = 1 << 20  # unread body bytes held before the socket stops being read
MAX_LINE: Final = 1 << 20  # the longest line ``Response.lines`` accepts
MAX_BODY_BYTES: Final = 8 << 20  # the default ``max_body_bytes``


class _Connection(Protocol):
    """What a response needs of ``httpclient``'s connection (named here, so neither module imports the other)."""

    response: Response | None
    closed: bool

    @property
    def paused(self) -> bool: ...

    def resume(self) -> None: ...

    def close(self) -> None: ...


_C = TypeVar("_C", bound=_Connection, contravariant=True)


class _Pool(Protocol[_C]):
    """What a response needs of ``httpclient.HttpClient``: where its connection goes when it is done."""

    def give_back(self, connection: _C, /) -> None: ...

    def forget(self, connection: _C, /) -> None: ...


class Response:
    """A response as it arrives. Read it whole (``read``) or by lines (``lines``), then
    ``release`` it (its connection is reused when it was read to the end) or ``close`` it."""

    def __init__(
        self,
        client: _Pool[Any],
        connection: _Connection,
        read_timeout_s: float,
        done: Callable[[], None],
        max_body_bytes: int = MAX_BODY_BYTES,
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
        self.max_body_bytes = max_body_bytes
        self.body_bytes = 0  # received so far
        self._error: HttpError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.sent_at = 0.0  # when the request was written; 0: it never was

    # -- fed by the connection ----------------------------------------------------

    @property
    def written(self) -> bool:
        """Whether any of the request was written to the connection (the server may have it)."""
        return self.sent_at != 0.0

    def feed(self, data: bytes) -> bool:
        """Take a piece of the body; ``False`` (and nothing kept) when it passes ``max_body_bytes``."""
        self.body_bytes += len(data)
        if self.body_bytes > self.max_body_bytes:
            return False
        self._chunks.append(data)
        self.buffered += len(data)
        self.wake()
        return True

    def finish(self) -> None:
        if self._error is None:  # a failed response (over a limit, say) never reads as complete
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
        if self.buffered <= MAX_BUFFER // 2 and self._connection is not None:
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
