"""A fast OpenAI-compatible upstream for overhead measurements.

The benchmark subtracts this server's own latency (measured by calling it
directly) from every gateway's, so it must be cheap and steady rather than
realistic: one asyncio protocol on uvloop, ``httptools`` for parsing,
keep-alive, a canned answer. It reads each body as JSON (a real server does,
and a gateway that forwarded garbage would be caught), answers
``POST /v1/chat/completions`` with and without ``stream`` and
``GET /v1/models``, and counts what it served (``GET /stats``), so the harness
can check that every request it timed really went through.

    python -m bench.overhead.upstream --port 9100 [--delay-ms 0]

``--delay-ms`` adds a fixed think time to each answer (asyncio sleep, no CPU):
an upstream that takes time is closer to a model, and it shows how a gateway
behaves with many requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from typing import Any

import httptools
import orjson

ANSWER = "The capital of France is Paris. It has been the country's capital for most of its history."
PROMPT_TOKENS_PER_BYTE = 0.25  # usage as a real server would report it, roughly four bytes a token


def _completion(model: str, prompt_bytes: int) -> bytes:
    prompt_tokens = max(1, int(prompt_bytes * PROMPT_TOKENS_PER_BYTE))
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 20, "total_tokens": prompt_tokens + 20},
        }
    )


def _stream(model: str, prompt_bytes: int) -> bytes:
    prompt_tokens = max(1, int(prompt_bytes * PROMPT_TOKENS_PER_BYTE))
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    for word in ANSWER.split(" "):
        events.append({**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]})
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append(
        {**base, "choices": [],
         "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 20, "total_tokens": prompt_tokens + 20}}
    )
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


MODELS = orjson.dumps({"object": "list", "data": [{"id": "bench-model", "object": "model", "owned_by": "bench"}]})


class Counters:
    def __init__(self) -> None:
        self.completions = 0
        self.streams = 0
        self.bad_requests = 0


class UpstreamProtocol(asyncio.Protocol):
    """One connection: parse with httptools, answer in order, keep alive."""

    def __init__(self, counters: Counters, delay_s: float) -> None:
        self._counters = counters
        self._delay_s = delay_s
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._queue: asyncio.Queue[tuple[bytes, bytes, bytes, bool]] | None = None
        self._writer: asyncio.Task[None] | None = None

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._reply(b"400 Bad Request", b"application/json", b'{"error":{"message":"bad request"}}', False)
            assert self._transport is not None
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._writer is not None:
            self._writer.cancel()

    # -- httptools callbacks -------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        url, body = self._url, b"".join(self._body)
        self._url, self._body = b"", []
        keep_alive = self._parser.should_keep_alive()
        if self._delay_s > 0:
            self._later(method, url, body, keep_alive)
        else:
            self._answer(method, url, body, keep_alive)

    # -- answers -----------------------------------------------------------------

    def _later(self, method: bytes, url: bytes, body: bytes, keep_alive: bool) -> None:
        if self._queue is None:  # answers keep the order of requests on a pipelined connection
            self._queue = asyncio.Queue()
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        self._queue.put_nowait((method, url, body, keep_alive))

    async def _drain(self) -> None:
        assert self._queue is not None
        while True:
            method, url, body, keep_alive = await self._queue.get()
            await asyncio.sleep(self._delay_s)
            self._answer(method, url, body, keep_alive)

    def _answer(self, method: bytes, url: bytes, body: bytes, keep_alive: bool) -> None:
        path = url.split(b"?", 1)[0]
        if method == b"POST" and path.endswith(b"/chat/completions"):
            try:
                request: Any = orjson.loads(body)
                model = str(request["model"])
                prompt_bytes = sum(len(str(m.get("content") or "")) for m in request["messages"])
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                self._counters.bad_requests += 1
                self._reply(b"400 Bad Request", b"application/json", b'{"error":{"message":"bad body"}}', keep_alive)
                return
            if request.get("stream"):
                self._counters.streams += 1
                self._reply(b"200 OK", b"text/event-stream", _stream(model, prompt_bytes), keep_alive)
            else:
                self._counters.completions += 1
                self._reply(b"200 OK", b"application/json", _completion(model, prompt_bytes), keep_alive)
        elif method == b"GET" and path.endswith(b"/models"):
            self._reply(b"200 OK", b"application/json", MODELS, keep_alive)
        elif method == b"GET" and path == b"/stats":
            c = self._counters
            stats = {"completions": c.completions, "streams": c.streams, "bad_requests": c.bad_requests}
            self._reply(b"200 OK", b"application/json", orjson.dumps(stats), keep_alive)
        elif method == b"GET" and path in (b"/health", b"/healthz"):
            self._reply(b"200 OK", b"application/json", b'{"status":"ok"}', keep_alive)
        else:
            self._reply(b"404 Not Found", b"application/json", b'{"error":{"message":"not found"}}', keep_alive)

    def _reply(self, status: bytes, content_type: bytes, body: bytes, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        head = (
            b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type
            + b"\r\ncontent-length: " + str(len(body)).encode()
            + (b"\r\n\r\n" if keep_alive else b"\r\nconnection: close\r\n\r\n")
        )  # fmt: skip
        transport.write(head + body)
        if not keep_alive:
            transport.close()


async def serve(
    host: str, port: int, delay_s: float = 0.0, ready: asyncio.Event | None = None, *, signals: bool = True
) -> None:
    """Serve until SIGTERM or SIGINT (``signals``: the process's main thread) or until cancelled."""
    counters = Counters()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: UpstreamProtocol(counters, delay_s), host, port, backlog=4096)
    stop = asyncio.Event()
    if signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    import uvloop

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    uvloop.run(serve(args.host, args.port, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
