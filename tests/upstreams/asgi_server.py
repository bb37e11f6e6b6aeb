"""An ASGI app served by uvicorn on a loopback port, in a thread: the front door's tests' server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.types import ASGIApp


def serve_asgi(app: ASGIApp, protocol: Any) -> Iterator[int]:
    """Serve ``app`` over the HTTP ``protocol`` class (uvicorn's ``http=``); yields the port, then stops it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http=protocol, lifespan="off", log_config=None, log_level="warning",
                            access_log=False, loop="uvloop")  # fmt: skip
    running = uvicorn.Server(config)

    async def serve() -> None:
        with sock:
            await running.serve(sockets=[sock])

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    yield port
    running.should_exit = True
    thread.join(10)
