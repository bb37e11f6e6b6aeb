"""National identity numbers: CN_RESIDENT_ID and US_SSN.

CN_RESIDENT_ID: the 18-character PRC resident identity card number
(GB 11643-1999): 6-digit region code (a real province code), birth date
``YYYYMMDD`` (a real date, 1900 to today), 3-digit sequence and an
ISO 7064 MOD 11-2 check character (0-9 or X). Found in any grouping (up to
two spaces, dots, dashes, underscores or slashes between characters), and
split across line breaks, table cells or code pieces
(``numbers.joined_numbers``, in the shapes ``id_shaped`` accepts). Validated
candidates score 1.0 (0.85 split);
anything else is not reported.

US_SSN: ``AAA-GG-SSSS`` with ``-``, ``.`` or space separators (both), or
a line break, scores 0.6. Other forms (nine bare digits; ``AAAGG-SSSS``, which is also a ZIP+4
code) score 0.2 and need a context word such as "SSN" (0.55). Numbers the
SSA never issues are rejected: area 000, 666 or 900-999, group 00, serial
0000, and nine equal digits.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from gateway.classify.numbers import joined_numbers
from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.recognizers.checksums import cn_resident_id_valid

_CN_ID = regex.compile(r"(?<![0-9A-Za-z])[1-9](?:[ ./_-]{0,2}[0-9]){16}[ ./_-]{0,2}[0-9Xx](?![0-9A-Za-z])")
_SEPARATORS = regex.compile(r"[ ./_-]")
_SSN_SEP = r"(?:[-. ]{0,2}|[-.]?[ \t]*\r?\n[ \t]*)"
_SSN = regex.compile(
    rf"(?<![0-9][-. ]{{0,2}})([0-9]{{3}})({_SSN_SEP})([0-9]{{2}})({_SSN_SEP})([0-9]{{4}})(?![-. ]{{0,2}}[0-9])"
)
SPLIT_SCORE = 0.85
_ID_SHAPES = ((6, 8, 4), (6, 4, 4, 4), (4, 4, 4, 4, 2), (3, 3, 4, 4, 4))

SSN_CONTEXT = (
    "ssn", "social security", "social-security", "ss#", "ss #", "taxpayer", "tin",
    "社会安全号", "社保号",
)  # fmt: skip


class CnResidentIdRecognizer(ScanningRecognizer):
    """CN_RESIDENT_ID: PRC resident ID numbers, check digit and birth date validated."""

    ENTITY = "CN_RESIDENT_ID"

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        for match in _CN_ID.finditer(text):
            if cn_resident_id_valid(_SEPARATORS.sub("", match.group())):
                yield match.start(), match.end(), 1.0
        for joined in joined_numbers(text, 18, 18, check_x=True):
            if id_shaped(joined.groups) and joined.digits[0] != "0" and cn_resident_id_valid(joined.digits):
                yield joined.start, joined.end, SPLIT_SCORE


def id_shaped(groups: tuple[int, ...]) -> bool:
    """Whether digit groups are a way resident IDs are written: region-birth date-rest, fours, or one break.

    Dates and amounts in a table hold real birth dates and region codes; only
    these shapes are joined, so that a row of them does not make an ID.
    """
    return (len(groups) == 2 and min(groups) >= 3) or groups in _ID_SHAPES


def ssn_issuable(area: str, group: str, serial: str) -> bool:
    """False for SSNs the Social Security Administration never issues."""
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return len(set(area + group + serial)) > 1


class UsSsnRecognizer(ScanningRecognizer):
    """US_SSN: grouped SSNs, or bare nine digits next to an SSN word."""

    ENTITY = "US_SSN"
    CONTEXT = SSN_CONTEXT

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        for match in _SSN.finditer(text):
            area, first, group, second, serial = match.groups()
            if ssn_issuable(area, group, serial):
                yield match.start(), match.end(), 0.6 if first and second else 0.2
