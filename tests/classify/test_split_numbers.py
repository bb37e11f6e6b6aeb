"""Numbers split across lines, table cells, code, messages and content parts; separators between groups.

Through the real classifier (normalization, context, checksums). Each case asserts the entity
type and the exact original characters it covers; the clean cases assert nothing restricted.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.classify import Classification
from gateway.classify.numbers import broken_once, card_grouped, joined_numbers, junction

Detect = Callable[[str], set[tuple[str, str]]]
Classify = Callable[..., Classification]
RESTRICTED = {"CREDIT_CARD", "CN_BANK_CARD", "IBAN_CODE", "CN_RESIDENT_ID", "US_SSN"}


@pytest.mark.parametrize(
    ("text", "entity", "span"),
    [
        ("Card no.: 3044 1640\n1076 29", "CREDIT_CARD", "3044 1640\n1076 29"),  # the leak
        ("IBAN\nGB29 LTAY 3160 4610\n7094 67", "IBAN_CODE", "GB29 LTAY 3160 4610\n7094 67"),
        ("Please check 4111 1111\r\n1111 1111 today", "CREDIT_CARD", "4111 1111\r\n1111 1111"),  # no card word
        ("Kartennummer: 4111111111\n111111", "CREDIT_CARD", "4111111111\n111111"),
        ("Bitte zahlen an DE89 3704 0044\n   0532 0130 00", "IBAN_CODE", "DE89 3704 0044\n   0532 0130 00"),
        ("身份证号码：110105\n199003071239，请核实", "CN_RESIDENT_ID", "110105\n199003071239"),
        ("SSN 123-45-\n6789 on file", "US_SSN", "123-45-\n6789"),
        ("卡号：6222 0212 3456\n7890 128", "CN_BANK_CARD", "6222 0212 3456\n7890 128"),
    ],
)
def test_split_across_lines(detect: Detect, text: str, entity: str, span: str) -> None:
    assert (entity, span) in detect(text)


@pytest.mark.parametrize(
    ("text", "entity", "span"),
    [
        ("name;card\nJane;4111;1111;1111;1111", "CREDIT_CARD", "4111;1111;1111;1111"),
        ("card number,4111,1111,1111,1111", "CREDIT_CARD", "4111,1111,1111,1111"),
        ("Card\t4111\t1111\t1111\t1111", "CREDIT_CARD", "4111\t1111\t1111\t1111"),
        ("| Card | 4111 1111 | 1111 1111 |", "CREDIT_CARD", "4111 1111 | 1111 1111"),
        ("| card |\n|---|\n| 4111 1111 |\n| 1111 1111 |", "CREDIT_CARD", "4111 1111 |\n| 1111 1111"),
        ("| IBAN | DE89 3704 | 0044 0532 | 0130 00 |", "IBAN_CODE", "DE89 3704 | 0044 0532 | 0130 00"),
        ("身份证;110105;19900307;1239", "CN_RESIDENT_ID", "110105;19900307;1239"),
    ],
)
def test_split_across_table_cells(detect: Detect, text: str, entity: str, span: str) -> None:
    assert (entity, span) in detect(text)


@pytest.mark.parametrize(
    ("text", "entity", "span"),
    [
        ('card = "4111 1111 " +\n    "1111 1111"', "CREDIT_CARD", '4111 1111 " +\n    "1111 1111'),
        ('pan = ("4111111111"\n       "111111")', "CREDIT_CARD", '4111111111"\n       "111111'),
        ("const iban = 'DE89 3704 0044 ' + '0532 0130 00';", "IBAN_CODE", "DE89 3704 0044 ' + '0532 0130 00"),
        ("SELECT 'card:' || '4111' || '1111' || '1111' || '1111'", "CREDIT_CARD", "4111' || '1111' || '1111' || '1111"),
        ('ids = ["110105", "19900307", "1239"]', "CN_RESIDENT_ID", '110105", "19900307", "1239'),
    ],
)
def test_split_across_code(detect: Detect, text: str, entity: str, span: str) -> None:
    assert (entity, span) in detect(text)


@pytest.mark.parametrize(
    ("texts", "entity", "halves"),
    [
        (["My card is 4111 1111", "1111 1111 please"], "CREDIT_CARD", ("4111 1111", "1111 1111")),
        (["IBAN: GB29 LTAY 3160 4610", "7094 67 is the account"], "IBAN_CODE", ("GB29 LTAY 3160 4610", "7094 67")),
        (["身份证110105199003", "071239"], "CN_RESIDENT_ID", ("110105199003", "071239")),
        (["card, first half: 4111111111", "111111"], "CREDIT_CARD", ("4111111111", "111111")),
    ],
)
def test_split_across_two_texts(classify: Classify, texts: list[str], entity: str, halves: tuple[str, str]) -> None:
    """Two messages or two content parts: the classifier receives them as adjacent texts."""
    result = classify(texts)
    assert entity in result.entity_types
    found = {(d.text_index, texts[d.text_index][d.start : d.end]) for d in result.detections if d.entity_type == entity}
    assert found == {(0, halves[0]), (1, halves[1])}


def test_only_adjacent_texts_are_joined(classify: Classify) -> None:
    assert not RESTRICTED & classify(["My card is 4111 1111", "unrelated", "1111 1111 please"]).entity_types


@pytest.mark.parametrize(
    "text",
    [
        "4111_1111_1111_1111",
        "card 4111,1111,1111,1111",
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "card 4111|1111|1111|1111",
        "4111-1111-1111-1111",
        "4_111_111_111_111_111",
        "card 4,111,111,111,111,111",
        "Kreditkarte 4.111.111.111.111.111",
    ],
)
def test_separators_between_digit_groups(detect: Detect, text: str) -> None:
    spans = {span for entity, span in detect(text) if entity == "CREDIT_CARD"}
    assert any(span.startswith("4") and span.endswith("1") and len(span) >= 16 for span in spans), spans


@pytest.mark.parametrize("iban", ["DE89_3704_0044_0532_0130_00", "DE89/3704/0044/0532/0130/00"])
def test_iban_separators(detect: Detect, iban: str) -> None:
    assert ("IBAN_CODE", iban) in detect(f"Pay to {iban}")


@pytest.mark.parametrize(
    "text",
    [
        "2021;2022;2023;2024\n2025;2026;2027;2028",  # years in cells: no card word
        "Year,Q1,Q2\n2023,1250,1300\n2024,1400,1410",
        "date;amount\n2024-03-31;1250,00\n2024-04-30;4711,15",
        "| 2021 | 2022 | 2023 | 2024 |",
        "Totals: 1,250,000.00 EUR and 3,400,000.00 USD",
        "Call 0171 2345678\nor 030 12345678",
        "Order 1234 5678\n9012 3452 shipped",  # Luhn-valid, no network starts with 1
        "Invoice INV-2024-00017, PO 4500012345, ref 2024/03/31",
        "x = 4111 + 1111 - 1111",  # arithmetic, 12 digits: not a card shape with a card prefix
        "1981-09-22  625,800.37 TND  26883678906\n1994-05-04  7 472 868.30 LKR  48710932818",  # a number above a date
    ],
)
def test_ordinary_numbers_are_not_joined_into_restricted_data(detect: Detect, text: str) -> None:
    assert not RESTRICTED & {entity for entity, _ in detect(text)}


def test_joined_numbers_offers_only_windows_across_a_hard_gap() -> None:
    windows = list(joined_numbers("Card 4111 1111 1111 1111", 12, 19))
    assert windows == []  # one line, in-number separators only: the patterns' job
    (wrapped,) = [w for w in joined_numbers("3044 1640\n1076 29", 14, 14)]
    assert (wrapped.digits, wrapped.groups) == ("30441640107629", (4, 4, 4, 2))
    assert (wrapped.hard_gaps, wrapped.wrapped) == (1, True)
    (cells,) = list(joined_numbers("4111;1111;1111;1111", 16, 16))
    assert (cells.hard_gaps, cells.wrapped) == (3, False)
    assert list(joined_numbers("4111 abc 1111 1111 1111", 12, 19)) == []  # a word ends a run


def test_card_shapes() -> None:
    assert card_grouped((4, 4, 4, 4)) and card_grouped((4, 4, 4, 2)) and card_grouped((4, 6, 5))
    assert card_grouped((1, 3, 3, 3, 3, 3)) and broken_once((10, 6)) and not card_grouped((10, 6))
    assert not card_grouped((4, 2, 2, 4, 2, 4)) and not broken_once((2, 14))


def test_junction_only_where_a_value_could_continue() -> None:
    joint = junction("My card is 4111 1111", "1111 1111 please")
    assert joint is not None and joint.text == "My card is 4111 1111\n1111 1111 please"
    assert junction("Is that all?", "1111 1111") is None
    assert junction("card 4111 1111", "please call") is None
    long = "x" * 500 + " 4111"
    joint = junction(long, "1111")
    assert joint is not None and long[joint.tail_start :] == joint.text[: joint.split]
