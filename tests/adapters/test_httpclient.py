"""HttpClient against real sockets on loopback: framing, keep-alive, limits, failures, TLS.

Each test runs a small scripted HTTP/1.1 server (``Scripted``) in the test's
event loop: it reads each request whole and answers with the bytes the test
chose, so every framing and failure the client must handle is real traffic.

These are also the fast path's oracle tests (marker ``oracle``): every case runs
against the own client and against ``LibraryClient`` (aiohttp, the library it
replaces, ``fast_paths.http_client: false``) on the same server answers, and
both must give the same statuses, bodies, lines and errors. The few cases where
aiohttp cannot behave as the own client does are marked ``own_client_only``
with the reason (``adapters/libraryclient.py`` lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.httpclient import (
    ConnectError,
    HttpClient,
    InvalidRequest,
    PoolTimeout,
    ProtocolError,
    ReadError,
    ReadTimeout,
    ResponseTooLarge,
)
from adapters.libraryclient import LibraryClient
from tests.adapters.scripted import Scripted, ok

pytestmark = pytest.mark.oracle


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def own_client_only(reason: str) -> pytest.MarkDecorator:
    """A case the library (aiohttp) cannot meet: ``reason`` says why; it runs for the own client only."""
    return pytest.mark.own_client_only(reason=reason)


@pytest.fixture(params=["own", "aiohttp"])
async def client_of(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., HttpClient]]:
    kind = HttpClient if request.param == "own" else LibraryClient
    marker = request.node.get_closest_marker("own_client_only")
    if kind is LibraryClient and marker is not None:
        pytest.skip(f"the library differs here: {marker.kwargs['reason']}")
    made: list[HttpClient] = []

    def make(url: str, **kwargs: object) -> HttpClient:
        client = kind(url, **kwargs)  # type: ignore[arg-type]
        made.append(client)  # type: ignore[arg-type]
        return client  # type: ignore[return-value]

    yield make
    for client in made:
        await client.close()


async def test_sends_the_request_and_reads_a_sized_body(client_of: Callable[..., HttpClient]) -> None:
    async with Scripted(ok(b'{"answer":42}')) as server:
        client = client_of(server.url, headers=[(b"Authorization", b"Bearer k")])
        response = await client.request(b"POST", "/chat/completions", headers=[(b"x-request-id", b"r1")], body=b"{}")
        assert (response.status, await response.read()) == (200, b'{"answer":42}')
        assert response.header(b"content-type") == b"application/json"
        response.release()
    head, body = server.requests[0].split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1" and body == b"{}"
    fields = {name.lower() + b":" + value for name, _, value in (line.partition(b":") for line in lines[1:])}
    assert {
        b"host: 127.0.0.1:%d" % server.port,
        b"authorization: Bearer k",
        b"x-request-id: r1",
        b"content-length: 2",
    } <= fields  # fmt: skip (field names are case-insensitive: aiohttp capitalises)


async def test_chunked_body_read_by_lines_across_chunk_edges(client_of: Callable[..., HttpClient]) -> None:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in (b"data: one\r\n\r\nda", b"ta: two\n", b"\ndata: [DONE]\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        return True

    async with Scripted(answer) as server:
        response = await client_of(server.url).request(b"POST", "/x")
        lines = [line async for line in response.lines()]
        response.release()
    assert lines == [b"data: one", b"", b"data: two", b"", b"data: [DONE]", b""]


async def test_a_body_that_ends_when_the_connection_does(client_of: Callable[..., HttpClient]) -> None:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
        return False

    async with Scripted(answer) as server:
        response = await client_of(server.url).request(b"GET", "/x")
        assert await response.read() == b"until the end"
        response.release()


async def test_connections_are_kept_alive_and_reused(client_of: Callable[..., HttpClient]) -> None:
    async with Scripted(ok()) as server:
        client = client_of(server.url)
        for _ in range(3):
            response = await client.request(b"GET", "/models")
            await response.read()
            response.release()
        assert server.connections == 1 and len(server.requests) == 3


async def test_connection_close_is_honoured(client_of: Callable[..., HttpClient]) -> None:
    async with Scripted(ok(extra=b"connection: close\r\n")) as server:
        client = client_of(server.url)
        for _ in range(2):
            response = await client.request(b"GET", "/models")
            await response.read()
            response.release()
        assert server.connections == 2


async def test_idle_connections_expire_before_the_server_drops_them(client_of: Callable[..., HttpClient]) -> None:
    async with Scripted(ok()) as server:
        client = client_of(server.url, keepalive_s=0.05)
        for _ in range(2):
            response = await client.request(b"GET", "/models")
            await response.read()
            response.release()
            await asyncio.sleep(0.1)
        assert server.connections == 2 and server.closed_by_client >= 1


@own_client_only("aiohttp reports a reset kept-alive connection for a POST (ReadError) instead of resending it")
async def test_a_kept_alive_connection_the_server_closed_is_replaced(client_of: Callable[..., HttpClient]) -> None:
    """The server answers, then hangs up without saying so: the next request goes out on a new connection."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
        await ok()(reader, writer, request)
        writer.transport.abort()  # a reset the client learns of only when it next uses the connection
        return False

    async with Scripted(answer) as server:
        client = client_of(server.url)
        for _ in range(3):
            response = await client.request(b"POST", "/chat/completions", body=b"{}")
            assert await response.read() == b'{"ok":true}'
            response.release()
        assert len(server.requests) == 3  # each sent once


