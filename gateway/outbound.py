"""What leaves for a target, built once, classified as built, and checked at every attempt.

The rule (docs/security.md, "What is sent is what was classified"): the
content a target receives is built first, from the validated request alone
(``Outbound.of``): the messages and the forwarded parameters, in wire shape.
The classifier reads every string of *that* (``Outbound.texts``: keys and
values at every depth, ``gateway/classify/extract.py``), the policy decides on
what it found, and the ``ModelCall`` handed to adapters is made from the same
objects (``Outbound.call``). ``Outbound`` is sealed with a digest of its
content; ``TargetChain`` refuses, before every attempt, a call that is not
exactly the sealed content (``Outbound.carries``): a later stage that added,
replaced or edited anything would be caught there, logged at CRITICAL, and
nothing would be sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.base import ModelCall
from gateway.classify.extract import Extracted, extract
from gateway.protocol import VOCABULARY, ChatCompletionRequest


def _digest(messages: list[dict[str, Any]], params: dict[str, Any]) -> bytes:
    return hashlib.blake2b(orjson.dumps([messages, params], option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Outbound:
    """The content one request may send: messages and forwarded parameters, sealed."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]
    seal: bytes

    @classmethod
    def of(cls, request: ChatCompletionRequest) -> Outbound:
        return cls.sealed(request.wire_messages(), request.params())

    @classmethod
    def sealed(cls, messages: list[dict[str, Any]], params: dict[str, Any]) -> Outbound:
        """Content built by the gateway itself (the pseudonymiser's): sealed as it is, classified by the caller."""
        return cls(messages, params, _digest(messages, params))

    def texts(self) -> tuple[list[str], bool]:
        """Every string this content carries, for the classifier; ``True`` when some cannot be read."""
        found = self.extract()
        return found.texts, found.unreadable

    def extract(self) -> Extracted:
        """The texts and, for each string, where it sits (``gateway/classify/extract.py``)."""
        return extract({"messages": self.messages, **self.params}, VOCABULARY)

    def call(self, *, deadline_s: float, request_id: str) -> ModelCall:
        """The adapters' view of this content: the same objects, never a copy to drift from."""
        return ModelCall(messages=self.messages, params=self.params, deadline_s=deadline_s, request_id=request_id)

    def carries(self, call: ModelCall) -> bool:
        """Whether ``call`` sends exactly this content, unchanged since it was sealed (and classified)."""
        return (
            call.messages is self.messages
            and call.params is self.params
            and _digest(self.messages, self.params) == self.seal
        )
