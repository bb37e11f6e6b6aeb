"""Restricted numbers in other forms: spelled out, escaped, base64 or hex; and UNDECODABLE_CONTENT.

``NumberFormsRecognizer`` reads each form a text holds (``spelled``,
``decode``) and runs the number recognizers (cards, UnionPay cards, IBANs,
Chinese resident IDs, US SSNs) on what it reads, with their context words
looked for in that reading too. A finding is reported with its entity type and
its span in the text: the spelled-out words, the escapes, or the whole
encoded blob. Decoded text is read again, up to ``MAX_DEPTH`` layers (base64
of hex of a URL-encoded number); text still encoded below that, and content
that looks encoded but cannot be read (``decode.Blob.unreadable``), is
reported as ``UNDECODABLE_CONTENT`` (score 1.0) over its span: the policy
decides what that means (``classification.on_undecodable``).

Cheap necessary conditions run first (a run of digit words, four escapes, a
16-character base64 or 24-character hex candidate): a text without any of
them costs three regular-expression scans.
"""

from __future__ import annotations

from collections.abc import Iterator

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from gateway.classify.context import CONTEXT_BOOST, CONTEXT_FLOOR, ContextMatcher
from gateway.classify.decode import encoded_blobs, unescaped_view
from gateway.classify.entities import UNDECODABLE_CONTENT
from gateway.classify.recognizers.banking import IbanRecognizer
from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.recognizers.national_id import CnResidentIdRecognizer, UsSsnRecognizer
from gateway.classify.recognizers.payment import CnBankCardRecognizer, CreditCardRecognizer
from gateway.classify.spelled import spelled_view

MAX_DEPTH = 3
# Characters of the text around a blob that its decoded text is read with (context words).
CONTEXT_BEFORE = 60
CONTEXT_AFTER = 30

Finding = tuple[str, int, int, float]  # entity type, start, end, score


class NumberFormsRecognizer(LocalRecognizer):
    """Numbers spelled out, escaped or encoded; content that cannot be decoded (module docstring)."""

    INNER: tuple[type[ScanningRecognizer], ...] = (
        CreditCardRecognizer,
        CnBankCardRecognizer,
        IbanRecognizer,
        CnResidentIdRecognizer,
        UsSsnRecognizer,
    )

    def __init__(self, supported_language: str = "en") -> None:
        self._inner = [cls(supported_language) for cls in self.INNER]
        self._context = {
            recognizer.ENTITY: ContextMatcher(recognizer.CONTEXT) for recognizer in self._inner if recognizer.CONTEXT
        }
        super().__init__(
            supported_entities=[*(r.ENTITY for r in self._inner), UNDECODABLE_CONTENT],
            supported_language=supported_language,
        )

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        wanted = set(entities or self.supported_entities)
        inner = [recognizer for recognizer in self._inner if recognizer.ENTITY in wanted]
        metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,  # context applied here, in the reading
        }
        seen: dict[tuple[str, int, int], float] = {}
        for entity, start, end, score in self.findings(text, inner, UNDECODABLE_CONTENT in wanted):
            key = (entity, start, end)
            seen[key] = max(score, seen.get(key, 0.0))
        return [
            RecognizerResult(entity, start, end, score, recognition_metadata=dict(metadata))
            for (entity, start, end), score in seen.items()
            if score > 0
        ]

    def findings(
        self, text: str, inner: list[ScanningRecognizer], undecodable: bool, depth: int = 0
    ) -> Iterator[Finding]:
        """What ``inner`` finds in the forms ``text`` holds; at ``depth`` > 0 in ``text`` itself too."""
        if depth:
            yield from self._scan(text, inner)
        spelled = spelled_view(text)
        if spelled is not None:
            view, runs = spelled
            for entity, start, end, score in self._scan(view.text, inner):
                start, end = view.to_original(start, end)
                if any(start < run_end and run_start < end for run_start, run_end in runs):
                    yield entity, start, end, score
        escaped = unescaped_view(text)
        if escaped is not None:
            for entity, start, end, score in self.findings(escaped.text, inner, undecodable, depth + 1):
                yield (entity, *escaped.to_original(start, end), score)
        for blob in encoded_blobs(text):
            if blob.text is None or depth >= MAX_DEPTH:
                if undecodable:
                    yield UNDECODABLE_CONTENT, blob.start, blob.end, 1.0
                continue
            before = text[max(0, blob.start - CONTEXT_BEFORE) : blob.start] + " "
            reading = before + blob.text + " " + text[blob.end : blob.end + CONTEXT_AFTER]
            decoded_end = len(before) + len(blob.text)
            for entity, start, end, score in self.findings(reading, inner, undecodable, depth + 1):
                if start < decoded_end and len(before) < end:
                    yield entity, blob.start, blob.end, score

    def _scan(self, text: str, inner: list[ScanningRecognizer]) -> Iterator[Finding]:
        for recognizer in inner:
            context = self._context.get(recognizer.ENTITY)
            for start, end, score in recognizer.scan(text):
                if context is not None and context.find(text, start, end) is not None:
                    score = min(max(score + CONTEXT_BOOST, CONTEXT_FLOOR), 1.0)
                yield recognizer.ENTITY, start, end, score