async def test_a_full_pool_waits_then_times_out(client_of: Callable[..., HttpClient]) -> None:
    async with Scripted(ok()) as server:
        client = client_of(server.url, max_connections=1, connect_timeout_s=0.1)
        held = await client.request(b"GET", "/models")  # not released: holds the only place
        with pytest.raises(PoolTimeout) as caught:
            await client.request(b"GET", "/models")
        assert caught.value.sent is False
        held.release()
        response = await client.request(b"GET", "/models")  # the place is free again
        await response.read()
        response.release()


async def test_no_answer_is_a_read_timeout(client_of: Callable[..., HttpClient]) -> None:
    async def answer(reader: asyncio.StreamReader, _: asyncio.StreamWriter, __: bytes) -> bool:
        await asyncio.sleep(5)
        return False

    async with Scripted(answer) as server:
        # the server closes without a word after 5 s: a ReadTimeout (not a closed connection) is the timeout's
        with pytest.raises(ReadTimeout) as caught:
            await client_of(server.url, read_timeout_s=0.1).request(b"GET", "/models")
        assert caught.value.sent


async def test_a_body_that_stops_coming_is_a_read_timeout(client_of: Callable[..., HttpClient]) -> None:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly a part")
        await asyncio.sleep(5)
        return False

    async with Scripted(answer) as server:
        response = await client_of(server.url, read_timeout_s=0.1).request(b"GET", "/models")
        with pytest.raises(ReadTimeout):
            await response.read()
        response.close()


async def test_refused_connection_sent_nothing(client_of: Callable[..., HttpClient], unused_port: int) -> None:
    with pytest.raises(ConnectError) as caught:
        await client_of(f"http://127.0.0.1:{unused_port}").request(b"GET", "/models")
    assert caught.value.sent is False


async def test_garbage_is_a_protocol_error(client_of: Callable[..., HttpClient]) -> None:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"SMTP ready, not HTTP\r\n\r\n")
        return True

    async with Scripted(answer) as server:
        with pytest.raises(ProtocolError):
            await client_of(server.url).request(b"GET", "/models")


async def test_a_reset_mid_body_is_a_read_error(client_of: Callable[..., HttpClient]) -> None:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart")
        await writer.drain()
        writer.transport.abort()
        return False

    async with Scripted(answer) as server:
        response = await client_of(server.url).request(b"GET", "/models")
        with pytest.raises(ReadError):
            await response.read()
        response.close()


async def test_an_abandoned_stream_closes_its_connection(client_of: Callable[..., HttpClient]) -> None:
    gone = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello\n\r\n")
        await writer.drain()
        if await reader.read(1) == b"":  # the client closed its side
            gone.set()
        return False

    async with Scripted(answer) as server:
        response = await client_of(server.url, read_timeout_s=5).request(b"POST", "/x")
        assert await anext(aiter(response.lines())) == b"hello"
        response.release()  # not read to its end: closed, not pooled
        await asyncio.wait_for(gone.wait(), 2)


async def test_a_large_body_is_read_whole_through_flow_control(client_of: Callable[..., HttpClient]) -> None:
    body = bytes(range(256)) * (5 * 4096)  # 5 MiB, more than the client buffers before pausing the socket
    async with Scripted(ok(body)) as server:
        response = await client_of(server.url).request(b"GET", "/big")
        assert await response.read() == body
        response.release()


