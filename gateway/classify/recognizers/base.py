"""A small base for recognizers that scan with their own code.

Presidio's ``PatternRecognizer`` scores each regex match on its own; several of
our recognizers need to look at a match (strip separators, try a shorter
candidate, check a length table) before deciding. They subclass
``ScanningRecognizer`` and implement ``scan``.
"""

from __future__ import annotations

from collections.abc import Iterator

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts


class ScanningRecognizer(LocalRecognizer):
    """A recognizer of one entity type whose matches come from ``scan``."""

    ENTITY: str = ""
    CONTEXT: tuple[str, ...] = ()

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entities=[self.ENTITY],
            supported_language=supported_language,
            context=list(self.CONTEXT),
        )

    def load(self) -> None:
        """Nothing to load; patterns are compiled at import."""

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        """Yield ``(start, end, score)`` for each match in ``text``."""
        raise NotImplementedError

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
    ) -> list[RecognizerResult]:
        metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        return [
            RecognizerResult(
                entity_type=self.ENTITY,
                start=start,
                end=end,
                score=score,
                recognition_metadata=dict(metadata),
            )
            for start, end, score in self.scan(text)
            if score > 0
        ]
