"""STREET_ADDRESS: postal addresses in English, German, French and Chinese.

A full address (street line plus town and postcode) scores 0.85. A street
line on its own is weaker evidence (``2023 Apple Park`` has the same shape as
``12 Apple Park``) and scores 0.4, which a context word (address, lives at,
Anschrift, 地址...) lifts to 0.75.

- English (US): ``921 Johnson Spring, Suite 7`` + ``North Mirandamouth, AL 99348``;
  the street ends in a USPS/UK suffix (Street, St, Avenue, Road, Lane, Way...).
- US military: ``PSC 7918, Box 7253, APO AE 59232``, ``USNS Brown, FPO AE 08583``.
- English (UK): an optional ``Flat 6``/``Studio 7`` line, the street, up to two
  locality lines and a UK postcode (``SW1A 1AA``).
- German: a street ending in Straße/Str./Weg/Platz/Allee/Gasse/Ring/Damm...,
  a house number (``12``, ``12a``, ``5/8``) and ``12345 Stadt``.
- French: ``12, rue de la Paix`` (the number may be missing) + ``75002 Paris``.
- Chinese: an administrative unit (省/市/区/县/自治区/特别行政区), a street
  (路/街/大道/巷/胡同/弄) and a number (号/座/栋/幢/室/楼) scores 0.85;
  ``南京路88号`` alone scores 0.6.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import regex

from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.script import has_han

_SUFFIXES = (
    "Alley|Avenue|Ave|Av|Bend|Boulevard|Blvd|Branch|Bridge|Brook|Brooks|Burg|Bypass|"
    "Camp|Canyon|Cape|Causeway|Center|Centre|Chase|Circle|Cir|Circus|Cliff|Cliffs|Close|"
    "Club|Common|Corner|Corners|Course|Court|Ct|Courts|Cove|Coves|Creek|Crescent|Cres|"
    "Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Drive|Dr|Drives|Embankment|Estate|"
    "Estates|Expressway|Expy|Extension|Fall|Falls|Ferry|Field|Fields|Flat|Flats|Ford|"
    "Fords|Forest|Forge|Forges|Fork|Forks|Fort|Freeway|Fwy|Garden|Gardens|Gate|Gateway|"
    "Glen|Glens|Green|Greens|Grove|Groves|Harbor|Harbour|Harbors|Haven|Heights|Highway|"
    "Hwy|Hill|Hills|Hollow|Inlet|Island|Islands|Isle|Junction|Junctions|Key|Keys|Knoll|"
    "Knolls|Lake|Lakes|Land|Landing|Lane|Ln|Light|Lights|Loaf|Lock|Locks|Lodge|Loop|"
    "Mall|Manor|Manors|Meadow|Meadows|Mews|Mill|Mills|Mission|Motorway|Mount|Mountain|"
    "Mountains|Neck|Orchard|Oval|Overpass|Parade|Park|Parks|Parkway|Pkwy|Parkways|Pass|"
    "Passage|Path|Pike|Pine|Pines|Place|Pl|Plain|Plains|Plaza|Point|Points|Port|Ports|"
    "Prairie|Radial|Ramp|Ranch|Rapid|Rapids|Rest|Ridge|Ridges|Rise|River|Road|Rd|Roads|"
    "Route|Row|Rue|Run|Shoal|Shoals|Shore|Shores|Skyway|Spring|Springs|Spur|Spurs|Square|"
    "Sq|Squares|Station|Stravenue|Stream|Street|St|Streets|Summit|Terrace|Ter|Throughway|"
    "Trace|Track|Trafficway|Trail|Trl|Tunnel|Turnpike|Underpass|Union|Unions|Vale|Valley|"
    "Valleys|Via|Viaduct|View|Views|Village|Villages|Ville|Vista|Walk|Walks|Wall|Way|"
    "Ways|Well|Wells|Wharf|Yard"
)
_CAP = r"[A-Z][A-Za-z'’.-]*"
_SEP = r"(?:[ \t]*[,\n][ \t]*\n?[ \t]*|[ \t]+)"
_UNIT = r"(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|Room|Rm|\#)\.?[ \t]*[A-Za-z0-9-]{1,6}"
_EN_STREET = (
    rf"\d{{1,6}}[A-Za-z]?(?:[ \t]+{_CAP}){{1,4}}?[ \t]+(?:{_SUFFIXES})s?\.?(?![A-Za-z])"
    rf"(?:[ \t,]+{_UNIT})?"
)
_US_TAIL = rf"{_SEP}{_CAP}(?:[ \t]+{_CAP}){{0,3}},?[ \t]+[A-Z]{{2}}[ \t]+\d{{5}}(?:-\d{{4}})?(?!\d)"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}(?![A-Za-z0-9])"
_UK_ADDRESS = (
    rf"(?:(?:Flat|Apartment|Studio|Unit|Suite)[ \t]+\d{{1,4}}[A-Za-z]?{_SEP})?"
    rf"(?:\d{{1,5}}[A-Za-z]?[ \t]+)?{_CAP}(?:[ \t]+{_CAP}){{0,3}}?[ \t]+(?:{_SUFFIXES})s?\.?"
    rf"(?:{_SEP}{_CAP}(?:[ \t]+{_CAP}){{0,3}}){{1,2}}{_SEP}{_UK_POSTCODE}"
)
_DE_WORDS = ("straße", "strasse", "str.", "weg", "platz", "allee", "gasse", "ring", "damm", "ufer", "chaussee",
             "steig", "pfad", "markt")  # fmt: skip
_FR_WORDS = ("rue", "avenue", "av.", "boulevard", "bd", "chemin", "impasse", "allée", "allee", "place", "quai", "route",
             "cours", "square", "voie", "passage", "rond-point")  # fmt: skip


def _any_of(words: tuple[str, ...]) -> str:
    return "(?i:" + "|".join(regex.escape(word) for word in words) + ")"


_DE_STREET = (
    r"[A-ZÄÖÜ][\w'.-]*?(?:[ \t][A-ZÄÖÜa-zäöü][\w'.-]*?){0,3}"
    + _any_of(_DE_WORDS)
    + r"[ \t]*\d{1,4}[ \t]?[a-zA-Z]?(?:[ \t]?[-/][ \t]?\d{1,4}[a-zA-Z]?)?(?![\w])"
)
_DE_TAIL = r"[ \t]*[,\n][ \t]*(?:D-)?\d{5}[ \t]+[A-ZÄÖÜ][\w-]+(?:[ \t]+(?:an der|am|im|in der)[ \t]+[A-ZÄÖÜ][\w-]+)?"
_FR_NUMBER = r"\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+"
_FR_STREET = _any_of(_FR_WORDS) + r"[ \t]+[\w'’ .-]{2,40}?"
_FR_TAIL = r"(?:[ \t]*[,\n][ \t]*)\d{5}[ \t]+[A-ZÉÈÀ][\w'’ -]*[\w]"
_US_MILITARY = (
    r"(?:(?:USNS|USNV|USS|USCGC)[ \t]+[A-Z][a-z]+|(?:PSC|Unit)[ \t]+\d{3,5},?[ \t]+Box[ \t]+\d{3,5})"
    r"[ \t]*[,\n]?[ \t]*(?:FPO|APO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}(?!\d)"
)
_HAN = r"\u4e00-\u9fff"
_ZH_FULL = (
    rf"[{_HAN}]{{2,12}}?(?:省|自治区|特别行政区|市|区|县)[{_HAN}0-9]{{0,16}}?(?:路|街|大道|巷|胡同|弄)"
    rf"[{_HAN}A-Za-z0-9-]{{0,8}}?(?:[0-9]+号楼|[0-9]+号|[A-Za-z0-9]+座|[0-9]+栋|[0-9]+幢|[0-9]+室|[0-9]+楼)"
)
_ZH_STREET = rf"[{_HAN}]{{1,10}}(?:路|街|大道|巷|胡同)[0-9]{{1,5}}号"

# Each pattern with a necessary condition: a cheap test that every text it matches passes.
# Where the condition fails, the pattern is not run: the German, French and British ones
# cost 10-35 us each on a short prompt, the test far less.
Condition = Callable[[str], bool]


def _always(text: str) -> bool:
    return True


def _holds(expression: str) -> Condition:
    compiled = regex.compile(expression)
    return lambda text: compiled.search(text) is not None


def _mentions(words: tuple[str, ...], then: str) -> Condition:
    """One of ``words`` (case-blind), then ``then``. An ASCII text's lower case, exactly what
    the case-blind words compare with there, is searched for the words first: much cheaper
    than the expression's scan, which runs only when one is found."""
    expression = regex.compile(_any_of(words) + then)
    ascii_words = tuple(word for word in words if word.isascii())

    def condition(text: str) -> bool:
        if text.isascii():
            lowered = text.lower()
            if not any(word in lowered for word in ascii_words):
                return False
        return expression.search(text) is not None

    return condition


