"""Each recognizer, through the classifier (normalization, context and NER included)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Detect = Callable[[str], set[tuple[str, str]]]

CN_ID = "110105199003071239"  # valid check character, born 1990-03-07


def types(found: set[tuple[str, str]]) -> set[str]:
    return {entity for entity, _ in found}


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111.1111.1111.1111",
        "4111 - 1111 - 1111 - 1111",
        "3782 822463 10005",  # Amex 4-6-5
        "4111 1111-1111.1111",  # mixed separators
        "４１１１ １１１１ １１１１ １１１１",  # full width
        "4\u200b111\u200b1111\u200b1111\u200b1111",  # zero width
        "4111\u20131111\u20131111\u20131111",  # en dashes
        "٤١١١ ١١١١ ١١١١ ١١١١",  # Arabic-Indic digits
        "4111\u00a01111\u00a01111\u00a01111",  # no-break spaces
        "4111\u00ad1111\u00ad1111\u00ad1111",  # soft hyphens
        "41 1111 11 1111 1111",  # odd grouping
    ],
)
def test_credit_cards_in_any_format(detect: Detect, card: str) -> None:
    text = f"Why was {card} declined?"
    assert ("CREDIT_CARD", card) in detect(text)


@pytest.mark.parametrize(
    "text",
    [
        "Card 4111 1111 1111 1112 was declined",  # fails Luhn
        "Order 1234 5678 9012 3452 shipped",  # Luhn-valid, no card network starts with 1
        "Prices 2021 2022 2023 2024 in the table",
        "Batch 20240315-0001 of 1234 payments",
    ],
)
def test_numbers_that_are_not_cards(detect: Detect, text: str) -> None:
    assert "CREDIT_CARD" not in types(detect(text))


def test_unionpay_card_is_cn_bank_card_and_credit_card(detect: Detect) -> None:
    text = "银行卡6222 0212 3456 7890 128挂失"
    found = detect(text)
    assert ("CN_BANK_CARD", "6222 0212 3456 7890 128") in found
    assert ("CREDIT_CARD", "6222 0212 3456 7890 128") in found


def test_unionpay_without_luhn_needs_a_card_word(detect: Detect) -> None:
    number = "6222021234567890127"  # fails Luhn
    assert ("CN_BANK_CARD", number) in detect(f"卡号：{number}")
    assert "CN_BANK_CARD" not in types(detect(f"编号 {number}"))


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "de89-3704-0044-0532-0130-00",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NO93 8601 1117 947",
        "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
        "BR18 0036 0305 0000 1000 9795 493C 1",
        "DE89.3704.0044  0532 0130 00",
    ],
)
def test_ibans_in_any_grouping(detect: Detect, iban: str) -> None:
    assert ("IBAN_CODE", iban) in detect(f"Please pay to {iban} today")


def test_iban_glued_to_chinese(detect: Detect) -> None:
    assert ("IBAN_CODE", "DE89370400440532013000") in detect("收款账号DE89370400440532013000，谢谢")


@pytest.mark.parametrize(
    "text",
    [
        "IBAN DE89 3704 0044 0532 0130 01",  # bad check digits
        "IBAN DE89 3704 0044 0532 0130",  # too short for DE
        "IBAN XX89 3704 0044 0532 0130 00",  # unknown country
        "Ticket AB12 is open",
    ],
)
def test_not_ibans(detect: Detect, text: str) -> None:
    assert "IBAN_CODE" not in types(detect(text))


def test_swift_code_needs_context(detect: Detect) -> None:
    assert ("SWIFT_CODE", "DEUTDEFF500") in detect("Beneficiary bank BIC: DEUTDEFF500")
    assert ("SWIFT_CODE", "COBADEFF") in detect("SWIFT code COBADEFF")
    assert "SWIFT_CODE" not in types(detect("This BUSINESS plan is CONFIRMED for the bank"))
    assert "SWIFT_CODE" not in types(detect("Send DEUTDEFF500 the papers"))


@pytest.mark.parametrize(
    "written",
    [CN_ID, "110105 19900307 1239", "1101 0519 9003 0712 39", "１１０１０５１９９００３０７１２３９"],
)
def test_cn_resident_id(detect: Detect, written: str) -> None:
    assert ("CN_RESIDENT_ID", written) in detect(f"身份证号码{written}，请核实")


@pytest.mark.parametrize(
    "number",
    ["110105199003071238", "440304200102290011", "110105209903071231", "11010519900307123"],
)
def test_not_cn_resident_ids(detect: Detect, number: str) -> None:
    assert "CN_RESIDENT_ID" not in types(detect(f"身份证{number}"))


@pytest.mark.parametrize(
    "number", ["13891417776", "138 9141 7776", "138-9141-7776", "+86 138 9141 7776", "008613891417776"]
)
def test_cn_mobile_numbers(detect: Detect, number: str) -> None:
    assert ("CN_PHONE", number) in detect(f"客户手机{number}，请回电")


def test_cn_mobile_prefixes_must_be_allocated(detect: Detect) -> None:
    assert "CN_PHONE" not in types(detect("编号12891417776"))
    assert "CN_PHONE" not in types(detect("编号14091417776"))


@pytest.mark.parametrize(
    "phone",
    ["(212) 555-0187", "212.555.0187", "+1-212-555-0187x123", "+44 20 7946 0958",
     "+44(0)115 4960914", "(0161) 496 0066", "04 15 39 15 00", "+49 (0) 9141 777631", "030 12345678"],
)  # fmt: skip
def test_phone_numbers(detect: Detect, phone: str) -> None:
    assert ("PHONE_NUMBER", phone) in detect(f"Please note {phone} for tomorrow")


def test_contiguous_phone_number_needs_context(detect: Detect) -> None:
    assert ("PHONE_NUMBER", "2125550187") in detect("Call me on 2125550187")
    assert "PHONE_NUMBER" not in types(detect("Reference 2125550187 attached"))


@pytest.mark.parametrize(
    "text",
    ["Settled on 06.08.2021 and 2024-03-31", "PO 4500012345 approved", "Version 1.2.3.4",
     "Rate 0.0525, amount 1.250.000 EUR", "Q3 revenue 4,210,000"],
)  # fmt: skip
def test_not_phone_numbers(detect: Detect, text: str) -> None:
    assert "PHONE_NUMBER" not in types(detect(text))


@pytest.mark.parametrize(
    ("written", "text"),
    [("123-45-6789", "SSN 123-45-6789"), ("215 78 7073", "number 215 78 7073 on file"),
     ("215787073", "his social security number is 215787073")],
)  # fmt: skip
def test_us_ssn(detect: Detect, written: str, text: str) -> None:
    assert ("US_SSN", written) in detect(text)


@pytest.mark.parametrize("text", ["Baltimore, MD 21578-7073", "ID 215787073", "SSN 666-12-3456", "SSN 123-00-4567"])
def test_not_us_ssn(detect: Detect, text: str) -> None:
    assert "US_SSN" not in types(detect(text))


@pytest.mark.parametrize(
    "address",
    [
        "921 Johnson Spring, North Mirandamouth, AL 99348",
        "0487 Hull Village Suite 759\nLake Roberto, PA 82012",
        "Flat 6\nChristian Roads\nTrevormouth\nSP8P 4NY",
        "PSC 7918, Box 7253, APO AE 59232",
        "Anna-Marie-Wulff-Weg 6607\n86756 Aachen",
        "Hauptstraße 5, 10115 Berlin",
        "799, rue de Roy\n64332 Saint Élodie",
        "北京市朝阳区建国路88号",
        "天津市秀荣市山亭拉萨街G座",
    ],
)
def test_street_addresses(detect: Detect, address: str) -> None:
    found = detect(f"Send it to {address} please")
    spans = [span for entity, span in found if entity == "STREET_ADDRESS"]
    assert any(address in span for span in spans), found


def test_street_line_alone_needs_context(detect: Detect) -> None:
    assert "STREET_ADDRESS" in types(detect("Her home address is 12 Baker Street"))
    assert "STREET_ADDRESS" not in types(detect("In 2023 Apple Park hosted the event"))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("客户王秀英的身份证已过期", "王秀英"),
        ("姓名：欧阳娜娜，手机13891417776", "欧阳娜娜"),
        ("请联系张先生确认", "张"),
        ("持卡人李雷，卡号已冻结", "李雷"),
    ],
)
def test_chinese_names_in_reliable_positions(detect: Detect, text: str, name: str) -> None:
    assert ("PERSON", name) in detect(text)


@pytest.mark.parametrize(
    "text",
    ["客户余额不足时如何处理？", "提升客户满意度的方法", "项目经理需要审批", "客户申请贷款的流程", "部门经理的职责"],
)
def test_chinese_words_that_are_not_names(detect: Detect, text: str) -> None:
    assert "PERSON" not in types(detect(text))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Customer John Smith called about his card", "John Smith"),
        ("Please draft a letter to Mrs. Judith Johnson", "Judith Johnson"),
        ("Notes: Grace Bailey and Leigh Mills discussed the budget", "Leigh Mills"),  # name shape
        ("Herr Raymund Gute hat angerufen", "Raymund Gute"),
    ],
)
def test_english_names(detect: Detect, text: str, name: str) -> None:
    assert any(entity == "PERSON" and name in span for entity, span in detect(text))


@pytest.mark.parametrize(
    "text",
    ["Draft an agenda for the Asset Liability Committee", "Summarize ISIN US0378331005",
     "Convert JPY 1,000 to EUR", "Explain Value at Risk to the Board"],
)  # fmt: skip
def test_capitalised_terms_are_not_names(detect: Detect, text: str) -> None:
    assert "PERSON" not in types(detect(text))


def test_email_addresses_offline(detect: Detect) -> None:
    assert ("EMAIL_ADDRESS", "john.smith@example.com") in detect("Mail john.smith@example.com")
    assert ("EMAIL_ADDRESS", "ops@bank.internal") in detect("Mail ops@bank.internal")
    found = detect("Mail john.smith@example.com")
    assert not any(entity == "URL" for entity, _ in found)  # no URL inside the address


def test_english_ner_does_not_label_chinese(detect: Detect) -> None:
    found = detect("客户John Smith的账户")
    assert ("PERSON", "John Smith") in found
    assert all(not any("\u4e00" <= c <= "\u9fff" for c in span) for entity, span in found if entity == "PERSON")
