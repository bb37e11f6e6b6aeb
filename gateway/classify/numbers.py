"""Numbers split across lines, table cells, code and messages: digit groups joined for their checksums.

Copy-paste from PDFs, e-mails and terminals wraps a long number at the end of a
line (``Card no.: 3044 1640\\n1076 29``); tables put its groups in cells
(``| 4111 | 1111 | 1111 | 1111 |``, ``4111;1111;1111;1111``); code builds it
from string pieces (``"4111 1111 " +\\n    "1111 1111"``). ``joined_numbers``
finds runs of digit groups separated by such gaps and offers every window of
consecutive groups whose digits number within a length range, so that the
recognizers can validate the joined form with its checksum (Luhn, MOD 97-10,
MOD 11-2): the checksum is what keeps a join of unrelated numbers from
counting.

A gap is *soft* when it is what people write inside one number (one or two
spaces or tabs; ``-``, ``.``, ``/`` or ``_`` with optional spaces): the
recognizers' own patterns read those. It is *hard* when it is anything else
made only of white space (line breaks included) and the punctuation of tables
and code (quotes, ``+``, ``|``, ``;``, ``,``, ``&``, ``\\``, brackets), at
most ``MAX_GAP`` characters. Letters and other digits end a run. Only windows
that cross at least one hard gap are offered: the rest is the patterns' job.

``junction`` joins the end of one text and the start of the next (two
messages or content parts: a user can paste half a number in each) into one
short text that the same recognizers read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import regex

from gateway.classify.normalize import normalize

MAX_GAP = 16
_SOFT_GAP = regex.compile(r"[ \t]{1,2}|[ \t]?[-./_][ \t]?")
HARD_GAP = regex.compile(r"""[\s"'`+|;,.&\\/()\[\]{}_-]""" + f"{{1,{MAX_GAP}}}")
_LINE_WRAP = regex.compile(r"""[ \t"'`+\\]*\r?\n[ \t"'`+\\]*""")
_DIGITS = regex.compile(r"[0-9]+")
_DIGITS_OR_X = regex.compile(r"[0-9]+[Xx]?")

# A junction reads this much of the end of one text and of the start of the next.
JUNCTION_TAIL = 80
JUNCTION_HEAD = 48
_ENDS_WITH_VALUE = regex.compile(r"[0-9A-Za-z][\s\"'`+|;,.-]{0,4}\Z")
_STARTS_WITH_VALUE = regex.compile(r"\A[\s\"'`+|;,.:-]{0,4}(?:[0-9]|[A-Z0-9]{4})")


@dataclass(frozen=True, slots=True)
class Joined:
    """A window of digit groups: its span, joined characters and how it was split.

    ``groups``: digits per group. ``hard_gaps``: gaps that are not in-number
    separators. ``wrapped``: exactly one hard gap, a line break with nothing
    but white space and code quotes around it (a value wrapped at a line end).
    """

    start: int
    end: int
    digits: str
    groups: tuple[int, ...]
    hard_gaps: int
    wrapped: bool


def joined_numbers(text: str, shortest: int, longest: int, *, check_x: bool = False) -> Iterator[Joined]:
    """Every window of consecutive digit groups of ``shortest..longest`` digits across a hard gap.

    ``check_x``: a group may end in ``X`` (the check character of a Chinese
    resident ID); only the window's last group may.
    """
    groups = list((_DIGITS_OR_X if check_x else _DIGITS).finditer(text))
    if len(groups) < 2:
        return
    # kinds[i]: the gap before groups[i + 1]: "soft", "hard", "wrap" or "" (the run ends)
    kinds = []
    for before, after in itertools.pairwise(groups):
        gap = text[before.end() : after.start()]
        if check_x and before.group()[-1] in "Xx":
            kinds.append("")
        elif _SOFT_GAP.fullmatch(gap):
            kinds.append("soft")
        elif HARD_GAP.fullmatch(gap):
            kinds.append("wrap" if _LINE_WRAP.fullmatch(gap) else "hard")
        else:
            kinds.append("")
    for first in range(len(groups)):
        total = 0
        hard = wraps = 0
        for last in range(first, len(groups)):
            if last > first:
                kind = kinds[last - 1]
                if not kind:
                    break
                hard += kind != "soft"
                wraps += kind == "wrap"
            total += len(groups[last].group())
            if total > longest:
                break
            if total >= shortest and hard:
                window = groups[first : last + 1]
                yield Joined(
                    start=window[0].start(),
                    end=window[-1].end(),
                    digits="".join(match.group() for match in window).upper(),
                    groups=tuple(len(match.group()) for match in window),
                    hard_gaps=hard,
                    wrapped=hard == 1 and wraps == 1,
                )


