"""A loopback HTTP/1.1 server whose answers a test writes (``tests/adapters/test_httpclient.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]]
"""Writes the response to one request; returns False to stop serving the connection."""


class Scripted:
    """A loopback HTTP/1.1 server whose answers the test writes."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed_by_client = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Scripted:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_client += 1
                    return
                sizes = [line.split(b":", 1)[1] for line in head.split(b"\r\n")
                         if line.lower().startswith(b"content-length:")]  # fmt: skip
                length = int(sizes[0]) if sizes else 0
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                if not await self.answer(reader, writer, request):
                    return
        finally:
            if not writer.is_closing():
                writer.close()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> Answer:
    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter, __: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
                     % (len(body), extra, body))  # fmt: skip
        await writer.drain()
        return True

    return answer
