"""uvicorn's httptools protocol, with what a connection is sent in one event-loop pass written at once.

uvicorn writes a response in two calls to its transport, the status line and headers, then
the body, and uvloop sends each at once: two system calls and two TCP segments for every
response, and a client that wakes up twice to read it. On the virtual machines banks run,
a system call that wakes another process costs tens of microseconds, a tenth of what the
gateway spends on a request without classification.

``CoalescingTransport`` holds what is written to it until the end of the event loop's
current pass (``loop.call_soon``), then writes it as one buffer; a response's two writes
happen in one pass, so they go out together. Nothing waits longer than that pass: a stream's
chunks, written as they arrive from the upstream, each go out in the pass that wrote them.
Flow control sees the held bytes (``get_write_buffer_size``), more than ``FLUSH_AT`` held
bytes are written at once, and ``close`` writes what is held before closing (``abort``
drops it, as a transport's ``abort`` does).

``HttpProtocol`` is uvicorn's ``HttpToolsProtocol`` over such a transport; ``gateway serve``
runs it (``http=front_door(config.limits)``). It also keeps what a client can make the
server hold bounded, which uvicorn's protocol does not (``FrontDoorLimits``, from the
configuration's ``limits``):

- a request's line and headers together at most ``max_header_bytes``, and at most
  ``max_headers`` fields: else 431 and the connection is closed;
- its line and headers must arrive within ``header_timeout_s`` of its first byte (or
  of the connection, for the first request), its body within ``body_timeout_s`` of
  the end of the headers: else 408 (when no response has started) and the
  connection is closed. A client that trickles bytes holds a connection that long,
  no longer.

A fast path (``gateway/fastpaths.py``): ``fast_paths.http_transport: false`` (or
``GATEWAY_FAST_PATHS=off``) keeps ``HttpProtocol`` and its limits but leaves
uvicorn's transport as it is (``coalesce=False``): each write goes out on its own.
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
from gateway.fastpaths import FastPaths

log = logging.getLogger("gateway.http")

FLUSH_AT = 256 * 1024  # bytes held before they are written without waiting for the pass to end


class CoalescingTransport(asyncio.Transport):
    """``transport``, its writes of one loop pass joined into one (module docstring)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._scheduled = False

    # -- writing ----------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._held.append(bytes(data))
        self._held_bytes += len(data)
        if self._held_bytes >= FLUSH_AT:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_scheduled)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush_scheduled(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Write what is held now."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        self._transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._held_bytes

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    # -- the rest is the transport's ----------------------------------------

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._held_bytes = 0
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


@dataclass(frozen=True, slots=True)
class FrontDoorLimits:
    """What one client connection may make the server hold (module docstring)."""

    max_header_bytes: int = 32 << 10
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a ``CoalescingTransport``, with ``FrontDoorLimits``.

    ``coalesce=False``: over uvicorn's own transport (the fast path switched off)."""

    def __init__(
        self, *args: Any, limits: FrontDoorLimits | None = None, coalesce: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits or FrontDoorLimits()
        self._coalesce = coalesce
        self._in_head = True  # reading a request's line and headers (or waiting for its first byte)
        self._head_bytes = 0
        self._head_count = 0
        self._refused = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop) if self._coalesce else transport)
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


def front_door(limits: Any, fast_paths: FastPaths | None = None) -> Any:
    """The protocol ``gateway serve`` gives uvicorn: ``HttpProtocol`` with the configuration's limits
    (``gateway.config.Limits``) and its ``fast_paths.http_transport`` (default: ``FastPaths.current()``);
    a ``functools.partial``, so that it reaches worker processes."""
    coalesce = (fast_paths or FastPaths.current()).http_transport
    door = FrontDoorLimits(
        max_header_bytes=limits.max_header_bytes, max_headers=limits.max_headers,
        header_timeout_s=limits.header_timeout_s, body_timeout_s=limits.body_timeout_s,
    )  # fmt: skip
    return functools.partial(HttpProtocol, limits=door, coalesce=coalesce)