_UK_CONDITION = _holds(_UK_POSTCODE)
_DE_CONDITION = _mentions(_DE_WORDS, r"[ \t]*\d")
_FR_CONDITION = _mentions(_FR_WORDS, r"[ \t]")
_PATTERNS: tuple[tuple[regex.Pattern[str], float, Condition], ...] = tuple(
    (regex.compile(pattern), score, condition)
    for pattern, score, condition in (
        (rf"(?<![\w-]){_EN_STREET}{_US_TAIL}", 0.85, _always),
        (rf"(?<![\w-]){_UK_ADDRESS}", 0.85, _UK_CONDITION),
        (rf"(?<![\w-]){_US_MILITARY}", 0.85, _always),
        (rf"(?<![\w-]){_DE_STREET}{_DE_TAIL}", 0.85, _DE_CONDITION),
        (rf"(?<![\w-])(?:{_FR_NUMBER})?{_FR_STREET}{_FR_TAIL}", 0.85, _FR_CONDITION),
        (_ZH_FULL, 0.85, has_han),
        (rf"(?<![\w-]){_EN_STREET}", 0.4, _always),
        (rf"(?<![\w-]){_DE_STREET}", 0.4, _DE_CONDITION),
        (rf"(?<![\w-]){_FR_NUMBER}{_FR_STREET}(?=[,.\n]|$)", 0.4, _FR_CONDITION),
        (_ZH_STREET, 0.6, has_han),
    )
)

ADDRESS_CONTEXT = (
    "address", "addr", "lives at", "living at", "resides", "residing", "residence",
    "located at", "mailing", "mail to", "ship to", "deliver", "home", "postal",
    "anschrift", "adresse", "wohnhaft", "wohnt", "domicile", "demeurant",
    "地址", "住址", "住在", "居住", "寄到", "邮寄",
)  # fmt: skip


class StreetAddressRecognizer(ScanningRecognizer):
    """STREET_ADDRESS in English, German, French and Chinese (see module docstring)."""

    ENTITY = "STREET_ADDRESS"
    CONTEXT = ADDRESS_CONTEXT

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        passed: dict[Condition, bool] = {}  # each condition tested once per text
        for pattern, score, condition in _PATTERNS:
            if condition not in passed:
                passed[condition] = condition(text)
            if passed[condition]:
                for match in pattern.finditer(text):
                    yield match.start(), match.end(), score
