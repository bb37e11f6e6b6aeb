"""STREET_ADDRESS: postal addresses of Europe, the UK, the US, China and Japan.

A full address (street line plus town and postcode) scores 0.85. A street
line on its own is weaker evidence (``2023 Apple Park`` has the same shape as
``12 Apple Park``) and scores 0.4, which a context word (address, lives at,
Anschrift, 地址...) lifts to 0.75; followed by a town (``84085 Goodwin Parkway, Lake
Charles``) and with a house number that is not a year, 0.6.

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
- Any European country, in a sentence of any language: a street and a house number,
  then a postcode and a town, in the orders Europe writes them (``Suensaarenkatu 22,
  98570 AAPAJÄRVI``, ``Via Jilani, 58, 31057, Cendon (TV)``, ``Tomlaan 1, 8169OY,
  Kerkwijk``, ``Calle Mayor 5, Madrid, 28013``, ``Na Kopci 694, 533 11 Zdechovice``,
  ``279 Uitsig St, 6139 Grahamstad``): postcodes of four or five digits, ``NNN NN``,
  ``NNNN AA`` (Netherlands), ``NNNN-NNN`` (Portugal); 0.85. A four-digit year-like
  postcode (1950-2039) does not count unless letters follow it (``2024 Report``).
- Spanish, Italian, Portuguese, Dutch and Nordic streets with a house number but no
  postcode: a street word (``Calle``, ``Avenida``, ``Via``, ``Piazza``, ``Rua``...)
  before the name or a street ending (``-straat``, ``-laan``, ``-gracht``, ``-vej``,
  ``-gatan``, ``-katu``...) after it: 0.5, 0.85 with a context word.
- Japanese: a prefecture (都/道/府/県), a municipality (市/区/町/村/郡) and a block number
  (``5丁目6番19号``, ``1-2-3``), or a ``〒123-4567`` postcode with a prefecture: 0.85.
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
# The same words, for rules that need to know a name is a street's (``full_name.py``).
STREET_SUFFIXES = frozenset(_SUFFIXES.lower().split("|"))
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

_LETTERS = r"\p{Latin}\p{Greek}\p{Cyrillic}"
_L = rf"[{_LETTERS}][{_LETTERS}'’.\-]*"  # a word of Latin, Greek or Cyrillic letters
_U = rf"(?=\p{{Lu}})[{_LETTERS}][{_LETTERS}'’.\-]*"  # the same, capitalised
_EU_STREET_WORDS = rf"{_U}(?:[ \t]+{_L}){{0,3}}?"
_EU_NUMBER = r"\d{1,5}[ \t]?[A-Za-z]?\.?(?:[ \t]?[-/][ \t]?\d{1,4}[A-Za-z]?)?"
_EU_EXTRA = (
    r"(?:[ \t]+(?:Puerta|Piso|Planta|Esc|Appartamento|Apt|Int|Scala|Piano|bus|Bus|Apartment|Suite|Flat)"
    r"\.?[ \t]*\w{1,4})*"
)
_EU_POSTCODE = (
    r"(?:\d{4}[ \t]?[A-Z]{2}(?![\p{L}])|\d{4}-\d{3}|\d{3}[ \t]\d{2}|\d{5}"
    r"|(?!19[5-9]\d|20[0-3]\d)\d{4})(?!\d)"
)
_EU_TOWN = rf"{_U}(?:[ \t]+(?:{_U}|aan|an|am|de|del|di|la|le|sur|en|op|im))*(?:[ \t]*\([A-Z]{{2}}\))?"
_EU_ADDRESS = (
    rf"(?:\d{{1,5}}[ \t]+{_EU_STREET_WORDS}|{_EU_STREET_WORDS}[ \t]*,?[ \t]+{_EU_NUMBER}{_EU_EXTRA})"
    rf"[ \t]*,[ \t]*(?:{_EU_POSTCODE}[ \t]*,?[ \t]+{_EU_TOWN}|{_EU_TOWN}[ \t]*,[ \t]*{_EU_POSTCODE})"
)
_PREFIX_STREETS = (
    "Calle", "C/", "Avenida", "Avda", "Plaza", "Pza", "Paseo", "Rambla", "Camino", "Carretera",
    "Ronda", "Travesía", "Glorieta", "Vial", "Callejón", "Cuesta", "Pasaje", "Urbanización",
    "Via", "Viale", "Piazza", "Piazzale", "Corso", "Largo", "Vicolo", "Contrada", "Borgo", "Strada",
    "Rotonda", "Lungomare", "Vico", "Rua", "Travessa", "Praça", "Estrada", "Alameda",
)  # fmt: skip
_SUFFIX_STREETS = (
    "straat", "laan", "plein", "gracht", "singel", "kade", "dijk", "dreef", "steeg", "hof", "pad",
    "weg", "vej", "gade", "gatan", "vägen", "veien", "gata", "katu", "tie", "utca", "ulica", "ulice",
)  # fmt: skip
_PREFIX_STREET = (
    rf"(?:{'|'.join(regex.escape(w) for w in _PREFIX_STREETS)})\.?[ \t]+(?:de[ \t]+(?:la[ \t]+|los[ \t]+)?)?"
    rf"{_U}(?:[ \t]+{_U}){{0,3}}[ \t]*,?[ \t]+\d{{1,4}}(?:[ \t]?[A-Za-z])?(?![\d\p{{L}}])"
)
_SUFFIX_STREET = rf"{_U}(?:{'|'.join(_SUFFIX_STREETS)})[ \t]+\d{{1,4}}(?:[ \t]?[A-Za-z])?(?![\d\p{{L}}])"
_JA_ADDRESS = (
    r"(?:〒?\d{3}-\d{4}[ \t\u3000]*)?(?:東京都|北海道|京都府|大阪府|[\p{Han}]{2,3}県)"
    r"[\p{Han}\p{Hiragana}\p{Katakana}ー]{1,16}?"
    r"(?:市|区|町|村|郡)[\p{Han}\p{Hiragana}\p{Katakana}ー0-9]{0,16}?"
    r"(?:\d{1,4}丁目(?:\d{1,4}番地?)?(?:\d{1,4}号?)?|\d{1,4}番地?(?:\d{1,4}号?)?|\d{1,4}-\d{1,4}(?:-\d{1,4})?)"
)

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
_EU_CONDITION = _holds(r",[ \t]+\d{3}")  # ", " then a postcode's digits (not an amount's ``1,250``)


def _written(words: tuple[str, ...]) -> Condition:
    """One of ``words`` as written (case and all): a substring search, far cheaper than a scan."""
    return lambda text: any(word in text for word in words)


_PREFIX_CONDITION = _written(_PREFIX_STREETS)
_SUFFIX_CONDITION = _mentions(_SUFFIX_STREETS, r"[ \t]+\d")
_PATTERNS: tuple[tuple[regex.Pattern[str], float, Condition], ...] = tuple(
    (regex.compile(pattern), score, condition)
    for pattern, score, condition in (
        (rf"(?<![\w-]){_EN_STREET}{_US_TAIL}", 0.85, _always),
        (rf"(?<![\w-]){_UK_ADDRESS}", 0.85, _UK_CONDITION),
        (rf"(?<![\w-]){_US_MILITARY}", 0.85, _always),
        (rf"(?<![\w-]){_DE_STREET}{_DE_TAIL}", 0.85, _DE_CONDITION),
        (rf"(?<![\w-])(?:{_FR_NUMBER})?{_FR_STREET}{_FR_TAIL}", 0.85, _FR_CONDITION),
        (_ZH_FULL, 0.85, has_han),
        (_JA_ADDRESS, 0.85, has_han),
        (rf"(?<![{_LETTERS}\d_-]){_EU_ADDRESS}", 0.85, _EU_CONDITION),
        (rf"(?<![{_LETTERS}\d_-]){_PREFIX_STREET}", 0.5, _PREFIX_CONDITION),
        (rf"(?<![{_LETTERS}\d_-]){_SUFFIX_STREET}", 0.5, _SUFFIX_CONDITION),
        # a street line and a town without a postcode (``84085 Goodwin Parkway, Lake Charles``); a
        # year is no house number (``2024 Capital Park, London``)
        (rf"(?<![\w-])(?!(?:19|20)\d\d\b){_EN_STREET}{_SEP}{_CAP}(?:[ \t]+{_CAP}){{0,2}}(?![\w-])", 0.6, _always),
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
    "dirección", "direccion", "domicilio", "envío", "vive", "indirizzo", "residente", "abita", "spedizione",
    "adres", "woont", "bezorgadres", "verhuisd", "morada", "endereço",
    "地址", "住址", "住在", "居住", "寄到", "邮寄", "住所", "送付先", "転居", "お住まい",
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
