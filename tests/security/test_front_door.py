"""The front door: what a client can make the server hold (gateway/httpserver.py).

The gateway is served by uvicorn with the protocol ``gateway serve`` uses
(``front_door(config.limits)``) on loopback, and each test talks raw sockets to
it: oversized and too many headers (431), headers and bodies that stop arriving
(408), a hundred connections stalled mid-body, all closed by the server, while
``/healthz`` and completions keep being answered. Timeouts are short here so
that every test is bounded to seconds.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from gateway.app import create_app
from gateway.config import Config, Limits
from gateway.httpserver import front_door
from gateway.policy.model import Target
from tests.fakes import KeywordClassifier, ScriptedAdapter

POLICY = Path(__file__).parent.parent / "data" / "routing.yaml"
LIMITS = Limits(max_header_bytes=8192, max_headers=40, header_timeout_s=0.6, body_timeout_s=0.6)
CHAT = {"model": "bank-standard", "messages": [{"role": "user", "content": "Hello"}]}


class Served:
    def __init__(self, app: Any, limits: Limits) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, http=front_door(limits), lifespan="on", log_config=None, log_level="warning",
                                access_log=False, loop="asyncio", timeout_graceful_shutdown=1)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=asyncio.run, args=(self.server.serve(sockets=[self.sock]),), daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return conn


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    work = tmp_path_factory.mktemp("front-door")
    mp = pytest.MonkeyPatch()
    mp.setenv("TEST_UPSTREAM_KEY", "sk-test")

    def factory(name: str, target: Target) -> ScriptedAdapter:
        return ScriptedAdapter(name)

    config = Config(policy=str(POLICY), database_url=f"sqlite:///{work}/gw.db", var_dir=str(work),
                    policy_watch_s=0, limits=LIMITS)  # fmt: skip
    app = create_app(config, classifier=KeywordClassifier(), adapter_factory=factory)
    with Served(app, LIMITS) as served:
        _, key = app.state.gateway.keys.create("payments", ["user"])
        yield served, key
    mp.undo()


def answer_of(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (10 s at most)."""
    received = b""
    while True:
        try:
            data = conn.recv(65536)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def chat_head(key: str, length: int) -> bytes:
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer %s\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % (key.encode(), length))  # fmt: skip


def healthy(served: Served) -> bool:
    return httpx.get(f"http://127.0.0.1:{served.port}/healthz", timeout=5).status_code == 200


def test_headers_over_the_size_limit_get_431_and_the_connection_closes(gateway: tuple[Served, str]) -> None:
    served, _ = gateway
    with served.connect() as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nx-big: " + b"a" * 9000 + b"\r\n\r\n")
        answer = answer_of(conn)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in answer and b'"code":"request_header_fields_too_large"' in answer
    assert healthy(served)


def test_a_header_flood_is_cut_off_not_read(gateway: tuple[Served, str]) -> None:
    """64 MiB of one header, offered as fast as the server takes it: it stops taking at the limit."""
    served, _ = gateway
    sent = 0
    with served.connect() as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nx-flood: ")
        piece = b"f" * 65536
        try:
            while sent < 64 << 20:
                conn.sendall(piece)
                sent += len(piece)
        except OSError:  # reset or broken pipe: the server closed the connection
            pass
        answer = answer_of(conn)
    assert sent < 64 << 20
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b""  # the reset may overtake the answer
    assert healthy(served)


def test_too_many_header_fields_get_431(gateway: tuple[Served, str]) -> None:
    served, _ = gateway
    with served.connect() as conn:
        fields = b"".join(b"x-h%d: v\r\n" % i for i in range(60))
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n" + fields + b"\r\n")
        assert answer_of(conn).startswith(b"HTTP/1.1 431 ")
    with served.connect() as conn:  # at the limit, answered
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n" + b"".join(b"x-h%d: v\r\n" % i for i in range(38))
                     + b"connection: close\r\n\r\n")  # fmt: skip
        assert answer_of(conn).startswith(b"HTTP/1.1 200 ")


def test_headers_that_stop_arriving_get_408(gateway: tuple[Served, str]) -> None:
    served, _ = gateway
    with served.connect() as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n")  # and nothing more
        answer = answer_of(conn)
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"code":"request_timeout"' in answer


def test_a_connection_that_never_speaks_is_closed(gateway: tuple[Served, str]) -> None:
    served, _ = gateway
    with served.connect() as conn:
        assert answer_of(conn).startswith(b"HTTP/1.1 408 ")


def test_a_body_that_stops_arriving_gets_408_and_nothing_is_called(gateway: tuple[Served, str]) -> None:
    served, key = gateway
    body = orjson.dumps(CHAT)
    with served.connect() as conn:
        conn.sendall(chat_head(key, len(body)) + body[:10])  # then the client stalls
        answer = answer_of(conn)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"Hello" not in answer


def test_a_slow_but_timely_body_is_served(gateway: tuple[Served, str]) -> None:
    served, key = gateway
    body = orjson.dumps({**CHAT, "stream": False})
    with served.connect() as conn:
        conn.sendall(chat_head(key, len(body)).replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n"))
        for start in range(0, len(body), 16):
            conn.sendall(body[start:start + 16])
            time.sleep(0.01)
        answer = answer_of(conn)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"Hello from the fake." in answer


def test_a_hundred_connections_stalled_mid_body_are_all_closed(gateway: tuple[Served, str]) -> None:
    """The incident: 100 connections stalled mid-body were held open indefinitely. Now each is
    answered 408 and closed, and the gateway serves others meanwhile."""
    served, key = gateway
    body = orjson.dumps(CHAT)
    stalled = [served.connect() for _ in range(100)]
    try:
        for conn in stalled:
            conn.sendall(chat_head(key, len(body)) + body[:5])
        response = httpx.post(f"http://127.0.0.1:{served.port}/v1/chat/completions", json=CHAT,
                              headers={"authorization": f"Bearer {key}"}, timeout=10)  # fmt: skip
        assert response.status_code == 200
        assert healthy(served)
        answers = [answer_of(conn) for conn in stalled]  # each ends: the server closed it
    finally:
        for conn in stalled:
            conn.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)


def _one_response(conn: socket.socket) -> bytes:
    """One whole response with a content-length (its head and body may arrive in separate reads)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))  # fmt: skip
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def test_keep_alive_requests_each_get_their_own_header_deadline(gateway: tuple[Served, str]) -> None:
    served, _ = gateway
    with served.connect() as conn:
        for _ in range(3):  # three requests on one connection, spread over more than one header timeout
            conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n")
            assert _one_response(conn).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.3)
