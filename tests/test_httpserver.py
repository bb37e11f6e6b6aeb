"""gateway/httpserver.py: HTTP that is still HTTP under the front door's protocol.

The protocol runs under a real uvicorn server on loopback, with raw sockets as clients:
plain, streamed, HEAD, pipelined and closing responses arrive whole. (Its answers against
uvicorn's own protocol, byte for byte:
``test_httpserver_oracle.py``; its limits: ``tests/security``.)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send

from gateway.httpserver import HttpProtocol
from tests.upstreams.asgi_server import serve_asgi


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
    yield from serve_asgi(_app, HttpProtocol)


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


def test_pipelined_streamed_head_and_closing_responses_arrive_whole(server: int) -> None:
    pipelined = b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n"
    received = _exchange(server, pipelined, b"hello /", count=2)
    assert received.index(b"hello /a") < received.index(b"hello /b")
    assert received.count(b"HTTP/1.1 200 OK") == 2

    streamed = _exchange(server, b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n", b"0\r\n\r\n")
    assert b"transfer-encoding: chunked" in streamed
    assert all(f"part {n}\n".encode() in streamed for n in range(3)) and streamed.endswith(b"0\r\n\r\n")

    head = _exchange(server, b"HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n", b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")

    with socket.create_connection(("127.0.0.1", server), timeout=5) as client:
        client.sendall(b"GET /bye HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        received = b""
        while chunk := client.recv(65536):  # the server closes after what it held went out
            received += chunk
    assert received.endswith(b"hello /bye") and b"connection: close" in received
