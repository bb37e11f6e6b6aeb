"""Compliance-owned recognizers (``classification.recognizers``) as Presidio recognizers.

- ``words``: a case-insensitive list of terms. Each term is normalized like
  the text (NFKC, invisible characters removed) and its spaces match any run
  of white space. A term that starts or ends with a Latin letter or digit
  must not be glued to another one there (``Bluebird`` does not match
  ``Bluebirds2``); next to Chinese characters no boundary is needed, so
  ``项目猎鹰`` matches inside ``关于项目猎鹰的进展``.
- ``pattern``: a regular expression (Python syntax, case-insensitive).
  ``\\w``, ``\\d``, ``\\s`` and ``\\b`` are ASCII classes, so ``\\b\\d{12}\\b``
  matches the number in ``账号123456789012``.
- ``context``: with context words, a match scores ``score`` when one of them
  is within 60 characters before or 30 after it, and 40% of ``score``
  otherwise (below the usual ``min_score``, so it is not reported).

Compiled recognizers are cached per tuple of ``PolicyRecognizer`` on the
compiler instance; a policy reload brings a new tuple and new recognizers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import regex
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from gateway.classify.base import PolicyRecognizer
from gateway.classify.context import ContextMatcher
from gateway.classify.normalize import normalize

WITHOUT_CONTEXT_FACTOR = 0.4
_WORD_FLAGS = regex.IGNORECASE | regex.MULTILINE | regex.DOTALL
_PATTERN_FLAGS = regex.ASCII | regex.IGNORECASE | regex.MULTILINE | regex.DOTALL


def words_regex(words: Sequence[str]) -> str:
    """One alternation matching any of ``words`` (see module docstring)."""
    alternatives = []
    for word in sorted({normalize(w).text.strip() for w in words if w.strip()}, key=len, reverse=True):
        body = r"\s+".join(regex.escape(part) for part in word.split())
        if word[0].isascii() and word[0].isalnum():
            body = r"(?<![A-Za-z0-9])" + body
        if word[-1].isascii() and word[-1].isalnum():
            body += r"(?![A-Za-z0-9])"
        alternatives.append(body)
    if not alternatives:
        raise ValueError("a words recognizer needs at least one non-empty word")
    return "|".join(alternatives)


class PolicyPatternRecognizer(PatternRecognizer):
    """A policy recognizer: Presidio pattern matching plus the context rule above."""

    def __init__(self, spec: PolicyRecognizer, index: int) -> None:
        if bool(spec.words) == bool(spec.pattern):
            raise ValueError(f"recognizer {spec.entity}: give exactly one of words or pattern")
        if spec.words:
            source, flags, kind = words_regex(spec.words), _WORD_FLAGS, "words"
        else:
            source, flags, kind = str(spec.pattern), _PATTERN_FLAGS, "pattern"
        regex.compile(source, flags)  # a bad expression fails here, not mid-request
        self._context_matcher = ContextMatcher(spec.context) if spec.context else None
        self._score = spec.score
        super().__init__(
            supported_entity=spec.entity,
            name=f"policy[{index}]:{spec.entity}",
            patterns=[Pattern(name=kind, regex=source, score=spec.score)],
            context=list(spec.context),
            global_regex_flags=flags,
        )

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        if self._context_matcher is None:
            return results
        for result in results:
            if self._context_matcher.find(text, result.start, result.end) is None:
                result.score = self._score * WITHOUT_CONTEXT_FACTOR
            metadata = result.recognition_metadata or {}
            metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
            result.recognition_metadata = metadata
        return results


class PolicyRecognizerCompiler:
    """Compiles and caches the Presidio recognizers for a policy's recognizer tuple."""

    def __init__(self, max_entries: int = 32) -> None:
        self._compiled: OrderedDict[tuple[PolicyRecognizer, ...], tuple[EntityRecognizer, ...]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def compile(self, specs: Sequence[PolicyRecognizer]) -> tuple[EntityRecognizer, ...]:
        """Presidio recognizers for ``specs``; raises ValueError/regex.error if one is invalid."""
        key = tuple(specs)
        if not key:
            return ()
        with self._lock:
            found = self._compiled.get(key)
            if found is not None:
                self._compiled.move_to_end(key)
                return found
        compiled = tuple(PolicyPatternRecognizer(spec, index) for index, spec in enumerate(key))
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > self._max_entries:
                self._compiled.popitem(last=False)
        return compiled
