"""The classifier extension point and what it returns.

A classifier finds which entity types a request's text contains. It does not
know levels: the policy maps entity types to levels (``gateway/policy/engine``),
so one classification serves any policy version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Detection:
    """One entity found: its type, score and span in the *original* text.

    ``text_index`` says which of the texts given to ``classify`` the span
    belongs to (0 for the first).
    """

    entity_type: str
    score: float
    start: int
    end: int
    recognizer: str = ""
    text_index: int = 0


@dataclass(frozen=True, slots=True)
class Classification:
    """What a classifier found in a request.

    ``entity_types`` holds each type found at or above ``min_score``.
    ``error`` is set when the classifier could not do its job (exception,
    timeout, unreadable language, text too long); the policy then applies its
    ``on_error`` level, whatever ``entity_types`` says. ``error`` is a short
    reason for the record (never text from the request).
    """

    entity_types: frozenset[str] = frozenset()
    detections: tuple[Detection, ...] = ()
    error: str | None = None
    elapsed_ms: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PolicyRecognizer:
    """A compliance-owned detector from the policy's ``classification.recognizers``."""

    entity: str
    words: tuple[str, ...] = ()
    pattern: str | None = None
    context: tuple[str, ...] = ()
    score: float = 0.85


class Classifier(Protocol):
    """Finds entity types in texts.

    ``classify`` receives every text a request carries (all roles, content
    parts, tool-call arguments, names), the policy's own recognizers, the
    minimum score and the entity types the policy can use (``entities``;
    ``None``: all). It need not report types outside ``entities``, and may skip
    the detectors that only find such types. It must not block the event loop.
    It should not raise: a failure is reported through ``Classification.error``
    so the caller fails closed; if it raises anyway, the caller treats that as
    an error too.
    """

    async def classify(
        self,
        texts: Sequence[str],
        *,
        recognizers: Sequence[PolicyRecognizer] = (),
        min_score: float = 0.5,
        entities: frozenset[str] | None = None,
    ) -> Classification: ...
