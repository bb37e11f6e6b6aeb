"""Fakes that sit beside the real interfaces, for unit tests only.

The integration tests use the real classifier, real adapters and real servers;
these exist so the HTTP layer and the request path can be tested in-process
and in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

from adapters.base import Adapter, Chunk, ModelCall, Usage
from gateway.classify.base import Classification, PolicyRecognizer
from gateway.errors import UpstreamError

_PATTERNS = {
    "CREDIT_CARD": re.compile(r"\b4111[ -]?1111[ -]?1111[ -]?1111\b"),
    "EMAIL_ADDRESS": re.compile(r"\b[\w.]+@[\w.]+\.\w+\b"),
}


class KeywordClassifier:
    """Finds a test card number and e-mail addresses by regex; can be told to fail."""

    def __init__(self, *, error: str | None = None, raises: bool = False) -> None:
        self.error = error
        self.raises = raises
        self.calls: list[list[str]] = []

    async def classify(
        self, texts: Sequence[str], *, recognizers: Sequence[PolicyRecognizer] = (), min_score: float = 0.5,
        entities: frozenset[str] | None = None,
    ) -> Classification:
        self.calls.append(list(texts))
        if self.raises:
            raise RuntimeError("classifier exploded")
        if self.error:
            return Classification(error=self.error)
        found = {name for name, rx in _PATTERNS.items() for t in texts if rx.search(t)}
        for r in recognizers:
            if any(w.lower() in t.lower() for w in r.words for t in texts):
                found.add(r.entity)
        if entities is not None:  # as the real one: only the types the policy uses
            found &= entities
        return Classification(entity_types=frozenset(found))


class ScriptedAdapter(Adapter):
    """Answers with fixed text, records every call, and fails when told to."""

    def __init__(self, name: str, text: str = "Hello from the fake.", *, fail: bool = False) -> None:
        self.name = name
        self.text = text
        self.fail = fail
        self.calls: list[ModelCall] = []

    async def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        self.calls.append(call)
        if self.fail:
            raise UpstreamError(f"{self.name} is down", upstream_status=503)
        words = self.text.split(" ")
        for i, word in enumerate(words):
            yield Chunk(content=word if i == 0 else " " + word)
        yield Chunk(finish_reason="stop", usage=Usage(prompt_tokens=7, completion_tokens=len(words)))
