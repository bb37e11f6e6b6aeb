"""Adapter for closed APIs (OpenAI, Anthropic, Azure, Gemini...) through litellm.

This is the only module that imports litellm, and it uses it as a per-call
client: ``litellm.acompletion`` with everything passed as arguments, no
``litellm.*`` global set, no Router, no proxy, no retries (``num_retries=0``,
``max_retries=0``: retries and fallbacks are the gateway's). litellm is imported
lazily, on ``start()`` or the first call, and only after its environment says
"offline": the bundled price map and Anthropic header table instead of fetching
them from GitHub, and ``LITELLM_MODE=PRODUCTION`` so that it does not load a
``.env`` file. Operators may override these variables.

Every call reads the API key from the environment variable named in the policy
(``api_key_env``), so a rotated key takes effect without a restart. Parameters a
provider does not support are dropped per call (``drop_params=True``): clients
do not know which target serves them, so a ``seed`` must not fail on Anthropic.

litellm's exceptions become ``gateway.errors`` here, and nowhere else:

=========================================  =========================================
litellm outcome                            raised
=========================================  =========================================
``Timeout``, or a timeout anywhere in the  ``UpstreamTimeout`` (retryable)
cause chain; the call's deadline passed
a refused connection or a connect timeout  ``UpstreamUnreachable`` (retryable:
in the cause chain                         nothing was sent)
``APIConnectionError``, or a connection    ``UpstreamError(retryable=True)``
error in the cause chain
a JSON decoding error in the cause chain   ``UpstreamError(retryable=True)``
a body, stream or header over the target's ``UpstreamTooLarge`` (not retried)
``limits`` (``adapters/bounded_session.py``)
``ContextWindowExceededError``,            ``UpstreamRejected`` (400 to the client:
``ContentPolicyViolationError``, HTTP      the request's own error; no retry, no
400, 413, 415, 422                         fallback)
anything else with an HTTP ``status_code``      ``UpstreamError(upstream_status=status)``,
                                           retryable for 408, 409, 429 and 5xx, with
                                           ``retry_after_s`` from the response headers
anything else                              ``UpstreamError(retryable=False)``
=========================================  =========================================

litellm's messages quote upstream bodies, which may echo the prompt: none of
their text is kept, and errors are raised ``from None``. The messages we write
name the target (``api_base``'s host, else the model) and the status.

What an answer may cost: every call goes through the adapter's own aiohttp
session (litellm's ``shared_session``), which bounds response headers and
bodies by the target's ``limits`` (``adapters/bounded_session.py``). A stream
is read chunk by chunk and never held: litellm's stream wrapper keeps every
chunk it produced and the text so far (for its own logging, which the gateway
does not use), so the adapter drops them as it goes, keeping the last two
chunks (litellm compares them to detect a model repeating itself) and those
with usage; and it stops a stream whose text passes ``max_stream_bytes``
whatever transport litellm uses (``DISABLE_AIOHTTP_TRANSPORT`` bypasses the
session). A stream's usage is passed on only when the upstream sent it: litellm
would otherwise count the chunks it still holds, which are no longer all of them,
and the gateway counts the answer itself.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any, Final

import aiohttp
import httpx
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from adapters.base import Adapter, Chunk, Completion, ModelCall, ResponseLimits
from adapters.bounded_session import BodyTooLarge, bounded_session
from adapters.openai_wire import (
    CLIENT_ERROR_STATUSES,
    CLOSED_API_PARAMS,
    StreamAssembler,
    chat_params,
    is_retryable_status,
    parse_completion,
    rejection,
    retry_after_seconds,
)
from gateway.errors import UpstreamError, UpstreamTimeout, UpstreamTooLarge, UpstreamUnreachable

OFFLINE_ENV: Final = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_MODE": "PRODUCTION",
}
"""Set (unless already set) before litellm is imported: no fetch, no ``.env``."""


def load_litellm() -> Any:
    """The litellm module, imported offline (see ``OFFLINE_ENV``).

    Typed ``Any`` on purpose: litellm's types stop at this boundary.
    """
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    return importlib.import_module("litellm")


def price_per_token(model: str) -> tuple[float, float, float | None] | None:
    """USD per input token, per output token and per cached input token (``None``
    when the provider has no cached price), from litellm's bundled price map.

    ``model`` is litellm's name, with or without the provider prefix
    (``openai/gpt-4o`` or ``gpt-4o``); ``None`` when the map does not know it.
    """
    cost_map: dict[str, Any] = load_litellm().model_cost
    entry = cost_map.get(model)
    provider, _, bare = model.partition("/")
    if entry is None and bare:
        candidate = cost_map.get(bare)
        if isinstance(candidate, dict) and candidate.get("litellm_provider") == provider:
            entry = candidate
    if not isinstance(entry, dict) or model == "sample_spec":
        return None
    input_price, output_price = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    cached_price = entry.get("cache_read_input_token_cost")
    if not isinstance(input_price, int | float) or not isinstance(output_price, int | float):
        return None
    cached = float(cached_price) if isinstance(cached_price, int | float) else None
    return float(input_price), float(output_price), cached


class LiteLLMAdapter(Adapter):
    """Talks to one closed-API model that litellm knows as ``model`` (``openai/gpt-4o``)."""

    def __init__(
        self,
        model: str,
        *,
        api_key_env: str | None,
        api_base: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float | None = None,
        limits: ResponseLimits = ResponseLimits(),  # noqa: B008 - frozen, shared safely
    ) -> None:
        self.model = model
        self.limits = limits
        self._session: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None = None
        self.api_key_env = api_key_env
        self.api_base = api_base
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._target = httpx.URL(api_base).netloc.decode("ascii") if api_base else model

    def __repr__(self) -> str:
        return f"LiteLLMAdapter({self.model!r})"

    async def start(self) -> None:
        """Import litellm now (seconds, off the event loop), not on the first request.

        The only litellm settings the gateway makes are here, at start-up: no
        "Give Feedback" banner on stdout, and its logger kept to warnings so no
        request detail reaches the logs.
        """
        litellm = await asyncio.to_thread(load_litellm)
        litellm.suppress_debug_info = True
        logging.getLogger("LiteLLM").setLevel(logging.WARNING)

    async def close(self) -> None:
        held, self._session = self._session, None
        if held is not None and held[0] is asyncio.get_running_loop():
            await held[1].close()

    def _bounded_session(self) -> aiohttp.ClientSession:
        """The adapter's session in the running loop (made on first use: tests run many loops)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session[0] is not loop or self._session[1].closed:
            self._session = (loop, bounded_session(self.limits))
        return self._session[1]

    async def ready(self) -> bool:
        """Whether the key's variable is set: closed APIs are not probed."""
        return self.api_key_env is None or bool(os.environ.get(self.api_key_env))

    async def complete(self, call: ModelCall) -> Completion:
        litellm = load_litellm()
        deadline = asyncio.get_running_loop().time() + call.deadline_s
        with self._translate(litellm):
            async with asyncio.timeout_at(deadline):
                response = await litellm.acompletion(**self._arguments(call, deadline, stream=False))
        try:
            return parse_completion(response.model_dump())
        except (LookupError, TypeError, ValueError, AttributeError):
            raise self._unreadable() from None

    async def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        litellm = load_litellm()
        deadline = asyncio.get_running_loop().time() + call.deadline_s
        with self._translate(litellm):
            async with asyncio.timeout_at(deadline):
                response = await litellm.acompletion(**self._arguments(call, deadline, stream=True))
        assembler = StreamAssembler()
        size = 0
        reported = False  # whether the upstream itself sent usage (litellm makes some up otherwise)
        try:
            while True:
                with self._translate(litellm):
                    async with asyncio.timeout_at(deadline):
                        item = await anext(response, None)
                if item is None:
                    break
                reported = _forget_held(response) or reported
                # litellm reads buffered data without a pause, so neither the event loop nor the deadline's
                # timer would get a turn while an upstream keeps the buffer full: give both one.
                await asyncio.sleep(0)
                if asyncio.get_running_loop().time() >= deadline:
                    raise UpstreamTimeout(f"upstream {self._target} did not finish within the deadline")
                try:
                    chunk = assembler.feed(item.model_dump())
                except (LookupError, TypeError, ValueError, AttributeError):
                    raise self._unreadable() from None
                if chunk is not None:
                    size += len(chunk.content or "") + sum(len(str(c)) for c in chunk.tool_calls or ())
                    if size > self.limits.max_stream_bytes:
                        raise UpstreamTooLarge(
                            f"upstream {self._target}: the stream is larger than {self.limits.max_stream_bytes} bytes"
                        )
                    yield chunk
            final = assembler.finish()
            # Without the upstream's usage, litellm counts the chunks it kept, which are not all of them
            # (see _forget_held): the gateway counts what was produced itself (usage_source = counted).
            yield final if reported or _forget_held(response) else replace(final, usage=None)
        finally:
            with suppress(Exception):  # closing must not hide why we stopped
                await response.aclose()

    def _arguments(self, call: ModelCall, deadline: float, *, stream: bool) -> dict[str, Any]:
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
        arguments: dict[str, Any] = {
            **chat_params(call.params, CLOSED_API_PARAMS),
            "model": self.model,
            "messages": call.messages,
            "api_key": self._api_key(),
            "api_base": self.api_base,
            "timeout": self._timeout(remaining),
            "num_retries": 0,
            "max_retries": 0,
            "drop_params": True,
            "stream": stream,
            "shared_session": self._bounded_session(),
        }
        if stream:
            arguments["stream_options"] = {"include_usage": True}
        return arguments

    def _timeout(self, remaining: float) -> float | httpx.Timeout:
        total = min(self.timeout_s, remaining)
        if self.connect_timeout_s is None:
            return total
        return httpx.Timeout(total, connect=min(self.connect_timeout_s, total))

    def _api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise UpstreamError(
                f"the API key variable {self.api_key_env} for {self._target} is not set", retryable=False
            )
        return key

    # -- errors: the one litellm boundary -------------------------------------

    @contextmanager
    def _translate(self, litellm: Any) -> Iterator[None]:
        try:
            yield
        except UpstreamError:
            raise
        except TimeoutError:
            raise UpstreamTimeout(f"upstream {self._target} did not finish within the deadline") from None
        except Exception as exc:  # noqa: BLE001 - every vendor error is translated, none escapes
            raise self._translated(litellm.exceptions, exc) from None

    def _translated(self, errors: Any, exc: Exception) -> UpstreamError:
        causes = list(_cause_chain(exc))
        if any(isinstance(c, BodyTooLarge | LineTooLong) for c in causes) or any(
            isinstance(c, BadHttpMessage) and "headers" in str(c).lower() for c in causes
        ):
            return UpstreamTooLarge(f"upstream {self._target}: the response is over the target's limits")
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) and 100 <= status < 600 else None
        # Not httpx.ConnectError: litellm's aiohttp transport also reports a reset after the
        # request was sent as one. A refused connection is certain to have sent nothing.
        if any(isinstance(c, ConnectionRefusedError | httpx.ConnectTimeout) for c in causes):
            return UpstreamUnreachable(f"could not connect to upstream {self._target}")
        if isinstance(exc, errors.Timeout) or any(isinstance(c, httpx.TimeoutException) for c in causes):
            return UpstreamTimeout(f"upstream {self._target} timed out")
        said = {"code": getattr(exc, "code", None), "type": getattr(exc, "type", None),
                "param": getattr(exc, "param", None)}  # fmt: skip
        if isinstance(exc, errors.ContextWindowExceededError):
            return rejection(400, said, reason="the prompt is longer than the model's context")
        if isinstance(exc, errors.ContentPolicyViolationError):
            return rejection(400, said, reason="the provider's content policy refused it")
        if status in CLIENT_ERROR_STATUSES:
            return rejection(status, said)
        if status is not None and status < 500:
            return self._status_error(exc, status)
        if any(isinstance(c, json.JSONDecodeError) for c in causes):
            return self._unreadable()
        if isinstance(exc, errors.APIConnectionError) or any(isinstance(c, httpx.TransportError) for c in causes):
            return UpstreamError(f"could not reach upstream {self._target}")
        if status is not None:
            return self._status_error(exc, status)
        return UpstreamError(f"call to upstream {self._target} failed ({type(exc).__name__})", retryable=False)

    def _status_error(self, exc: Exception, status: int) -> UpstreamError:
        headers = getattr(exc, "litellm_response_headers", None) or getattr(
            getattr(exc, "response", None), "headers", None
        )
        return UpstreamError(
            f"upstream {self._target} answered HTTP {status}",
            retryable=is_retryable_status(status),
            upstream_status=status,
            retry_after_s=retry_after_seconds(headers) if headers else None,
        )

    def _unreadable(self) -> UpstreamError:
        return UpstreamError(f"upstream {self._target} sent an unreadable response")


def _forget_held(response: Any) -> bool:
    """Drop what litellm's stream wrapper keeps of a stream for its own logging (see the
    module docstring): the last two chunks stay, and those carrying usage. Whether one of
    them carries usage: the upstream's own report, which litellm keeps as it came."""
    held = getattr(response, "chunks", None)
    if not isinstance(held, list):
        return False
    with_usage = [c for c in held if getattr(c, "usage", None) is not None]
    if len(held) > 64:
        held[:] = [c for c in held[:-2] if getattr(c, "usage", None) is not None][-4:] + held[-2:]
    if isinstance(getattr(response, "response_uptil_now", None), str):
        response.response_uptil_now = ""
    return bool(with_usage)


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what led to it: ``__cause__``, ``__context__`` and litellm's
    ``original_exception``, each once."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 32:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__, getattr(current, "original_exception", None)):
            if isinstance(nxt, BaseException):
                pending.append(nxt)
