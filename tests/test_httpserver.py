"""gateway/httpserver.py: one write per response, and HTTP that is still HTTP.

The transport is tested over a recording transport on a real event loop; the protocol
under a real uvicorn server on loopback, with raw sockets as clients: plain, streamed,
HEAD, pipelined and closing responses arrive whole, and a plain response leaves the
server in one write.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from gateway import httpserver
from gateway.httpserver import CoalescingTransport, HttpProtocol


class _Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_write_buffer_size(self) -> int:
        return 0


def test_writes_of_one_pass_leave_as_one() -> None:
    async def scenario() -> None:
        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(memoryview(b"body"))
        transport.write(b"")
        assert raw.writes == [] and transport.get_write_buffer_size() == 23
        await asyncio.sleep(0)
        assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"] and transport.get_write_buffer_size() == 0
        transport.write(b"chunk 1")  # a stream: each pass its own write, none waits for the next
        await asyncio.sleep(0)
        transport.writelines([b"chunk ", b"2"])
        await asyncio.sleep(0)
        assert raw.writes[1:] == [b"chunk 1", b"chunk 2"]

    asyncio.run(scenario())


def test_close_writes_what_is_held_abort_drops_it_and_large_writes_do_not_wait() -> None:
    async def scenario() -> None:
        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        transport.write(b"last words")
        transport.close()
        assert raw.writes == [b"last words"] and raw.closed
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        assert raw.writes == [b"last words"]

        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        transport.write(b"never sent")
        transport.abort()
        await asyncio.sleep(0)
        assert raw.writes == [] and raw.aborted

        raw = _Recording()
        transport = CoalescingTransport(raw, asyncio.get_running_loop())
        big = b"x" * httpserver.FLUSH_AT
        transport.write(b"head")
        transport.write(big)
        assert raw.writes == [b"head" + big]  # at once: flow control sees it in the socket's buffer

    asyncio.run(scenario())


# -- under uvicorn ----------------------------------------------------------------

_WRITES: list[int] = []  # underlying writes per connection, in connection order


class _Counted(HttpProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        index = len(_WRITES)
        _WRITES.append(0)
        write = transport.write

        def counted(data: Any) -> None:
            _WRITES[index] += 1
            write(data)

        transport.write = counted  # type: ignore[method-assign]
        super().connection_made(transport)


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    await receive()
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for n in range(3):
            await send({"type": "http.response.body", "body": f"part {n}\n".encode(), "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = f"hello {scope['path']}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(_app, http=_Counted, lifespan="off", log_config=None, log_level="warning",
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


def _exchange(port: int, request: bytes, until: bytes, count: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(request)
        received = b""
        while received.count(until) < count:
            chunk = client.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_a_response_leaves_in_one_write(server: int) -> None:
    before = len(_WRITES)
    received = _exchange(server, b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n", b"hello /one")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"\r\n\r\nhello /one")
    time.sleep(0.05)
    assert _WRITES[before] == 1


def test_pipelined_streamed_head_and_closing_responses_arrive_whole(server: int) -> None:
    pipelined = b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n"
    received = _exchange(server, pipelined, b"hello /", count=2)
    assert received.index(b"hello /a") < received.index(b"hello /b")
    assert received.count(b"HTTP/1.1 200 OK") == 2

    before = len(_WRITES)
    streamed = _exchange(server, b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n", b"0\r\n\r\n")
    assert b"transfer-encoding: chunked" in streamed
    assert all(f"part {n}\n".encode() in streamed for n in range(3)) and streamed.endswith(b"0\r\n\r\n")
    time.sleep(0.05)
    assert _WRITES[before] >= 4  # the parts left as they were written, not held for the end

    head = _exchange(server, b"HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n", b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")

    with socket.create_connection(("127.0.0.1", server), timeout=5) as client:
        client.sendall(b"GET /bye HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        received = b""
        while chunk := client.recv(65536):  # the server closes after what it held went out
            received += chunk
    assert received.endswith(b"hello /bye") and b"connection: close" in received
