"""The language of each part of a text, so that an NER model only reads a language it knows.

An NER model trained on English reads German nouns, Spanish imperatives and French
verbs as people (``Rückzahlungsprozess``, ``Calcula la cuota``, ``Rédige``): every
ordinary German prompt would stay on-prem. So the NER pass runs a model only on text in
its own language (``DetectionEngine``), and this module says which language each part
of a text is in:

- a text is cut into paragraphs (blank lines); a text without one is one segment;
- a paragraph with Japanese kana is ``ja``, with Korean Hangul ``ko``, one whose letters
  are mostly Chinese characters ``zh`` (the script says it, no statistics needed);
- otherwise its *prose lines* (three words or more, two of them starting in lower case:
  not table rows, headers or lists of names) go to lingua
  (``lingua-language-detector``, low-accuracy mode: its models ship in the wheel, no
  download; about 40 MB and a tenth of a millisecond per short text, measured) restricted
  to ``LANGUAGES``; its best guess is the paragraph's language;
- a paragraph without prose (a CSV table, a JSON record, a name and a number) is
  ``und``: the engine treats it as English (what the English model read before), which
  is right for data and harmless for names.

Why lingua: of the maintained offline detectors on PyPI, py3langid ships its model too
but walks each text byte by byte in Python (0.7 ms for a short prompt, 118 MB at load,
measured), langdetect is unmaintained since 2021 and random unless seeded, fastText's
bindings need a model file downloaded apart. lingua's low-accuracy mode reads trigrams
only: it is less sure of a three-word text, but what the engine needs is "English,
French, or neither", and a short prompt is classified right far more often than not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.classify.script import has_hangul, has_kana

# The languages lingua chooses among: those a European or Asian bank writes in, so that
# a Polish or Swedish text is not forced into English.
# Each language costs time (about 10 microseconds per short text each, measured): what the
# engine needs is "English, French, or neither", so the others are those most often written
# in Latin script in a European bank, which keep a foreign text out of English.
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "pl")
UNDETERMINED = "und"
# English wins when lingua gives it at least this confidence: calling a foreign text
# English costs over-keeping (its NER makes up names), calling English text foreign costs
# missed names, which is worse; short English text is often split between two guesses.
ENGLISH_FLOOR = 0.2

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_WORD = re.compile(r"[^\W\d_]{2,}")
_HAN_LETTER = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
_CYRILLIC = re.compile(r"[\u0400-\u052f]")
_GREEK = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")


@dataclass(frozen=True, slots=True)
class Segment:
    """Characters ``start:end`` of a text are in ``language`` (ISO 639-1, or ``und``)."""

    start: int
    end: int
    language: str


class LanguageDetector:
    """Segments of a text and their languages (module docstring). Thread-safe."""

    def __init__(self, languages: Iterable[str] = LANGUAGES) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        wanted = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages]
        self._detector = (
            LanguageDetectorBuilder.from_languages(*wanted)
            .with_low_accuracy_mode()
            .with_preloaded_language_models()
            .build()
        )

    def segments(self, text: str) -> tuple[Segment, ...]:
        """The text's paragraphs with their languages; neighbours in one language are joined."""
        found: list[Segment] = []
        start = 0
        for match in _PARAGRAPH_BREAK.finditer(text):
            found.append(Segment(start, match.start(), self.language_of(text[start : match.start()])))
            start = match.end()
        found.append(Segment(start, len(text), self.language_of(text[start:])))
        joined = [found[0]]
        for segment in found[1:]:
            if segment.language == joined[-1].language:
                joined[-1] = Segment(joined[-1].start, segment.end, segment.language)
            else:
                joined.append(segment)
        return tuple(joined)

    def language_of(self, paragraph: str) -> str:
        """One paragraph's language (module docstring)."""
        if not paragraph.isascii():
            if has_kana(paragraph):
                return "ja"
            if has_hangul(paragraph):
                return "ko"
            letters = len(_LETTER.findall(paragraph))
            for script, language in ((_HAN_LETTER, "zh"), (_CYRILLIC, "ru"), (_GREEK, "el")):
                if letters and len(script.findall(paragraph)) * 2 >= letters:
                    return language
        prose = "\n".join(line for line in paragraph.splitlines() if _is_prose(line))
        if not prose:
            return UNDETERMINED
        ranked = self._detector.compute_language_confidence_values(prose)
        if not ranked or ranked[0].value <= 0.0:
            return UNDETERMINED
        for candidate in ranked:
            if candidate.value < ENGLISH_FLOOR:
                break
            if candidate.language.iso_code_639_1.name == "EN":
                return "en"
        return str(ranked[0].language.iso_code_639_1.name.lower())


def _is_prose(line: str) -> bool:
    words = _WORD.findall(line)
    return len(words) >= 3 and sum(1 for word in words if word[0].islower()) >= 2
