"""The extension point for models that embed text: ``EmbeddingAdapter.embed``.

An embedding target is an adapter like any other (it starts, closes, answers
``ready``, sits in the ``TargetPool`` and behind the ``TargetChain``'s
invariant guard), with one more method: ``embed``. It knows nothing of
policies or levels; the gateway decides whether a target may receive the
inputs before any adapter sees them.

Which targets embed is the policy's word (``Target.task: embeddings``): the
decision never offers a chat-only target an embeddings call, nor an
embedding model a chat call; an embedding adapter that is asked to chat
anyway refuses without sending anything (``stream``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from adapters.base import Adapter, Chunk, ModelCall
from gateway.errors import UpstreamError


@dataclass(frozen=True, slots=True)
class EmbeddingCall:
    """One batch of texts for one embedding model.

    ``inputs``: the texts, already classified, in the client's order.
    ``dimensions``: the vector size the client asked for (``None``: the model's own).
    ``user``: the client's end-user id, passed on where the upstream takes it.
    ``deadline_s`` bounds the whole call.
    """

    inputs: tuple[str, ...]
    dimensions: int | None = None
    user: str | None = None
    deadline_s: float = 60.0
    request_id: str = ""

    @classmethod
    def of(cls, call: ModelCall) -> EmbeddingCall:
        """The embedding view of a sealed call (``gateway/apis/embeddings.py`` builds its params)."""
        params = call.params
        dimensions = params.get("dimensions")
        user = params.get("user")
        return cls(
            inputs=tuple(params["input"]),
            dimensions=dimensions if isinstance(dimensions, int) else None,
            user=user if isinstance(user, str) else None,
            deadline_s=call.deadline_s,
            request_id=call.request_id,
        )


@dataclass(frozen=True, slots=True)
class Embeddings:
    """The vectors, one per input in the same order, and the input tokens the model read."""

    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int
    response_model: str | None = None


class EmbeddingAdapter(Adapter):
    """Talks to one embedding model.

    Contract of ``embed``: returns exactly one vector per input, in order, or
    raises only ``gateway.errors`` (``UpstreamError``, ``UpstreamTimeout``,
    ``Overloaded``); a request the model cannot take (``dimensions`` it does not
    offer) is ``UpstreamError(retryable=False, upstream_status=400)``.
    Cancelling the call must stop the upstream work.
    """

    @abc.abstractmethod
    async def embed(self, call: EmbeddingCall) -> Embeddings:
        """The vectors for ``call.inputs``."""

    async def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        """An embedding model does not chat: refused before anything is sent."""
        raise UpstreamError(f"{self!r} is an embedding model and cannot answer chat requests", retryable=False)
        yield Chunk()  # pragma: no cover - makes this an async generator


def check_vectors(embeddings: Embeddings, call: EmbeddingCall, upstream: str) -> Embeddings:
    """One vector per input, all of one size (``dimensions`` when asked): else an unreadable answer."""
    sizes = {len(v) for v in embeddings.vectors}
    wanted = {call.dimensions} if call.dimensions is not None else sizes
    if len(embeddings.vectors) != len(call.inputs) or len(sizes) > 1 or sizes != wanted or 0 in sizes:
        raise UpstreamError(f"upstream {upstream} sent vectors that do not match the inputs")
    return embeddings
