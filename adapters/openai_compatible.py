"""Adapter for OpenAI-compatible servers inside the bank: vLLM, TGI, llama.cpp, Ollama.

It speaks Chat Completions over one pooled ``httpx.AsyncClient`` and is the one
boundary where httpx errors and upstream statuses become ``gateway.errors``:

============================================  =====================================
upstream outcome                              raised
============================================  =====================================
connect refused or timed out (nothing sent)   ``UpstreamUnreachable`` (retryable)
reset / closed mid-body                       ``UpstreamError(retryable=True)``
read or write timeout; the call's             ``UpstreamTimeout`` (retryable)
``deadline_s`` passed
no free pooled connection in time             ``Overloaded`` (``Retry-After: 1``)
HTTP 408, 409, 429, 5xx                       ``UpstreamError(retryable=True,
                                              upstream_status, retry_after_s)``
any other non-2xx (400, 401, 404, 3xx...)     ``UpstreamError(retryable=False)``
2xx with a body we cannot read (bad JSON,     ``UpstreamError(retryable=True,
no choices, a stream cut before its end)      upstream_status=<the 2xx>)``
an ``{"error": ...}`` event inside a stream   as its ``code`` were an HTTP status
============================================  =====================================

An unreadable 2xx counts as retryable: it is what a truncated body, a proxy's
HTML page or an overloaded server produces, all transient, and the gateway's
retry budget bounds the cost if it is not. Messages name the upstream's host
and the status only; upstream bodies are never read into them, because an
upstream may echo the prompt.

Timeouts: ``connect_timeout_s`` bounds opening a connection and waiting for a
free one in the pool (``max_connections`` per adapter), ``timeout_s`` each read
or write (so a stream may run longer while tokens keep coming), and the call's
``deadline_s`` the whole call, first byte to last.

The client ignores proxy and netrc environment settings (``trust_env=False``):
on-premises upstreams are reached directly, with no credential but ``api_key``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, Final

import httpx
import orjson

from adapters.base import Adapter, Chunk, Completion, ModelCall
from adapters.openai_wire import (
    SSEDecoder,
    StreamAssembler,
    chat_params,
    is_retryable_status,
    parse_completion,
    retry_after_seconds,
)
from gateway.errors import Overloaded, UpstreamError, UpstreamTimeout, UpstreamUnreachable

_DRAIN_AFTER_DONE_S: Final = 1.0


class OpenAICompatibleAdapter(Adapter):
    """Talks to one model of one OpenAI-compatible server at ``api_base`` (``.../v1``)."""

    ready_ttl_s: float = 5.0
    """How long a ``ready()`` answer is reused before the server is asked again."""

    def __init__(
        self,
        api_base: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_connections: int = 100,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.model = model
        self._api_key = api_key
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=connect_timeout_s)
        self._probe_timeout = httpx.Timeout(connect_timeout_s)
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._host = httpx.URL(self.api_base).netloc.decode("ascii")
        self._client: httpx.AsyncClient | None = None
        self._ready: tuple[float, bool] | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatibleAdapter({self._host!r}, {self.model!r})"

    async def start(self) -> None:
        if self._client is None:
            headers = {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._client = httpx.AsyncClient(
                headers=headers, timeout=self._timeout, limits=self._limits, trust_env=False
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def ready(self) -> bool:
        """Whether ``GET {api_base}/models`` succeeds; answers are reused ``ready_ttl_s``."""
        now = time.monotonic()
        if self._ready is not None and now - self._ready[0] < self.ready_ttl_s:
            return self._ready[1]
        ok = False
        if self._client is not None:
            try:
                response = await self._client.get(f"{self.api_base}/models", timeout=self._probe_timeout)
                ok = response.is_success
            except httpx.HTTPError:
                ok = False
        self._ready = (time.monotonic(), ok)
        return ok

    async def complete(self, call: ModelCall) -> Completion:
        client = self._started()
        deadline = asyncio.get_running_loop().time() + call.deadline_s
        with self._translate():
            async with asyncio.timeout_at(deadline):
                response = await client.post(
                    f"{self.api_base}/chat/completions",
                    content=self._body(call, stream=False),
                    headers=self._headers(call, "application/json"),
                )
        if not response.is_success:
            raise self._status_error(response.status_code, response.headers)
        try:
            return self._completion(orjson.loads(response.content))
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError):
            raise self._unreadable(response.status_code) from None

    async def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        client = self._started()
        deadline = asyncio.get_running_loop().time() + call.deadline_s
        request = client.build_request(
            "POST",
            f"{self.api_base}/chat/completions",
            content=self._body(call, stream=True),
            headers=self._headers(call, "text/event-stream"),
        )
        with self._translate():
            async with asyncio.timeout_at(deadline):
                response = await client.send(request, stream=True)
        try:
            if not response.is_success:
                raise self._status_error(response.status_code, response.headers)
            async for chunk in self._chunks(response, deadline):
                yield chunk
        finally:
            await response.aclose()

    async def _chunks(self, response: httpx.Response, deadline: float) -> AsyncIterator[Chunk]:
        lines = response.aiter_lines()
        decoder = SSEDecoder()
        assembler = StreamAssembler()
        while True:
            with self._translate():
                async with asyncio.timeout_at(deadline):
                    line = await anext(lines, None)
            data = decoder.flush() if line is None else decoder.feed(line)
            if data == "[DONE]":
                break
            if data is not None:
                chunk = self._stream_event(assembler, data, response.status_code)
                if chunk is not None:
                    yield chunk
            if line is None:
                if assembler.final is None:
                    raise UpstreamError(f"upstream {self._host} ended the stream early", upstream_status=200)
                break
        yield assembler.finish()
        # Read to the end of the body, so that the connection goes back to the pool.
        with suppress(httpx.HTTPError, TimeoutError):
            async with asyncio.timeout(_DRAIN_AFTER_DONE_S):
                async for _ in lines:
                    pass

    def _stream_event(self, assembler: StreamAssembler, data: str, status: int) -> Chunk | None:
        try:
            event = orjson.loads(data)
            if isinstance(event, dict) and "error" in event:
                raise self._event_error(event["error"])
            if not isinstance(event, dict):
                raise ValueError("event is not an object")
            return assembler.feed(event)
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError):
            raise self._unreadable(status) from None

    # -- request and response shapes -----------------------------------------

    def _body(self, call: ModelCall, *, stream: bool) -> bytes:
        body: dict[str, Any] = {"model": self.model, "messages": call.messages, **chat_params(call.params)}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return orjson.dumps(body)

    @staticmethod
    def _headers(call: ModelCall, accept: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": accept}
        if call.request_id:
            headers["x-request-id"] = call.request_id
        return headers

    def _completion(self, data: Any) -> Completion:
        if isinstance(data, dict) and "error" in data and not data.get("choices"):
            raise self._event_error(data["error"])
        return parse_completion(data)

    # -- errors: the one httpx boundary ---------------------------------------

    def _started(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError(f"{self!r} used before start()")
        return self._client

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """httpx errors and our own deadline as ``gateway.errors``."""
        try:
            yield
        except httpx.PoolTimeout:
            raise Overloaded(f"no free connection to upstream {self._host}", headers={"retry-after": "1"}) from None
        except TimeoutError:
            raise UpstreamTimeout(f"upstream {self._host} did not finish within the deadline") from None
        except httpx.ConnectTimeout:
            raise UpstreamUnreachable(f"timed out connecting to upstream {self._host}") from None
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"upstream {self._host} timed out ({type(exc).__name__})") from None
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise UpstreamError(
                f"cannot send to upstream {self._host} ({type(exc).__name__})", retryable=False
            ) from None
        except httpx.ConnectError:
            raise UpstreamUnreachable(f"could not connect to upstream {self._host}") from None
        except httpx.DecodingError:
            raise self._unreadable(None) from None
        except httpx.TransportError as exc:
            raise UpstreamError(f"connection to upstream {self._host} failed ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"call to upstream {self._host} failed ({type(exc).__name__})", retryable=False
            ) from None

    def _status_error(self, status: int, headers: Mapping[str, str]) -> UpstreamError:
        return UpstreamError(
            f"upstream {self._host} answered HTTP {status}",
            retryable=is_retryable_status(status),
            upstream_status=status,
            retry_after_s=retry_after_seconds(headers),
        )

    def _event_error(self, error: object) -> UpstreamError:
        code = error.get("code") if isinstance(error, dict) else None
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        return UpstreamError(
            f"upstream {self._host} reported an error" + (f" (code {status})" if status else ""),
            retryable=status is None or is_retryable_status(status),
            upstream_status=status,
        )

    def _unreadable(self, status: int | None) -> UpstreamError:
        return UpstreamError(f"upstream {self._host} sent an unreadable response", upstream_status=status)