def card_grouped(groups: tuple[int, ...]) -> bool:
    """Whether digit groups are in a shape cards are written in.

    Groups of four with a shorter last group (``4-4-4-4``, ``4-4-4-2``,
    ``4-4-4-4-3``), Amex/Diners ``4-6-5``/``4-6-4``, UnionPay ``6-13``, or
    thousands grouping (``4,111,111,111,111,111``).
    """
    count = len(groups)
    if count >= 3 and all(size == 4 for size in groups[:-1]) and 1 <= groups[-1] <= 4:
        return True
    if count == 5 and groups[:4] == (4, 4, 4, 4) and groups[4] <= 3:
        return True
    if groups in ((4, 6, 5), (4, 6, 4), (6, 13)):
        return True
    return count >= 4 and 1 <= groups[0] <= 3 and all(size == 3 for size in groups[1:])


def broken_once(groups: tuple[int, ...]) -> bool:
    """Two groups of which neither is short: a number written without spaces, broken once."""
    return len(groups) == 2 and min(groups) >= 3


@dataclass(frozen=True, slots=True)
class Junction:
    """The end of one text and the start of the next, joined by a line break.

    ``text[:split]`` is ``previous[tail_start:]``; ``text[split + 1:]`` is
    ``following[:len(text) - split - 1]``.
    """

    text: str
    tail_start: int
    split: int


def junction(previous: str, following: str) -> Junction | None:
    """A junction of two adjacent texts when a value could run across them; else None.

    Only when ``previous`` ends with a letter or digit (white space and a
    little punctuation aside) and ``following`` starts with a digit or four
    upper-case letters and digits: the only ways a card, IBAN or ID number cut
    in two can look. Cheap enough to call for every adjacent pair.
    """
    if not previous or not following:
        return None
    tail = previous[-JUNCTION_TAIL:]
    head = following[:JUNCTION_HEAD]
    if not _ENDS_WITH_VALUE.search(tail) or not _STARTS_WITH_VALUE.match(head):
        return None
    return Junction(text=f"{tail}\n{head}", tail_start=len(previous) - len(tail), split=len(tail))


# The entity types whose values a junction is read for: those with a checksum.
JOINABLE = frozenset({"CREDIT_CARD", "CN_BANK_CARD", "IBAN_CODE", "CN_RESIDENT_ID", "US_SSN"})


@dataclass(frozen=True, slots=True)
class Straddling:
    """A value found across the boundary of texts ``index`` and ``index + 1``.

    ``start`` is where it begins in text ``index`` (it runs to that text's
    end); ``end`` is where it ends in text ``index + 1`` (it runs from 0).
    """

    index: int
    start: int
    end: int
    entity_type: str
    score: float
    recognizer: str


def straddling_values(
    texts: Sequence[str], scan: Callable[[str], Iterable[tuple[str, int, int, float, str]]]
) -> Iterator[Straddling]:
    """Values cut in two between adjacent texts (two messages, two content parts).

    ``scan(text)`` runs the recognizers of ``JOINABLE`` types on a normalized
    junction and yields ``(entity type, start, end, score, recognizer)``; only
    what crosses the line break between the two texts is kept.
    """
    for index in range(len(texts) - 1):
        joint = junction(texts[index], texts[index + 1])
        if joint is None:
            continue
        view = normalize(joint.text)
        for entity_type, start, end, score, recognizer in scan(view.text):
            start, end = view.to_original(start, end)
            if start < joint.split and end > joint.split + 1:
                yield Straddling(index, joint.tail_start + start, end - joint.split - 1, entity_type, score, recognizer)
