"""A misbehaving OpenAI-compatible upstream on loopback, written at the socket level.

``HostileUpstream`` serves raw HTTP/1.1 from a thread of its own, so it can send
what no well-behaved server library would: the first segment of the request
path names the misbehaviour, so one server stands behind several policy targets
(``api_base: http://127.0.0.1:PORT/<mode>/v1``):

- ``huge_stream``: a well-formed SSE answer of distinct small events and no
  usage, ``volume`` bytes long (or until the client leaves);
- ``huge_body``: a non-streamed completion whose content is ``volume`` bytes,
  with its ``content-length``;
- ``endless_body``: a chunked completion body that never ends;
- ``huge_headers``: one header field ``volume`` bytes long;
- ``many_headers``: a hundred thousand small header fields;
- ``polite``: a small, correct answer (streamed or not), for the requests that
  must keep being served while the others misbehave.

``GET .../models`` answers politely in every mode. ``sent`` counts the bytes
written per mode, all requests together: what the gateway let the upstream push
before it hung up (what the kernel buffers included).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from contextlib import suppress
from types import TracebackType

import orjson

_PIECE = 64 * 1024


def _completion(content: str) -> bytes:
    return orjson.dumps({
        "id": "c-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    })  # fmt: skip


def _event(index: int) -> bytes:
    delta = {"content": f"w{index} "}
    body = {"id": "c-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


class HostileUpstream:
    def __init__(self, volume: int = 400 << 20) -> None:
        self.volume = volume
        self.port = 0
        self.sent: collections.Counter[str] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def base(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def __enter__(self) -> HostileUpstream:
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), name="hostile-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the hostile upstream did not start")
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        if self._thread is not None:
            self._thread.join(10)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        with suppress(asyncio.CancelledError):
            await self._server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, path, _ = lines[0].split(b" ", 2)
                length = next((int(line.split(b":", 1)[1]) for line in lines
                               if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
                body = orjson.loads(await reader.readexactly(length)) if length else {}
                mode = path.split(b"/")[1].decode()
                if method == b"GET":
                    await self._write(writer, mode, self._sized(b'{"object":"list","data":[]}'), count=False)
                    continue
                self.requests[mode] += 1
                if not await self._answer(writer, mode, bool(body.get("stream"))):
                    break
        writer.close()

    async def _write(self, writer: asyncio.StreamWriter, mode: str, data: bytes, *, count: bool = True) -> int:
        """Write ``data`` once the client has taken what came before; its size."""
        if writer.is_closing():
            raise ConnectionResetError("the client closed the connection")
        writer.write(data)
        if count:
            self.sent[mode] += len(data)
        await writer.drain()
        return len(data)

    @staticmethod
    def _sized(body: bytes, content_type: bytes = b"application/json") -> bytes:
        return b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s" % (content_type, len(body), body)

    async def _answer(self, writer: asyncio.StreamWriter, mode: str, stream: bool) -> bool:
        """Write the answer of ``mode``; ``False`` when the connection is done."""
        if mode == "polite" or mode not in _MODES:
            if not stream:
                await self._write(writer, mode, self._sized(_completion("All good.")))
                return True
            events = b"".join(_event(i) for i in range(3)) + b"data: [DONE]\n\n"
            await self._write(writer, mode, self._sized(events, b"text/event-stream"))
            return True
        if mode == "huge_stream":
            await self._write(writer, mode, b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                            b"connection: close\r\n\r\n")  # fmt: skip
            index = written = 0
            while written < self.volume:
                written += await self._write(writer, mode, b"".join(_event(index + i) for i in range(200)))
                index += 200
            await self._write(writer, mode, b"data: [DONE]\n\n")
        elif mode == "huge_body":  # written in pieces, not built whole: the test process's GIL stays free
            head, tail = _completion("\0").split(b"\\u0000")
            length = len(head) + self.volume + len(tail)
            await self._write(writer, mode, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                            b"content-length: %d\r\n\r\n%s" % (length, head))  # fmt: skip
            written = 0
            while written < self.volume:
                written += await self._write(writer, mode, b"x" * min(_PIECE, self.volume - written))
            await self._write(writer, mode, tail)
        elif mode == "endless_body":
            await self._write(writer, mode, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                            b"transfer-encoding: chunked\r\n\r\n")  # fmt: skip
            await self._write(writer, mode, b'1e\r\n{"choices":[{"message":{"conte\r\n')
            piece = b"%x\r\n%s\r\n" % (_PIECE, b"z" * _PIECE)
            started = time.monotonic()
            while time.monotonic() - started < 120:
                await self._write(writer, mode, piece)
        elif mode == "huge_headers":
            await self._write(writer, mode, b"HTTP/1.1 200 OK\r\nx-filler: ")
            written = 0
            while written < self.volume:
                written += await self._write(writer, mode, b"a" * _PIECE)
            await self._write(writer, mode, b"\r\n" + self._sized(_completion("late"))[17:])
        elif mode == "many_headers":
            await self._write(writer, mode, b"HTTP/1.1 200 OK\r\n")
            for i in range(0, 100_000, 1000):
                await self._write(writer, mode, b"".join(b"x-h%d: v\r\n" % (i + j) for j in range(1000)))
            await self._write(writer, mode, self._sized(_completion("late"))[17:])
        return False


_MODES = ("huge_stream", "huge_body", "endless_body", "huge_headers", "many_headers")
