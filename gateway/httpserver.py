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
runs it (``http="gateway.httpserver:HttpProtocol"``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))
