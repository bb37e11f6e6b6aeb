"""Embedding targets behind an API: OpenAI-compatible servers (vLLM, TEI) and closed APIs (litellm).

Each is the chat adapter of its kind with ``embed`` added, so it shares that
adapter's connection pool or session, its limits and its one boundary where
vendor errors become ``gateway.errors`` (``adapters/openai_compatible.py``,
``adapters/litellm_client.py``):

- ``OpenAICompatibleEmbedder``: ``POST {api_base}/embeddings`` with the texts,
  ``dimensions`` and ``user`` as the client gave them; floats back.
- ``LiteLLMEmbedder``: ``litellm.aembedding`` per call, everything passed as
  arguments, no retries (the gateway's), no ``litellm.*`` global.

An answer must hold exactly one vector per input, all of one size (that of
``dimensions`` when asked): anything else is an unreadable answer
(``UpstreamError``, retryable), never a short list handed to the client.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from adapters.embeddings import EmbeddingAdapter, EmbeddingCall, Embeddings, check_vectors
from adapters.litellm_client import LiteLLMAdapter, load_litellm
from adapters.openai_compatible import OpenAICompatibleAdapter


def embedding_body(call: EmbeddingCall, model: str) -> dict[str, Any]:
    """The OpenAI embeddings request for ``call``: floats, the client's ``dimensions`` and ``user``."""
    body: dict[str, Any] = {"model": model, "input": list(call.inputs), "encoding_format": "float"}
    if call.dimensions is not None:
        body["dimensions"] = call.dimensions
    if call.user is not None:
        body["user"] = call.user
    return body


def parse_embeddings(data: Any) -> Embeddings:
    """An OpenAI embeddings response (as JSON values); ``ValueError`` when it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError("not an embeddings response")
    items = sorted(data["data"], key=lambda item: int(item["index"]))
    vectors = tuple(tuple(float(x) for x in item["embedding"]) for item in items)
    usage = data.get("usage") or {}
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    model = data.get("model")
    return Embeddings(vectors, int(tokens or 0), model if isinstance(model, str) else None)


class OpenAICompatibleEmbedder(EmbeddingAdapter, OpenAICompatibleAdapter):
    """One embedding model of one OpenAI-compatible server (vLLM ``--task embed``, TEI, llama.cpp)."""

    def __repr__(self) -> str:
        return f"OpenAICompatibleEmbedder({self._host!r}, {self.model!r})"

    async def embed(self, call: EmbeddingCall) -> Embeddings:
        client = self._started()
        deadline = asyncio.get_running_loop().time() + call.deadline_s
        headers = [(b"content-type", b"application/json"), (b"accept", b"application/json")]
        if call.request_id:
            headers.append((b"x-request-id", call.request_id.encode("ascii", "replace")))
        with self._translate():
            async with asyncio.timeout_at(deadline):
                response = await client.request(
                    b"POST", "/embeddings", headers=headers, body=orjson.dumps(embedding_body(call, self.model))
                )
                try:
                    if not 200 <= response.status < 300:
                        raise await self._status_error(response)
                    content = await response.read()
                finally:
                    response.release()
        try:
            data = orjson.loads(content)
            if isinstance(data, dict) and "error" in data and not data.get("data"):
                raise self._event_error(data["error"])
            embeddings = parse_embeddings(data)
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError):
            raise self._unreadable(response.status) from None
        return check_vectors(embeddings, call, self._host)


class LiteLLMEmbedder(EmbeddingAdapter, LiteLLMAdapter):
    """One closed-API embedding model that litellm knows (``openai/text-embedding-3-small``)."""

    def __repr__(self) -> str:
        return f"LiteLLMEmbedder({self.model!r})"

    async def start(self) -> None:
        """As the chat adapter's, and one more start-up setting: litellm's embedding calls read
        ``max_retries=0`` as "unset" (``max_retries or DEFAULT_MAX_RETRIES``) and retried behind
        the gateway's back; retries are the gateway's, so its default is 0 here."""
        await super().start()
        load_litellm().DEFAULT_MAX_RETRIES = 0

    async def embed(self, call: EmbeddingCall) -> Embeddings:
        litellm = load_litellm()
        deadline = asyncio.get_running_loop().time() + call.deadline_s
        remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
        arguments: dict[str, Any] = {
            "model": self.model,
            "input": list(call.inputs),
            "api_key": self._api_key(),
            "api_base": self.api_base,
            "timeout": self._timeout(remaining),
            "num_retries": 0,
            "max_retries": 0,
            "encoding_format": "float",
            "shared_session": self._bounded_session(),
        }
        if call.dimensions is not None:
            arguments["dimensions"] = call.dimensions
        if call.user is not None:
            arguments["user"] = call.user
        with self._translate(litellm):
            async with asyncio.timeout_at(deadline):
                response = await litellm.aembedding(**arguments)
        try:
            embeddings = parse_embeddings(response.model_dump())
        except (LookupError, TypeError, ValueError, AttributeError):
            raise self._unreadable() from None
        return check_vectors(embeddings, call, self._target)
