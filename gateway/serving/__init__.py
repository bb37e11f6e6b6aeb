"""The request path, split along its seams.

- ``path.py``: ``ChatService``, the path itself (classify, decide, cache, call);
- ``bookkeeping.py``: the request's record along the path, its usage and charge, its end;
- ``streaming.py``: a streamed answer, relayed, counted and recorded;
- ``wire.py``: how an answer is written on an API's wire (``Wire``; ``ChatWire``);
- ``services.py``: what the path needs (``Services``), built once by the app factory;
- ``embeddings.py``: ``EmbeddingsService``, the same stages with an embedding call (``EmbeddingChain``).

How a new API plugs in (Responses, Anthropic Messages): translate at
the edge. Its front door (``gateway/http/``) authenticates, reads and validates
its own body, translates it into a ``ChatCompletionRequest`` (refusing with its
own 400 what cannot be translated), and calls

    outcome = await gateway.chat.serve(request, caller, cache_control,
                                       api="responses", wire=ResponsesWire, request_id=rid)

``wire`` (a ``WireFor``: request id and request in, a ``Wire`` out) writes the
answer in the API's own shape, JSON body or stream. ``serve`` raises
``GatewayError``s, which the front door renders in its own error shape. The
record, headers, ledger, audit, metrics and spans are the path's: the API's
name is ``RequestRecord.asked.api``.

Embeddings cannot be a chat request (the call step differs: vectors, not a
completion), so ``EmbeddingsService`` runs the same stages itself: the chat
path's classification (``ChatService.classify``), ``decide`` with
``api="embeddings"``, the ``Bookkeeper`` and one ``RequestRecord``, and the
``TargetChain``'s checks before every attempt.
"""

from gateway.serving.path import ChatService
from gateway.serving.services import Limits, Services
from gateway.serving.wire import ChatWire, Outcome, Wire, WireFor

__all__ = ["ChatService", "ChatWire", "Limits", "Outcome", "Services", "Wire", "WireFor"]
