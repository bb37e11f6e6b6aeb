import datetime

import pytest

from gateway.classify.recognizers.checksums import (
    cn_resident_id_check_char,
    cn_resident_id_valid,
    iban_mod97_valid,
    luhn_valid,
)
from gateway.classify.recognizers.national_id import ssn_issuable
from gateway.classify.recognizers.payment import issued_prefix


@pytest.mark.parametrize(
    "number",
    ["4111111111111111", "5500005555555559", "378282246310005", "6011111111111117",
     "3530111333300000", "30569309025904", "6222021234567890128", "4222222222222"],
)  # fmt: skip
def test_luhn_accepts_valid_card_numbers(number: str) -> None:
    assert luhn_valid(number)
    assert issued_prefix(number)


@pytest.mark.parametrize("number", ["4111111111111112", "1234567812345678", "", "41111a1111111111"])
def test_luhn_rejects_invalid_numbers(number: str) -> None:
    assert not luhn_valid(number)


def test_issued_prefix_rejects_unissued_ranges() -> None:
    assert not issued_prefix("1234567812345670")  # 1... is not a card network
    assert not issued_prefix("9" * 16)
    assert issued_prefix("501841035857")  # 12-digit Maestro
    assert not issued_prefix("201841035857")


@pytest.mark.parametrize(
    "number",
    ["11010519491231002X", "110105194912310021"[:17] + cn_resident_id_check_char("11010519491231002"),
     "610301200708074340", "44030419900307003x"],
)  # fmt: skip
def test_cn_resident_id_valid(number: str) -> None:
    if number.startswith("4403"):  # lower-case x: compute a real one
        number = "44030419900307003" + cn_resident_id_check_char("44030419900307003").lower()
    assert cn_resident_id_valid(number)


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("110105194912310021", "wrong check character"),
        ("991105194912310021", "unknown province"),
        ("110105194902300028", "30 February"),
        ("110105189912310021", "born before 1900"),
        ("11010519491231002", "17 characters"),
    ],
)
def test_cn_resident_id_invalid(number: str, why: str) -> None:
    assert not cn_resident_id_valid(number), why


def test_cn_resident_id_rejects_future_birth_dates() -> None:
    body = "11010520990101002"
    number = body + cn_resident_id_check_char(body)
    assert cn_resident_id_valid(number, today=datetime.date(2100, 1, 1))
    assert not cn_resident_id_valid(number, today=datetime.date(2026, 1, 1))


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606",
     "NL91ABNA0417164300", "NO9386011117947", "MT84MALT011000012345MTLCAST001S",
     "SA0380000000608010167519", "BR1800360305000010009795493C1", "LC55HEMM000100010012001200023015"],
)  # fmt: skip
def test_iban_mod97_valid(iban: str) -> None:
    assert iban_mod97_valid(iban)


@pytest.mark.parametrize("iban", ["DE89370400440532013001", "GB82WEST12345698765433", "DE8", "DE89 3704"])
def test_iban_mod97_invalid(iban: str) -> None:
    assert not iban_mod97_valid(iban)


@pytest.mark.parametrize(
    ("parts", "issuable"),
    [(("215", "78", "7073"), True), (("000", "12", "3456"), False), (("666", "12", "3456"), False),
     (("912", "12", "3456"), False), (("123", "00", "4567"), False), (("123", "45", "0000"), False),
     (("111", "11", "1111"), False)],
)  # fmt: skip
def test_ssn_issuable(parts: tuple[str, str, str], issuable: bool) -> None:
    assert ssn_issuable(*parts) is issuable