async def test_https_with_the_given_trust(client_of: Callable[..., HttpClient], tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure")
        await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        response = await client_of(f"https://localhost:{port}", ssl_context=trusted).request(b"GET", "/")
        assert await response.read() == b"secure"
        response.release()
        with pytest.raises(ConnectError):  # the system's trust store does not know this certificate
            await client_of(f"https://localhost:{port}").request(b"GET", "/")
    finally:
        server.close()


def test_only_http_urls() -> None:
    with pytest.raises(ValueError):
        HttpClient("ftp://example.internal/v1")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_an_informational_response_is_skipped(client_of: Callable[..., HttpClient]) -> None:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        return True

    async with Scripted(answer) as server:
        response = await client_of(server.url).request(b"GET", "/models")
        assert (response.status, response.headers, await response.read()) == (200, [(b"content-length", b"2")], b"ok")
        response.release()


async def test_bytes_after_the_answer_never_reach_another_request(client_of: Callable[..., HttpClient]) -> None:
    """A second response on the wire would be read as the next request's answer: the connection is dropped."""

    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        first = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst"
        writer.write(first + b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstray")
        return True

    async with Scripted(answer) as server:
        client = client_of(server.url)
        response = await client.request(b"GET", "/a")
        assert await response.read() == b"first"
        response.release()
        again = await client.request(b"GET", "/b")
        assert await again.read() == b"first"  # its own answer, on a new connection, not "stray"
        again.release()
        assert server.connections == 2


async def test_an_endless_line_is_refused(client_of: Callable[..., HttpClient]) -> None:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(40):
            writer.write(b"%x\r\n%s\r\n" % (65536, b"x" * 65536))
            await writer.drain()
        return False

    async with Scripted(answer) as server:
        response = await client_of(server.url).request(b"POST", "/x")
        with pytest.raises(ProtocolError):
            async for _ in response.lines():
                pass
        response.close()


# -- limits on what a server may make the client hold ------------------------------------


async def test_response_headers_over_the_size_limit_are_refused(client_of: Callable[..., HttpClient]) -> None:
    """One header that would be 64 MiB, sent in pieces: the client hangs up at its limit, without
    waiting for the header to end (the parser holds a header whole until it does)."""
    written = 0

    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        nonlocal written
        writer.write(b"HTTP/1.1 200 OK\r\nx-filler: ")
        with contextlib.suppress(ConnectionError):
            while written < 64 << 20 and not writer.is_closing():
                writer.write(b"a" * 65536)
                written += 65536
                await writer.drain()
        return False

    async with Scripted(answer) as server:
        client = client_of(server.url, max_header_bytes=16384)
        with pytest.raises(ResponseTooLarge) as caught:
            await client.request(b"GET", "/models")
        assert "16384" in str(caught.value)
    assert written < 16 << 20


async def test_too_many_response_headers_are_refused(client_of: Callable[..., HttpClient]) -> None:
    many = b"".join(b"x-h%d: v\r\n" % i for i in range(200))
    async with Scripted(ok(extra=many)) as server:
        with pytest.raises(ResponseTooLarge):
            await client_of(server.url, max_headers=50).request(b"GET", "/models")
        response = await client_of(server.url, max_headers=250).request(b"GET", "/models")
        assert await response.read() == b'{"ok":true}'  # the same answer under a higher limit
        response.release()


async def test_a_declared_body_over_the_limit_is_refused_before_reading_it(
    client_of: Callable[..., HttpClient],
) -> None:
    async with Scripted(ok(b"x" * 5000)) as server:
        client = client_of(server.url, max_body_bytes=4096)
        with pytest.raises(ResponseTooLarge):
            await client.request(b"GET", "/big")
        response = await client.request(b"GET", "/big", max_body_bytes=5000)  # per request
        assert len(await response.read()) == 5000
        response.release()


async def test_an_endless_chunked_body_is_cut_at_the_limit(client_of: Callable[..., HttpClient]) -> None:
    sent = 0

    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        nonlocal sent
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while sent < 64 << 20:  # would be 64 MiB; the client stops it long before
                writer.write(b"%x\r\n%s\r\n" % (65536, b"y" * 65536))
                sent += 65536
                await writer.drain()
        return False

    async with Scripted(answer) as server:
        response = await client_of(server.url, max_body_bytes=1 << 20).request(b"POST", "/x")
        with pytest.raises(ResponseTooLarge):
            await response.read()
        response.close()
        assert sent < 16 << 20


# -- what is sent --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/a\r\nx-injected: 1", "/a\nb", "/a\x00", "/a b"])
async def test_a_path_that_would_split_the_request_is_refused(client_of: Callable[..., HttpClient],
                                                              path: str) -> None:  # fmt: skip
    async with Scripted(ok()) as server:
        with pytest.raises(InvalidRequest) as caught:
            await client_of(server.url).request(b"GET", path)
        assert caught.value.sent is False and server.requests == []


@pytest.mark.parametrize(("name", "value"), [(b"x-id", b"a\r\nx-injected: 1"), (b"x-id", b"a\nb"),
                                             (b"x-id", b"a\x00"), (b"x id", b"v"), (b"x:id", b"v")])  # fmt: skip
async def test_a_header_that_would_split_the_request_is_refused(
    client_of: Callable[..., HttpClient], name: bytes, value: bytes
) -> None:
    async with Scripted(ok()) as server:
        with pytest.raises(InvalidRequest):
            await client_of(server.url).request(b"GET", "/models", headers=[(name, value)])
        with pytest.raises(InvalidRequest):
            client_of(server.url, headers=[(name, value)])  # a key read from the environment, say
        assert server.requests == []


async def test_a_post_is_never_sent_twice_once_written(client_of: Callable[..., HttpClient]) -> None:
    """The server reads the second request on a kept-alive connection, then drops it: the
    upstream may have started the generation, so the client reports the failure, once."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
        if b"/second" in request:
            writer.transport.abort()
            return False
        return await ok()(reader, writer, request)

    async with Scripted(answer) as server:
        client = client_of(server.url)
        first = await client.request(b"POST", "/first", body=b"{}")
        await first.read()
        first.release()  # kept alive, reused by the next request
        with pytest.raises(ReadError) as caught:
            await client.request(b"POST", "/second", body=b"{}")
        assert caught.value.sent is True
        assert [r.split(b" ")[1] for r in server.requests] == [b"/v1/first", b"/v1/second"]
        assert server.connections == 1
