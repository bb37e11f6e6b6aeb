"""uvicorn's httptools protocol with bounds on what one client connection can make the server hold.

``HttpProtocol`` is uvicorn's ``HttpToolsProtocol``; ``gateway serve`` runs it
(``http=front_door(config.limits)``). It keeps what a client can make the server hold
bounded, which uvicorn's protocol does not (``FrontDoorLimits``, from the configuration's
``limits``):

- a request's line and headers together at most ``max_header_bytes``, and at most
  ``max_headers`` fields: else 431 and the connection is closed;
- its line and headers must arrive within ``header_timeout_s`` of its first byte (or
  of the connection, for the first request), its body within ``body_timeout_s`` of
  the end of the headers: else 408 (when no response has started) and the
  connection is closed. A client that trickles bytes holds a connection that long,
  no longer.

Otherwise it answers byte for byte as uvicorn's own protocol does
(``tests/test_httpserver_oracle.py``, re-run by ``make oracles`` when uvicorn or
httptools move: this class reaches into uvicorn's protocol). A transport that wrote
each response in one call (``CoalescingTransport``) sat under it until the fast
paths' budget measured what it bought: about 3 µs of the server's CPU per response
and no throughput the benchmark could tell from noise (``docs/performance.md``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.errors import HeadersTooLarge, InvalidRequest, RequestTimeout

log = logging.getLogger("gateway.http")


@dataclass(frozen=True, slots=True)
class FrontDoorLimits:
    """What one client connection may make the server hold (module docstring)."""

    max_header_bytes: int = 32 << 10
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``FrontDoorLimits``."""

    def __init__(self, *args: Any, limits: FrontDoorLimits | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits or FrontDoorLimits()
        self._in_head = True  # reading a request's line and headers (or waiting for its first byte)
        self._head_bytes = 0
        self._head_count = 0
        self._refused = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            room = self._limits.max_header_bytes - self._head_bytes
            if len(data) > room:  # feed what fits; the rest only if the headers ended within it
                head, data = data[:room], data[room:]
                self._head_bytes += len(head)
                super().data_received(head)
                if self._in_head and not self._refused:
                    self._refuse(HeadersTooLarge("The request headers are too large."))
                if self._refused:
                    return
            else:
                self._head_bytes += len(data)
        super().data_received(data)

    # -- parser callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # a keep-alive connection's next request: its headers have a deadline too
            self._arm(self._limits.header_timeout_s)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_count += 1
        if self._head_count > self._limits.max_headers:
            self._refuse(HeadersTooLarge("The request has too many header fields."))
            raise _Refused  # stops the parser: nothing more of this connection is read
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = self._head_count = 0
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._arm(self._limits.body_timeout_s)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refusal already answered (the parser error is ours)
            super().send_400_response(msg)

    # -- limits -------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        self._refuse(RequestTimeout("The request did not arrive in time."))

    def _refuse(self, error: InvalidRequest) -> None:
        """Answer ``error`` unless a response is being written on this connection, then close it."""
        self._refused = True
        self._disarm()
        cycle = self.cycle
        responding = cycle is not None and cycle.response_started and not cycle.response_complete
        if not responding and not self.transport.is_closing():
            body = orjson.dumps(error.body())
            self.transport.write(
                STATUS_LINE[error.status] + b"content-type: application/json\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s" % (len(body), body)
            )
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application's receive() now says the client left
            cycle.message_event.set()
        log.info("closed a connection: %d %s", error.status, error.code)
        self.transport.close()


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a refused request."""


def front_door(limits: Any) -> Any:
    """The protocol ``gateway serve`` gives uvicorn: ``HttpProtocol`` with the configuration's limits
    (``gateway.config.Limits``); a ``functools.partial``, so that it reaches worker processes."""
    door = FrontDoorLimits(
        max_header_bytes=limits.max_header_bytes, max_headers=limits.max_headers,
        header_timeout_s=limits.header_timeout_s, body_timeout_s=limits.body_timeout_s,
    )  # fmt: skip
    return functools.partial(HttpProtocol, limits=door)
