"""PERSON, LOCATION, NRP and DATE_TIME from the English NER model.

Presidio's ``SpacyRecognizer`` turns the model's entities into results; this
subclass corrects them:

- the English model also labels stretches of Chinese it cannot read; those
  spans are trimmed to their Latin part (``客户John Smith`` -> ``John Smith``)
  and dropped when nothing Latin is left, so Chinese text is judged by our
  own recognizers only;
- a PERSON that is a place named after a saint (``Sainte Audrey-la-Forêt``, ``San
  Michele``) or a street (``Katherine Drive``; ``full_name.names_a_place``) is dropped;
- PERSON spans lose non-name edge words (``Summarize ISIN``, ``Draft``,
  ``JPY`` disappear; see ``name_shape.py``) and are dropped if they contain
  digits (``EUR 1,250.00``); a DATE_TIME that is a bare number is dropped;
- name-shaped runs of capitalised words the model missed are added as
  PERSON with a weak score (``name_shape.name_shaped_spans``).
"""

from __future__ import annotations

import regex
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from spacy.tokens import Doc

from gateway.classify.entities import NER_ENTITIES
from gateway.classify.recognizers.full_name import names_a_place
from gateway.classify.recognizers.name_shape import NAME_SHAPE_SCORE, name_shaped_spans, trim_person

_LATIN_CORE = regex.compile(
    r"[A-Za-z0-9\u00c0-\u024f](?:[^\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]*[A-Za-z0-9\u00c0-\u024f.])?"
)
_CJK = regex.compile(r"[\u2e80-\u9fff\uf900-\ufaff]")
_DIGIT = regex.compile(r"[0-9]")
_BARE_NUMBER = regex.compile(r"[0-9][0-9 .,/-]*")


class LatinNerRecognizer(SpacyRecognizer):
    """SpacyRecognizer with the corrections listed in the module docstring."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_language=supported_language,
            supported_entities=list(NER_ENTITIES),
        )
        # The name-shape additions and the sentence-start rule read English and French text.
        self._english = supported_language == "en"

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
    ) -> list[RecognizerResult]:
        kept = [
            corrected
            for result in super().analyze(text, entities, nlp_artifacts)
            if (corrected := self._correct(text, result)) is not None
        ]
        if not self._english:
            kept = [r for r in kept if not _sentence_first_word(text, r)]
        doc = nlp_artifacts.tokens if nlp_artifacts is not None else None
        if self._english and "PERSON" in entities and isinstance(doc, Doc):
            people = [(r.start, r.end) for r in kept if r.entity_type == "PERSON"]
            for start, end in name_shaped_spans(doc):
                if not any(s < end and start < e for s, e in people):
                    kept.append(self._result(start, end))
        return kept

    def _correct(self, text: str, result: RecognizerResult) -> RecognizerResult | None:
        span = text[result.start : result.end]
        if _CJK.search(span) is not None:
            core = _LATIN_CORE.search(span)
            if core is None or _CJK.search(core.group()) is not None:
                return None
            result.start, result.end = result.start + core.start(), result.start + core.end()
            span = core.group()
        if result.entity_type == "PERSON":
            if _DIGIT.search(span) is not None or _is_company(text, result.start, result.end):
                return None
            if _SAINT.match(span) is not None or _SAINT_BEFORE.search(text, 0, result.start) is not None:
                return None  # ``Sainte Audrey-la-Forêt``, ``San Michele``: a place named after a saint
            trimmed = trim_person(span)
            if trimmed is None:
                return None
            result.start, result.end = result.start + trimmed[0], result.start + trimmed[1]
            if names_a_place(text, result.start, result.end):
                return None  # ``Katherine Drive``, ``Logan Viaduct``: a street or a place
        elif result.entity_type == "DATE_TIME" and _BARE_NUMBER.fullmatch(span):
            return None
        return result

    def _result(self, start: int, end: int) -> RecognizerResult:
        return RecognizerResult(
            entity_type="PERSON",
            start=start,
            end=end,
            score=NAME_SHAPE_SCORE,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: f"{type(self).__name__}:name-shape",
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


_SAINT = regex.compile(r"(?:Saint|Sainte|St|Ste|San|Santa|Santo|Sankt|São)\b")
_SAINT_BEFORE = regex.compile(r"(?<![\p{L}])(?:Saint|Sainte|St|Ste|San|Santa|Santo|Sankt|São)\.?[ \t-]$")
_SENTENCE_START = regex.compile(r"(?:^|[.!?:;\n]\s*|[«\"(]\s*)$")
_ONE_WORD = regex.compile(r"\p{L}[\p{L}'’-]*")


def _sentence_first_word(text: str, result: RecognizerResult) -> bool:
    """A one-word PERSON first in its sentence: the French model's usual mistake for an
    imperative (``Rédige``, ``Résume``, ``Reformule``); a surname alone there is rare."""
    return (
        result.entity_type == "PERSON"
        and _ONE_WORD.fullmatch(text[result.start : result.end]) is not None
        and _SENTENCE_START.search(text[max(0, result.start - 3) : result.start]) is not None
    )


_COMPANY_SUFFIX = regex.compile(
    r"(?:^|[\s,&])(?:LLC|LLP|Ltd|Limited|Inc|Corp|PLC|plc|GmbH|AG|KG|OHG|SE|SA|SAS|SARL|S\.A\.|S\.L\.|SL|SpA|"
    r"S\.p\.A\.|Srl|S\.r\.l\.|BV|B\.V\.|NV|N\.V\.|Group|Holding|Holdings|& Co|and Sons|& Sons|e Figli|y Asociados)"
    r"\.?(?=$|[\s,.;:)])",
    regex.IGNORECASE,
)
_FIRM_LIST = regex.compile(
    r"(?i:\bthe|\bder|\bdie|\bdas|\bla|\ble|\bel|\bil)\s+"
    r"(\p{Lu}[\p{Ll}'’-]+(?:,\s*\p{Lu}[\p{Ll}'’-]+)+,?\s+(?:and|&|und|et|y|e|en)\s+\p{Lu}[\p{Ll}'’-]+)"
)
_FIRM_OF_SURNAMES = regex.compile(r"(?:^|\s)(?:the|der|die|das|la|le|les|el|los|il|lo|de)\s+$", regex.IGNORECASE)


def _is_company(text: str, start: int, end: int) -> bool:
    """A PERSON span that names a company: a company form in it or right after it (``James LLC``,
    ``Leclerc Techer SA``), or surnames joined by ``and``/``,`` after an article (``the Johnson,
    Stout and Barton loan facility``), the span itself or a list around it that holds it."""
    if _COMPANY_SUFFIX.search(text[start : min(len(text), end + 14)]) is not None:
        return True
    span = text[start:end]
    if (" and " in span or "," in span or " & " in span) and (
        _FIRM_OF_SURNAMES.search(text[max(0, start - 5) : start]) is not None
    ):
        return True
    # The model often tags one surname of such a firm only: look at the whole list around it.
    for firm in _FIRM_LIST.finditer(text, max(0, start - 80), min(len(text), end + 80)):
        if firm.start(1) <= start and end <= firm.end(1):
            return True
    return False
