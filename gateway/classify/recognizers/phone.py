"""Telephone numbers: PHONE_NUMBER (international) and CN_PHONE (mainland mobile).

PHONE_NUMBER replaces Presidio's recognizer, which runs libphonenumber's
matcher once per region over the whole text. Here one regex finds
phone-shaped runs of digits (7-15 digits, separators, a bracketed area code,
an extension) and each candidate is scored by its shape, with libphonenumber
(offline metadata) to check numbers:

====================================================  =======
shape                                                 score
====================================================  =======
``+CC ...`` / ``00CC ...``: valid / possible number   0.75 / 0.6
bracketed area code ``(0161) 496 0066``, ``(591)341-7776``  0.6
North American ``206.269.0743``, ``797-386-9073``      0.6
trunk ``0``, valid in a European region: separated / 10+ digits  0.6 / 0.5
ten digits shaped like a North American number      0.3
a local number: 7-12 digits in groups of 2-4           0.3
a local number: 9-11 digits, unbroken                   0.2
====================================================  =======

Local numbers (``448 91 830``, ``763 5734``, ``0034664881``) are how staff write a
customer's number at home; without a country code nothing checks them, so they count
only next to a context word, in any of the languages we read (``Rückruf``, ``rappeler``,
``llamada``, ``richiamare``, ``terugbellen``, ``折り返し``, ``回拨``...), and never next to a
currency (``EUR 1 250 000``).

A context word (phone, tel, mobile, call, 电话...) adds 0.35. Dates
(``06.08.2021``), amounts and version numbers are not reported; numbers in
the last row need a context word.

CN_PHONE: a mainland mobile number ``1[3-9]X XXXX XXXX`` from an allocated
prefix, with optional ``+86``/``0086`` and spaces or dashes: 0.85 with the
country code, 0.6 without.
"""

from __future__ import annotations

from collections.abc import Iterator

import phonenumbers
import regex

from gateway.classify.recognizers.base import ScanningRecognizer

PHONE_CONTEXT = (
    "phone", "telephone", "tel", "mobile", "cell", "call", "fax", "contact", "reach",
    "whatsapp", "sms", "text me", "dial", "hotline", "line", "telefon", "handy",
    "téléphone", "portable", "电话", "手机", "联系", "號碼", "号码", "致电",
    "rückruf", "zurückrufen", "anrufen", "erreichbar", "rufnummer", "mobilnummer",
    "rappeler", "appeler", "numéro", "joindre", "llamada", "llamar", "teléfono", "móvil", "celular",
    "richiamare", "chiamare", "telefono", "cellulare", "bellen", "terugbellen", "telefoon", "mobiel",
    "電話", "折り返", "携帯", "回拨", "回电", "전화", "연락처",
    "answering", "answer the phone", "ring", "voicemail", "extension", "durchwahl", "nebenstelle",
    "erreichen", "répondeur", "poste", "contestar", "contesta", "buzón", "extensión", "rispondere",
    "risponde", "segreteria", "interno", "bereikbaar", "bereiken", "toestel", "voicemail",
)  # fmt: skip

