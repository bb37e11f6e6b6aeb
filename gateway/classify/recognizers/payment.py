"""Payment card numbers: CREDIT_CARD (any network) and CN_BANK_CARD (UnionPay).

Candidates are 12-19 digits written the ways people write card numbers, after
normalization (so full-width digits and zero-width characters are gone):

- contiguous (``4111111111111111``);
- groups of four (``4111 1111 1111 1111``, ``4111-1111-1111-1111``,
  ``4111.1111.1111.1111``, a 19-digit ``6222 0212 3456 7890 123``), Amex and
  Diners ``4-6-5`` / ``4-6-4``, and UnionPay ``6-13``; separators are one or
  two spaces, or ``-``, ``.``, ``/``, ``_`` with optional spaces, and may
  differ between groups;
- any other grouping (``41 1111 11 1111 1111``, ``4_111_111_111_111_111``);
- split across a line break, table cells or code (``numbers.joined_numbers``):
  ``3044 1640\n1076 29``, ``4111;1111;1111;1111``, ``"4111 1111" + "1111 1111"``,
  ``4,111,111,111,111,111``, in a shape cards are written in
  (``numbers.card_grouped``), or a number without spaces broken once
  (``4111111111\n111111``, ``numbers.broken_once``).

A candidate counts when it passes the Luhn check and starts with a prefix a
card network issues (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
Maestro, Mir, RuPay, Troy). A fixed-format candidate that passes scores 1.0,
a free-format one 0.5 (counted at the usual ``min_score``; a card word nearby
makes it 0.85), and 12 digits not in 4-4-4 groups (old Maestro cards) or 13
bare digits (retired 13-digit Visa numbers; EAN-13 barcodes are Luhn-valid
one time in ten) 0.3, which needs a card word (0.65). A free-format or joined
run holding a date (``2001-05-19  250261.04``) is a date and an amount. Card groups wrapped once at a line end
(``3044 1640\n1076 29``) score 0.5 too; anything else joined (across cells,
code, several lines, or a run of digits broken once) 0.4, which counts only
with a card word nearby (0.75): a table of four-digit numbers, or a column of
numbers above a column of dates, is Luhn-valid one time in ten; the word is
what tells a card from it.

CN_BANK_CARD is a UnionPay number (``62``, 16-19 digits), scored like a card.
UnionPay cards that predate Luhn exist: a ``62`` number that fails Luhn
scores 0.3 and counts only with a context word such as 卡号 or 银行卡. A Luhn-valid ``62`` number is reported
as both CN_BANK_CARD and CREDIT_CARD, so a policy that maps either catches it.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from gateway.classify.numbers import broken_once, card_grouped, joined_numbers
from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.recognizers.checksums import luhn_valid

_SEP = r"(?:[ \t]{1,2}|[ \t]?[-./_][ \t]?)"
_FIXED = regex.compile(
    rf"""(?<![0-9])(?:
        [0-9]{{4}}(?:{_SEP}[0-9]{{4}}){{2}}{_SEP}[0-9]{{1,4}}(?P<tail>{_SEP}[0-9]{{1,3}})?
      | [0-9]{{4}}{_SEP}[0-9]{{6}}{_SEP}[0-9]{{4,5}}
      | [0-9]{{6}}{_SEP}[0-9]{{13}}
      | [0-9]{{13,19}}
      | [0-9]{{4}}(?:{_SEP}[0-9]{{4}}){{2}}
      | [0-9]{{12}}
    )(?![0-9])""",
    regex.VERBOSE,
)
_FREE = regex.compile(rf"(?<![0-9])[0-9](?:{_SEP}?[0-9]){{11,18}}(?![0-9])")
_NOT_DIGIT = regex.compile(r"[^0-9]")
_FEWEST_DIGITS = 12  # in any match of _FIXED or _FREE
# A date inside a free-format or joined run: a date and the numbers after it, not a card.
_DATE = regex.compile(
    r"(?<![0-9])(?:(?:19|20)[0-9]{2}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2(?:19|20)[0-9]{2})(?![0-9])"
)

FIXED_SCORE = 1.0
FREE_SCORE = 0.5
WRAPPED_SCORE = 0.5
JOINED_SCORE = 0.4
WEAK_SCORE = 0.3

CARD_CONTEXT = (
    "card", "credit", "debit", "visa", "mastercard", "amex", "american express",
    "discover", "jcb", "diners", "maestro", "unionpay", "pan", "cc", "cvv", "expiry",
    "pay", "paid", "payment", "charge", "declined", "purchase", "transaction",
    "卡号", "卡號", "信用卡", "银行卡", "銀行卡", "借记卡", "储蓄卡", "银联",
    "卡",
    "karte", "kartennummer", "kreditkarte", "debitkarte", "carte", "numéro de carte", "tarjeta", "carta",
    "cartão", "cartao", "kaart", "bankpas", "betaalpas", "pasnummer", "uw pas", "nieuwe pas", "de pas",
    "kort", "karta", "kortti", "カード", "카드",
)  # fmt: skip
CN_CARD_CONTEXT = (
    "card", "account", "acct", "unionpay", "bank",
    "卡号", "卡號", "银行卡", "銀行卡", "借记卡", "储蓄卡", "信用卡", "银联", "账号", "帐号", "账户", "帐户",
)  # fmt: skip


def issued_prefix(digits: str) -> bool:
    """True if ``digits`` has a length and prefix that a card network issues."""
    length = len(digits)
    if length == 12:  # Maestro
        return digits[:2] == "50" or 56 <= int(digits[:2]) <= 69 or digits[:4] == "0604"
    if not 13 <= length <= 19:
        return False
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    return (
        (length == 16 and digits[0] in "23456")  # every network issues 16 digits there
        or digits[0] == "4"  # Visa
        or (length == 16 and (51 <= p2 <= 55 or 2221 <= p4 <= 2720))  # Mastercard
        or (length == 15 and p2 in (34, 37))  # Amex
        or (length >= 16 and (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65))  # Discover
        or (length >= 16 and p2 == 35)  # JCB (3528-3589, and test ranges)
        or (length == 15 and p4 in (1800, 2131))  # JCB (legacy 15 digits)
        or (length >= 14 and (300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39)))  # Diners
        or (length >= 16 and p2 in (62, 81))  # UnionPay
        or (length == 16 and 2200 <= p4 <= 2204)  # Mir
        or (p2 == 50 or 56 <= p2 <= 69 or p4 == 604)  # Maestro, RuPay (60, 65, 508)
        or (length == 16 and (p2 == 82 or p4 == 9792))  # RuPay, Troy
    )


def card_candidates(text: str) -> Iterator[tuple[int, int, str, str]]:
    """Yield ``(start, end, digits, form)`` for card-shaped digit runs.

    ``form``: ``fixed``, ``free``, ``wrapped`` or ``joined`` (module
    docstring). A fixed-format match with an optional last group is also
    offered without it (``4111 1111 1111 1111 12`` holds a 16-digit card).
    Free-format runs are offered when they do not coincide with a fixed-format
    one; split ones (``numbers.joined_numbers``) when they have a card's shape.
    """
    if sum(map(text.count, "0123456789")) < _FEWEST_DIGITS:
        return  # every candidate has at least 12 digits: not worth the expressions' time
    fixed_spans = set()
    for match in _FIXED.finditer(text):
        start, end = match.span()
        fixed_spans.add((start, end))
        yield start, end, _NOT_DIGIT.sub("", match.group()), "fixed"
        tail_start = match.start("tail")
        if tail_start >= 0:
            yield start, tail_start, _NOT_DIGIT.sub("", text[start:tail_start]), "fixed"
    for match in _FREE.finditer(text):
        if match.span() not in fixed_spans and not _DATE.search(match.group()):
            yield match.start(), match.end(), _NOT_DIGIT.sub("", match.group()), "free"
    for joined in joined_numbers(text, 12, 19):
        if _DATE.search(text, joined.start, joined.end):
            continue
        if card_grouped(joined.groups):
            yield joined.start, joined.end, joined.digits, "wrapped" if joined.wrapped else "joined"
        elif broken_once(joined.groups):
            yield joined.start, joined.end, joined.digits, "joined"


_SCORES = {"fixed": FIXED_SCORE, "free": FREE_SCORE, "wrapped": WRAPPED_SCORE, "joined": JOINED_SCORE}


class CreditCardRecognizer(ScanningRecognizer):
    """CREDIT_CARD: Luhn-valid numbers with a card network prefix, any common format."""

    ENTITY = "CREDIT_CARD"
    CONTEXT = CARD_CONTEXT

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        for start, end, digits, form in card_candidates(text):
            if issued_prefix(digits) and luhn_valid(digits):
                if len(digits) == 12 and (form != "fixed" or digits == text[start:end]):
                    yield start, end, WEAK_SCORE
                elif len(digits) == 13 and digits == text[start:end]:
                    yield start, end, WEAK_SCORE  # 13 bare digits: an EAN-13 far more often than a retired Visa
                else:
                    yield start, end, _SCORES[form]


class CnBankCardRecognizer(ScanningRecognizer):
    """CN_BANK_CARD: UnionPay card numbers (62, 16-19 digits)."""

    ENTITY = "CN_BANK_CARD"
    CONTEXT = CN_CARD_CONTEXT

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        for start, end, digits, form in card_candidates(text):
            if digits.startswith("62") and 16 <= len(digits) <= 19:
                if not luhn_valid(digits):
                    yield start, end, WEAK_SCORE if form in ("fixed", "free") else 0.0
                else:
                    yield start, end, _SCORES[form]
