"""Bank account identifiers: IBAN_CODE and SWIFT_CODE.

IBAN_CODE: a country code, two check digits and the BBAN, in any grouping
(``DE89 3704 0044 0532 0130 00``, ``DE89370400440532013000``,
``de89-3704-...``, ``de89_3704_...``), also split across a line break,
table cells or code pieces (``IBAN\nGB29 LTAY 3160 4610\n7094 67``). The
candidate is read character by character, skipping separators, for exactly
the length the IBAN registry gives that country, then verified with MOD 97-10.
Scores 1.0, 0.85 when split; unknown countries, wrong lengths and failed
checks are not reported.

SWIFT_CODE: a BIC (``DEUTDEFF``, ``DEUTDEFF500``): 4 bank letters, an ISO
3166 country, a 2-character location and an optional 3-character branch, in
upper case. Upper-case words look like BICs (``BUSINESS`` = BUSI-NE-SS), so a
BIC is reported only with ``swift``, ``bic`` or a similar word nearby.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from gateway.classify.context import ContextMatcher
from gateway.classify.numbers import HARD_GAP
from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.recognizers.checksums import iban_mod97_valid

# IBAN length per country: SWIFT IBAN registry, plus the national formats
# in use outside it (West/Central African states, Algeria, Iran, Morocco...).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
    # outside the registry
    "AO": 25, "BF": 28, "BJ": 28, "CF": 27, "CG": 27, "CI": 28, "CM": 27, "CV": 25,
    "DZ": 26, "GA": 27, "GQ": 27, "GW": 25, "IR": 26, "KM": 27, "MA": 28, "MG": 27,
    "ML": 28, "MZ": 25, "NE": 28, "SN": 28, "TD": 27, "TG": 28,
}  # fmt: skip

_ISO_COUNTRIES_TEXT = """

    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS

    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE

    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM

    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC

    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA

    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW

    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO

    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW

"""

ISO_COUNTRIES = frozenset(_ISO_COUNTRIES_TEXT.split())

_IBAN_START = regex.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}")
_IBAN_SEPARATORS = frozenset(" -._/")
_IBAN_PIECE = regex.compile(r"[A-Za-z]{0,3}[0-9]|[A-Z]{1,4}(?![a-z])")

_BIC = regex.compile(r"(?<![A-Za-z0-9])[A-Z]{4}(?P<country>[A-Z]{2})[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])")
SPLIT_SCORE = 0.85
BIC_CONTEXT = (
    "swift", "bic", "bank identifier", "bank code", "routing",
    "银行代码", "银行识别码", "识别码", "swift码", "bic码",
)  # fmt: skip


def read_iban(text: str, start: int) -> tuple[int, str, bool] | None:
    """Read an IBAN starting at ``start``: ``(end, compact IBAN, split)`` or None.

    Reads exactly the registry length for the country, letting up to two
    separator characters (space, ``-``, ``.``, ``_``, ``/``) between
    characters through, and refuses a candidate followed directly by another
    letter or digit. It also reads across a line break, table cells or code
    quotes (``numbers``' hard gaps, ``split`` is then True) when the piece
    after the gap holds a digit or is in upper case: a word does not continue
    an IBAN.
    """
    country = text[start : start + 2].upper()
    length = IBAN_LENGTHS.get(country)
    if length is None:
        return None
    chars: list[str] = []
    position = start
    limit = len(text)
    split = False
    while position < limit and len(chars) < length:
        char = text[position]
        if char.isascii() and char.isalnum():
            chars.append(char.upper())
            position += 1
            continue
        if not chars:
            break
        skip = 0
        if char in _IBAN_SEPARATORS:
            skip = 2 if position + 1 < limit and text[position + 1] in _IBAN_SEPARATORS else 1
            following = text[position + skip : position + skip + 1]
            if not (following.isascii() and following.isalnum()):
                skip = 0
        if not skip:
            gap = HARD_GAP.match(text, position)
            if gap is None or not _IBAN_PIECE.match(text, gap.end()):
                break
            skip, split = gap.end() - position, True
        position += skip
    if len(chars) != length:
        return None
    if position < limit and text[position].isascii() and text[position].isalnum():
        return None
    return position, "".join(chars), split


class IbanRecognizer(ScanningRecognizer):
    """IBAN_CODE for every country in the registry, any grouping, MOD 97 verified."""

    ENTITY = "IBAN_CODE"

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        for match in _IBAN_START.finditer(text):
            found = read_iban(text, match.start())
            if found is not None and iban_mod97_valid(found[1]):
                yield match.start(), found[0], SPLIT_SCORE if found[2] else 1.0


class SwiftCodeRecognizer(ScanningRecognizer):
    """SWIFT_CODE: BIC-shaped upper-case codes with a SWIFT/BIC word nearby."""

    ENTITY = "SWIFT_CODE"

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_language)
        self._context = ContextMatcher(BIC_CONTEXT)

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        for match in _BIC.finditer(text):
            if match.group("country") not in ISO_COUNTRIES:
                continue
            if self._context.find(text, match.start(), match.end(), 40, 40) is not None:
                yield match.start(), match.end(), 0.85
