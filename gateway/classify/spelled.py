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
prose never strings together.
"""

from __future__ import annotations

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

_WORDS = "|".join(sorted(DIGIT_WORDS, key=len, reverse=True))
_HAN = "".join(HAN_DIGITS)
_TOKEN = (
    rf"(?:(?<!\p{{L}})(?:(?P<repeat>{'|'.join(REPEATS)})[\s-]+)?(?P<word>{_WORDS})(?!\p{{L}})"
    rf"|(?P<han>[{_HAN}])|(?P<digits>[0-9]+))"
)
_GAP = r"[ \t\r\n,.;:、，。-]{0,4}"
_RUN = regex.compile(rf"{_TOKEN}(?:{_GAP}{_TOKEN}){{{MIN_DIGITS - 1},}}", regex.IGNORECASE)
_TOKENS = regex.compile(_TOKEN, regex.IGNORECASE)
_PAUSE = regex.compile(r"[,.;\n、，。]")


def _run_digits(text: str, start: int, end: int) -> tuple[list[str], list[int], list[int], int]:
    """The digits of the run ``text[start:end]``, each with its source span; how many came from words."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    words = 0
    previous_end = start
    for token in _TOKENS.finditer(text, start, end):
        if out and _PAUSE.search(text, previous_end, token.start()):
            out.append(" ")
            starts.append(previous_end)
            ends.append(token.start())
        if token.group("digits"):
            value = token.group("digits")
        else:
            words += 1
            word = token.group("word") or token.group("han")
            value = DIGIT_WORDS.get(word.lower()) or HAN_DIGITS[word]
            repeat = token.group("repeat")
            if repeat:
                value *= REPEATS[repeat.lower()]
        out.extend(value)
        starts.extend([token.start()] * len(value))
        ends.extend([token.end()] * len(value))
        previous_end = token.end()
    return out, starts, ends, words


def spelled_view(text: str) -> tuple[NormalizedText, list[tuple[int, int]]] | None:
    """``text`` with its spelled-out digit runs written in digits, and the runs' spans; None if none."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    runs: list[tuple[int, int]] = []
    position = 0
    for run in _RUN.finditer(text):
        digits, run_starts, run_ends, words = _run_digits(text, run.start(), run.end())
        if words < MIN_WORDS or sum(char != " " for char in digits) < MIN_DIGITS:
            continue
        pieces.append(text[position : run.start()])
        starts.extend(range(position, run.start()))
        ends.extend(range(position + 1, run.start() + 1))
        pieces.extend(digits)
        starts.extend(run_starts)
        ends.extend(run_ends)
        runs.append(run.span())
        position = run.end()
    if not runs:
        return None
    pieces.append(text[position:])
    starts.extend(range(position, len(text)))
    ends.extend(range(position + 1, len(text) + 1))
    return NormalizedText(text, "".join(pieces), starts, ends), runs
