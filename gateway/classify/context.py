"""Context words: a nearby word that makes a weak match credible.

Presidio's default enhancer compares spaCy lemmas of the tokens before a match
with the recognizer's context words. That needs the lemmatizer (which we do
not run) and an English tokenizer, which does not split Chinese: ``账号`` glued
to a number is one token. This enhancer looks in a window of characters
around the match instead, case-insensitively, which works the same for
English, German and Chinese and needs no NLP pass at all.

Scoring follows Presidio: a result whose recognizer lists context words and
which has one within the window gains ``boost`` (0.35), is lifted to at least
``floor`` (0.4) and capped at 1.0. Results already boosted by their own
recognizer are left alone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts

WINDOW_BEFORE = 60
WINDOW_AFTER = 30
CONTEXT_BOOST = 0.35
CONTEXT_FLOOR = 0.4
_ENHANCED = RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY


class ContextMatcher:
    """Finds any of a set of context words near a span.

    A word that starts with an ASCII letter or digit must start a word in the
    text (``acct`` matches ``acct.`` and ``accts`` but not ``tacct``); other
    words (Chinese) match anywhere.
    """

    __slots__ = ("_pattern",)

    def __init__(self, words: Iterable[str]) -> None:
        alternatives = []
        for word in sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True):
            escaped = r"\s+".join(regex.escape(part) for part in word.split())
            if word[0].isascii() and word[0].isalnum():
                escaped = r"(?<![a-z0-9])" + escaped
            alternatives.append(escaped)
        self._pattern = regex.compile("|".join(alternatives), regex.IGNORECASE) if alternatives else None

    def find(
        self,
        text: str,
        start: int,
        end: int,
        before: int = WINDOW_BEFORE,
        after: int = WINDOW_AFTER,
    ) -> str | None:
        """The first context word within the window around ``[start, end)``."""
        if self._pattern is None:
            return None
        window_start = max(0, start - before)
        found = self._pattern.search(text, window_start, start) or self._pattern.search(
            text, end, min(len(text), end + after)
        )
        return found.group(0) if found else None


class WindowContextEnhancer(ContextAwareEnhancer):
    """Presidio context enhancer over a character window (see module docstring)."""

    def __init__(self, max_matchers: int = 256) -> None:
        super().__init__(
            context_similarity_factor=CONTEXT_BOOST,
            min_score_with_context_similarity=CONTEXT_FLOOR,
            context_prefix_count=0,
            context_suffix_count=0,
        )
        self._matchers: OrderedDict[tuple[str, ...], ContextMatcher] = OrderedDict()
        self._max_matchers = max_matchers
        self._lock = threading.Lock()

    def matcher(self, words: Sequence[str]) -> ContextMatcher:
        key = tuple(words)
        with self._lock:
            found = self._matchers.get(key)
            if found is not None:
                self._matchers.move_to_end(key)
                return found
        created = ContextMatcher(key)
        with self._lock:
            self._matchers[key] = created
            while len(self._matchers) > self._max_matchers:
                self._matchers.popitem(last=False)
        return created

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts | None,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        by_id = {recognizer.id: recognizer for recognizer in recognizers}
        for result in raw_results:
            metadata = result.recognition_metadata or {}
            if metadata.get(_ENHANCED):
                continue
            recognizer = by_id.get(metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY, ""))
            if recognizer is None or not recognizer.context:
                continue
            if self.matcher(recognizer.context).find(text, result.start, result.end) is None:
                continue
            result.score = min(
                max(result.score + self.context_similarity_factor, self.min_score_with_context_similarity),
                self.MAX_SCORE,
            )
            metadata[_ENHANCED] = True
            result.recognition_metadata = metadata
        return raw_results
