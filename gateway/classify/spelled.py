"""Digits spelled out in words, as speech-to-text transcripts write numbers.

``four one one one one one …`` (English), ``vier eins eins eins …`` (German),
``quatre un un un …`` (French), ``cuatro uno uno …`` (Spanish), ``四一一一…`` and
``肆壹壹壹…`` (Chinese numerals, ``〇``/``零`` for zero, ``幺`` for one), with
``double``/``triple`` (``double one`` = ``11``, also ``doppel``, ``doble``)
and ``oh``/``o`` for zero. Digits already written as digits may be mixed in.

``spelled_view`` finds runs of at least ``MIN_DIGITS`` such digits (separated
by white space, hyphens, commas or full stops) holding at least two words, and
returns the text with each run written in digits, with a map back (a
``NormalizedText`` whose ``original`` is the text given). A pause in the
transcript (comma, full stop, semicolon, line break) becomes a space between
digit groups, so ``… one one, expiry …`` does not glue an expiry date to a card
number. Words are read digit by digit only: ``forty-one`` is not read.

Articles and common words (``one``, ``un``, ``une``, ``o``, ``six``) are digits
only inside such a run, and a run needs nine digits or more, which ordinary
prose never strings together. A cheap necessary condition (two digit words
and nine digits in all, or a Chinese numeral) comes first.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from gateway.classify.normalize import NormalizedText

MIN_DIGITS = 9
MIN_WORDS = 2

DIGIT_WORDS: dict[str, str] = {
    # English
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "niner": "9",
    # German
    "null": "0", "eins": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4", "fünf": "5", "fuenf": "5",
    "sechs": "6", "sieben": "7", "acht": "8", "neun": "9",
    # French
    "zéro": "0", "un": "1", "une": "1", "deux": "2", "trois": "3", "quatre": "4", "cinq": "5",
    "sept": "7", "huit": "8", "neuf": "9",
    # Spanish
    "cero": "0", "uno": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "seis": "6",
    "siete": "7", "ocho": "8", "nueve": "9",
}  # fmt: skip
HAN_DIGITS: dict[str, str] = {
    **dict(zip("〇零一二三四五六七八九", "00123456789", strict=True)),
    "幺": "1",
    **dict(zip("壹贰貳叁參肆伍陆陸柒捌玖", "122334566789", strict=True)),
}
REPEATS = {"double": 2, "doppel": 2, "doble": 2, "triple": 3}

_HAN = "".join(HAN_DIGITS)
_TOKENS = regex.compile(rf"[0-9]+|\p{{Latin}}+|[{_HAN}]")
_GAP = regex.compile(r"[ \t\r\n,.;:、，。-]{0,4}")
_PAUSE = regex.compile(r"[,.;\n、，。]")
_HAS_HAN_DIGIT = regex.compile(rf"[{_HAN}]")
_PUNCTUATION = ",.;:-"

# One digit of a run: its characters and the span of the token (or tokens: ``double one``) it came from.
_Digits = tuple[str, int, int]


def _worth_reading(text: str) -> bool:
    """A necessary condition for a run, cheap: two digit words and nine digits in all, or a Chinese numeral."""
    if not text.isascii() and _HAS_HAN_DIGIT.search(text):
        return True
    words = repeats = 0
    for word in text.lower().split():
        word = word.strip(_PUNCTUATION)
        if word in DIGIT_WORDS:
            words += 1
        elif word in REPEATS:
            repeats += 1
    if words < MIN_WORDS:
        return False
    return words + 2 * repeats + sum(map(text.count, "0123456789")) >= MIN_DIGITS


def _runs(text: str) -> Iterator[list[_Digits]]:
    """Runs of digit tokens with only separators between them, each with at least two words."""
    run: list[_Digits] = []
    words = 0
    repeat: tuple[int, int] | None = None  # (start, times) of a pending "double"
    previous_end = -1

    def done() -> bool:
        return words >= MIN_WORDS and sum(value != " " for value, _, _ in run) >= MIN_DIGITS

    for token in _TOKENS.finditer(text):
        value = token.group()
        start, end = token.span()
        if previous_end >= 0 and not _GAP.fullmatch(text, previous_end, start):
            if done():
                yield run
            run, words, repeat = [], 0, None
        if not value[0].isdigit():
            lowered = value.lower()
            if lowered in REPEATS:
                repeat, previous_end = (start, REPEATS[lowered]), end
                continue
            digit = DIGIT_WORDS.get(lowered) or HAN_DIGITS.get(value)
            if digit is None:
                if done():
                    yield run
                run, words, repeat, previous_end = [], 0, None, -1
                continue
            words += 1
            if repeat is not None:
                start, value = repeat[0], digit * repeat[1]
            else:
                value = digit
        repeat = None
        if run and _PAUSE.search(text, run[-1][2], start):
            run.append((" ", run[-1][2], start))
        run.extend((char, start, end) for char in value)
        previous_end = end
    if done():
        yield run


def spelled_view(text: str) -> tuple[NormalizedText, list[tuple[int, int]]] | None:
    """``text`` with its spelled-out digit runs written in digits, and the runs' spans; None if none."""
    if not _worth_reading(text):
        return None
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    runs: list[tuple[int, int]] = []
    position = 0
    for run in _runs(text):
        run_start, run_end = run[0][1], run[-1][2]
        pieces.append(text[position:run_start])
        starts.extend(range(position, run_start))
        ends.extend(range(position + 1, run_start + 1))
        for char, start, end in run:
            pieces.append(char)
            starts.append(start)
            ends.append(end)
        runs.append((run_start, run_end))
        position = run_end
    if not runs:
        return None
    pieces.append(text[position:])
    starts.extend(range(position, len(text)))
    ends.extend(range(position + 1, len(text) + 1))
    return NormalizedText(text, "".join(pieces), starts, ends), runs