_CANDIDATE = regex.compile(
    r"""(?<![A-Za-z0-9_+/.,-])
    (?P<number>(?:\+|00)?(?:\(\d{1,5}\)|\d)(?:[ .\-/]{0,2}(?:\(\d{1,5}\)|\d))*)
    (?P<ext>[ ]?(?:x|ext\.?|extension)[ ]?\d{1,6})?
    (?![A-Za-z0-9_]|[.,\-/][0-9])""",
    regex.VERBOSE | regex.IGNORECASE,
)
_NANP = regex.compile(r"(?:(?:\+?1)[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}")
_BRACKETED = regex.compile(r"(?:\+\d{1,3}[ ]?)?\(\d{2,5}\)[ .-]?\d[\d .-]{3,}")
_DATE_OR_TIME = regex.compile(
    r"\d{1,2}[./-]\d{1,2}[./-](?:\d{2}|\d{4})|\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{4}"
)
_NANP_DIGITS = regex.compile(r"1?[2-9]\d{2}[2-9]\d{6}")
_EUROPE = ("GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "IE", "SE", "PL")
_NOT_DIGIT = regex.compile(r"\D")


def _valid_in(number: str, regions: tuple[str, ...]) -> tuple[bool, bool]:
    """(valid somewhere, possible somewhere) for a national number."""
    possible = False
    for region in regions:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return True, True
        possible = possible or phonenumbers.is_possible_number(parsed)
    return False, possible


def phone_score(number: str) -> float:
    """Score a phone-shaped candidate (without extension); 0 if it is not a phone number."""
    digits = _NOT_DIGIT.sub("", number)
    if not 7 <= len(digits) <= 15:
        return 0.0
    has_separator = len(digits) != len(number)
    if _DATE_OR_TIME.fullmatch(number):
        return 0.0
    if number.startswith(("+", "00")):
        international = "+" + number[2:] if number.startswith("00") else number
        try:
            parsed = phonenumbers.parse(international, None)
        except phonenumbers.NumberParseException:
            return 0.0 if number.startswith("+") else _local_score(number, digits)
        if phonenumbers.is_valid_number(parsed):
            return 0.75
        if phonenumbers.is_possible_number(parsed):
            return 0.6
        return 0.0 if number.startswith("+") else _local_score(number, digits)
    if _BRACKETED.fullmatch(number) or _NANP.fullmatch(number):
        return 0.6
    if digits[0] == "0":
        valid, _possible = _valid_in(number, _EUROPE)
        if not valid:
            return _local_score(number, digits)
        return 0.6 if has_separator else 0.5 if len(digits) >= 10 else 0.3
    if _NANP_DIGITS.fullmatch(digits):
        return 0.3
    return _local_score(number, digits)


_LOCAL_GROUPS = regex.compile(r"\d{2,4}(?:[ .\-/]\d{2,4}){1,4}|\d{2,5}[ .\-/]\d{5,8}")
_CURRENCY_NEAR = regex.compile(r"(?i:eur|usd|gbp|chf|jpy|cny|rmb|sek|nok|dkk|pln|[€$£¥円元])")


def _local_score(number: str, digits: str) -> float:
    """A number written without a country code (module docstring): weak, needs context."""
    if number.startswith("+"):
        return 0.0
    if 7 <= len(digits) <= 12 and _LOCAL_GROUPS.fullmatch(number):
        return 0.3
    if 9 <= len(digits) <= 11 and digits == number:
        return 0.2  # unbroken, like Italian mobiles (``3500584762``): only next to a context word
    return 0.0


class PhoneRecognizer(ScanningRecognizer):
    """PHONE_NUMBER: phone-shaped numbers scored by shape and libphonenumber."""

    ENTITY = "PHONE_NUMBER"
    CONTEXT = PHONE_CONTEXT

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        for match in _CANDIDATE.finditer(text):
            score = phone_score(match.group("number"))
            if score and (score > 0.3 or not _CURRENCY_NEAR.search(text, max(0, match.start() - 6), match.end() + 6)):
                yield match.start(), match.end(), score


_CN_MOBILE = regex.compile(r"(?<![0-9+])(?P<cc>(?:\+|00)86[ -]?)?(?P<number>1[3-9][0-9](?:[ -]?[0-9]{4}){2})(?![0-9])")
# Allocated mainland mobile prefixes (MIIT numbering plan).
_CN_MOBILE_PREFIX = regex.compile(r"13[0-9]|14[5-9]|15[0-35-9]|16[2567]|17[0-8]|18[0-9]|19[0-35-9]")

CN_PHONE_CONTEXT = (
    "手机", "电话", "联系", "号码", "致电", "来电", "手机号", "phone", "mobile", "tel", "call",
)  # fmt: skip


class CnPhoneRecognizer(ScanningRecognizer):
    """CN_PHONE: mainland China mobile numbers from allocated prefixes."""

    ENTITY = "CN_PHONE"
    CONTEXT = CN_PHONE_CONTEXT

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        for match in _CN_MOBILE.finditer(text):
            if _CN_MOBILE_PREFIX.match(match.group("number")):
                yield match.start(), match.end(), 0.85 if match.group("cc") else 0.6
