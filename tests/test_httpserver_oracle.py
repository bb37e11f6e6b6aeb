"""The front door's protocol against uvicorn's own: the same requests, the same bytes back.

``HttpProtocol`` (uvicorn's ``HttpToolsProtocol`` with bounds on what a client can
make the server hold, reaching into uvicorn's internals) and ``HttpToolsProtocol``
itself serve the same ASGI app on loopback; raw sockets send each the same requests
(plain, pipelined, streamed, HEAD, a body, a chunked body, connection: close,
HTTP/1.0, a malformed request) and the responses must be the same bytes, the
``date`` header aside. A bump of uvicorn or httptools re-runs this (``make oracles``).
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.httpserver import HttpProtocol
from tests.upstreams.asgi_server import serve_asgi

pytestmark = pytest.mark.oracle


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for n in range(3):
            await send({"type": "http.response.body", "body": f"part {n}\n".encode(), "more_body": True})
            await asyncio.sleep(0.005)
        await send({"type": "http.response.body", "body": b""})
        return
    status = 404 if scope["path"] == "/missing" else 200
    text = f"{scope['method']} {scope['path']} {len(body)} {body[:20]!r}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


@pytest.fixture(scope="module")
def library() -> Iterator[int]:
    yield from serve_asgi(_app, HttpToolsProtocol)


@pytest.fixture(scope="module")
def fast() -> Iterator[int]:
    yield from serve_asgi(_app, HttpProtocol)


def _exchange(port: int, request: bytes) -> bytes:
    """Everything the server sends back until it closes the connection (each case ends with a close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(request)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
        return received


def _dateless(response: bytes) -> bytes:
    return re.sub(rb"(?im)^date: [^\r\n]*\r\n", b"", response)


_CLOSE = b"GET /bye HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"

CASES = {
    "plain": b"GET /one HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n" + _CLOSE,
    "streamed": b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n" + _CLOSE,
    "head": b"HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n" + _CLOSE,
    "body": b"POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 11\r\n\r\nhello world" + _CLOSE,
    "chunked body": b"POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    + b"5\r\nhello\r\n0\r\n\r\n"
    + _CLOSE,
    "not found": b"GET /missing HTTP/1.1\r\nhost: x\r\n\r\n" + _CLOSE,
    "http/1.0": b"GET /old HTTP/1.0\r\n\r\n",
    "malformed": b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_bytes_as_uvicorns_own_transport(case: str, library: int, fast: int) -> None:
    expected = _dateless(_exchange(library, CASES[case]))
    assert expected.startswith(b"HTTP/1.") or case == "malformed"
    assert _dateless(_exchange(fast, CASES[case])) == expected
