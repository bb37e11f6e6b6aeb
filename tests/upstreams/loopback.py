"""An ASGI app served by uvicorn on ``127.0.0.1`` in a background thread.

The server's protocol class puts each connection's asyncio transport in the
ASGI scope (``transport_of(scope)``), so an app can reset a connection for real
(``reset_connection``): ``SO_LINGER`` zero, then abort, which sends a TCP RST.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from contextlib import suppress
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

_TRANSPORT_KEY = "loopback.transport"


def transport_of(scope: Scope) -> asyncio.Transport:
    """The transport of the connection that carried the request of ``scope``."""
    transport: asyncio.Transport = scope[_TRANSPORT_KEY]
    return transport


async def reset_connection(transport: asyncio.Transport) -> None:
    """Reset the TCP connection (RST), once what was written has left."""
    for _ in range(100):
        if transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.001)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0.01)  # let uvicorn see the connection lost before the app returns


class _TransportInScope(H11Protocol):
    """uvicorn's h11 protocol, with the connection's transport in the ASGI scope."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        app = self.app

        async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
            scope[_TRANSPORT_KEY] = transport
            await app(scope, receive, send)

        self.app = with_transport


class LoopbackServer:
    """Serves ``app`` on ``127.0.0.1`` and a free port between ``start`` and ``stop``."""

    def __init__(self, app: ASGIApp, *, lifespan: str = "off", start_timeout_s: float = 10) -> None:
        self._app = app
        self._start_timeout_s = start_timeout_s
        self._lifespan = lifespan
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # With IPPROTO_TCP named, asyncio sets TCP_NODELAY on accepted connections.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            http=_TransportInScope,
            lifespan=self._lifespan,  # type: ignore[arg-type]
            log_config=None,  # leave the test process's logging alone
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = self._server = uvicorn.Server(config)
        thread = self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock),), name=f"loopback-{self.port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback server did not start")
            time.sleep(0.005)

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        with sock:
            await self._server.serve(sockets=[sock])

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            with suppress(RuntimeError):  # the loop is already gone
                self._loop.call_soon_threadsafe(self._stopping.set)
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    async def pause(self, seconds: float) -> None:
        """Sleep in a request handler, but wake up when the server is stopping."""
        assert self._stopping is not None
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
