"""Numbers spelled out in words, escaped, base64 and hex; content that cannot be decoded.

Through the real classifier; each case asserts the entity type and the original characters it
covers. The clean cases hold what ordinary bank and developer traffic carries.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import io
import uuid
import zipfile
import zlib
from collections.abc import Callable

import pytest

from gateway.classify import Classification
from gateway.classify.decode import encoded_blobs, read_bytes, unescaped_view
from gateway.classify.spelled import spelled_view

Detect = Callable[[str], set[tuple[str, str]]]
Classify = Callable[..., Classification]
RESTRICTED = {"CREDIT_CARD", "CN_BANK_CARD", "IBAN_CODE", "CN_RESIDENT_ID", "US_SSN"}
CARD = "4111111111111111"
ONES = " ".join(["one"] * 15)


def found_types(detect: Detect, text: str) -> set[str]:
    return {entity for entity, _ in detect(text)}


# -- spelled out -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span"),
    [
        (f"my card number is four {ONES} thanks", f"four {ONES}"),
        ("card four one one one, one one one one, one one one one, one one one one.",
         "four one one one, one one one one, one one one one, one one one one"),
        ("card four double one one double one double one one one one one one one one one",
         "four double one one double one double one one one one one one one one one"),
        ("Kartennummer vier eins eins eins eins eins eins eins eins eins eins eins eins eins eins eins",
         "vier eins eins eins eins eins eins eins eins eins eins eins eins eins eins eins"),
        ("Meine Karte: fünf fünf null null null null null null null null null null null null null vier",
         "fünf fünf null null null null null null null null null null null null null vier"),
        ("numéro de carte quatre un un un un un un un un un un un un un un un",
         "quatre un un un un un un un un un un un un un un un"),
        ("tarjeta cuatro uno uno uno uno uno uno uno uno uno uno uno uno uno uno uno",
         "cuatro uno uno uno uno uno uno uno uno uno uno uno uno uno uno uno"),
        ("卡号四一一一一一一一一一一一一一一一，谢谢", "四一一一一一一一一一一一一一一一"),
        ("卡号肆壹壹壹壹壹壹壹壹壹壹壹壹壹壹壹", "肆壹壹壹壹壹壹壹壹壹壹壹壹壹壹壹"),
        ("卡号：五五〇〇 〇〇〇〇 〇〇〇〇 〇〇〇四", "五五〇〇 〇〇〇〇 〇〇〇〇 〇〇〇四"),
        ("卡号五五零零零零零零零零零零零零零四", "五五零零零零零零零零零零零零零四"),
        ("card 4111 one one one one one one one one one one one 1",
         "4111 one one one one one one one one one one one 1"),
    ],
)  # fmt: skip
def test_spelled_out_card_numbers(detect: Detect, text: str, span: str) -> None:
    assert ("CREDIT_CARD", span) in detect(text)


def test_spelled_out_national_ids(detect: Detect) -> None:
    text = "身份证号一一〇一〇五一九九〇〇三〇七一二三九"
    assert ("CN_RESIDENT_ID", "一一〇一〇五一九九〇〇三〇七一二三九") in detect(text)
    ssn = "his social security number is one two three four five six seven eight nine"
    assert ("US_SSN", "one two three four five six seven eight nine") in detect(ssn)


def test_speech_to_text_with_oh_and_pauses() -> None:
    found = spelled_view("card four one one one, one one one one; one one one one. one one one oh, expiry")
    assert found is not None
    view, runs = found
    assert "4111 1111 1111 1110, expiry" in view.text
    start = view.text.index("4111")
    assert view.to_original(start, start + 4) == (5, 21)  # "four one one one"
    assert len(runs) == 1


@pytest.mark.parametrize(
    "text",
    [
        "One of the two or three options is fine; one more and we are done.",
        "Il y a un ou deux problèmes, trois au plus, et un seul compte.",
        "Ein oder zwei Kunden, drei Filialen, null Beschwerden.",
        "第一季度统一安排，一二三四五项已经完成",
        "It was one, two, three, four, five, six, seven, eight, nine, ten steps",  # counting, not Luhn
    ],
)
def test_prose_with_number_words_is_not_restricted(detect: Detect, text: str) -> None:
    assert not RESTRICTED & found_types(detect, text)


# -- escaped and encoded -------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("form", "encoded", "entity"),
    [
        ("base64", _b64(f"card {CARD}".encode()), "CREDIT_CARD"),
        ("base64 bare number", _b64(CARD.encode()), "CREDIT_CARD"),
        ("base64 url-safe unpadded", base64.urlsafe_b64encode(b"card ~~~ 4111 1111 1111 1111 ???").decode().rstrip("="),
         "CREDIT_CARD"),
        ("base64 of an IBAN", _b64(b"IBAN DE89 3704 0044 0532 0130 00"), "IBAN_CODE"),
        ("base64 of a resident ID", _b64("身份证110105199003071239".encode()), "CN_RESIDENT_ID"),
        ("base64 with MIME line breaks", "\n".join(_b64(f"{'x' * 60} card {CARD}".encode())[i : i + 20]
                                                   for i in range(0, 120, 20)), "CREDIT_CARD"),
        ("hex", CARD.encode().hex(), "CREDIT_CARD"),
        ("hex upper case with 0x", "0x" + f"card {CARD}".encode().hex().upper(), "CREDIT_CARD"),
        ("hex bytes with spaces", " ".join(f"{b:02x}" for b in CARD.encode()), "CREDIT_CARD"),
        ("hex bytes with colons", ":".join(f"{b:02x}" for b in CARD.encode()), "CREDIT_CARD"),
        ("URL-encoding", "".join(f"%{b:02X}" for b in CARD.encode()), "CREDIT_CARD"),
        ("\\x escapes", "".join(f"\\x{b:02x}" for b in CARD.encode()), "CREDIT_CARD"),
        ("\\u escapes", "".join(f"\\u{b:04x}" for b in CARD.encode()), "CREDIT_CARD"),
        ("HTML entities", "".join(f"&#{b};" for b in CARD.encode()), "CREDIT_CARD"),
        ("gzip in base64", _b64(gzip.compress(b"IBAN DE89370400440532013000")), "IBAN_CODE"),
        ("zlib in base64", _b64(zlib.compress(f"card {CARD}".encode())), "CREDIT_CARD"),
        ("bzip2 in base64", _b64(bz2.compress(f"card {CARD}".encode())), "CREDIT_CARD"),
        ("base64 of hex", _b64(CARD.encode().hex().encode()), "CREDIT_CARD"),
        ("base64 of spelled", _b64(f"card four {ONES}".encode()), "CREDIT_CARD"),
        ("base64 of UTF-16", _b64(f"card {CARD}".encode("utf-16")), "CREDIT_CARD"),
    ],
)  # fmt: skip
def test_encoded_numbers_are_decoded_and_read(detect: Detect, form: str, encoded: str, entity: str) -> None:
    text = f"Please process this: {encoded} today"
    assert (entity, encoded) in detect(text), form


def _layers(count: int, data: bytes) -> str:
    for _ in range(count):
        data = base64.b64encode(data)
    return data.decode()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cards.txt", f"card {CARD}")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("form", "encoded"),
    [
        ("PDF in base64", _b64(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj")),
        ("ZIP in base64", _b64(_zip())),
        ("PNG in base64", _b64(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")),
        ("PDF in hex", b"%PDF-1.4 some objects".hex()),
        ("gzip of a PDF", _b64(gzip.compress(b"%PDF-1.4 " + b"stream " * 40))),
        ("five layers of base64", _layers(5, f"card {CARD}".encode())),
        ("OpenPGP message",
         "-----BEGIN PGP MESSAGE-----\n\nhQEMA5kq8Yv9Yh9rAQf/ZmFrZQ==\n=abcd\n-----END PGP MESSAGE-----"),
    ],
)  # fmt: skip
def test_content_that_cannot_be_read_is_undecodable(detect: Detect, form: str, encoded: str) -> None:
    text = f"Attachment: {encoded} thanks"
    found = detect(text)
    assert ("UNDECODABLE_CONTENT", encoded) in found, form
    assert not RESTRICTED & {entity for entity, _ in found}


def _jwt() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(b'{"sub":"1234567890","name":"svc-batch","iat":1516239022}').decode().rstrip("=")
    return f"{header}.{body}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {_jwt()}",
        f"commit {hashlib.sha1(b'x').hexdigest()} and sha256 {hashlib.sha256(b'x').hexdigest()}",
        f"request id {uuid.UUID(int=0x123E4567E89B12D3A456426614174000)} and UETR eb6305c9-1f7f-49de-aed0-16487c27b42d",
        f"api key sk-proj-{base64.urlsafe_b64encode(bytes(range(40, 88))).decode()}",
        f"token {base64.b64encode(bytes(range(200, 248))).decode()}",
        "ISIN US0378331005, BIC DEUTDEFF500, LEI 5493001KJTIIGC8Y1R12, SEDOL B0YBKJ7",
        f"greeting {_b64(b'hello world, the meeting is at 10:30 in room 4')}",
        "Totals EUR 1,250,000.00 on 2024-03-31; phone +44 20 7946 0958; order 100234556789",
        "Internationalization and Kreditkartennummern are long words, so is Rückzahlungsprozess",
        "image https://cdn.example.com/assets/a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6.png?v=20240331",
        "percent: 50% off, 100%25 sure, %20 spaces",
    ],
)
def test_clean_traffic_is_not_raised(detect: Detect, text: str) -> None:
    assert not (RESTRICTED | {"UNDECODABLE_CONTENT"}) & found_types(detect, text)


def test_escapes_map_back_to_the_escaped_characters(detect: Detect) -> None:
    text = "GET /search?q=card%3A%204111%201111%201111%201111&x=1"
    assert ("CREDIT_CARD", "4111%201111%201111%201111") in detect(text)


def test_decoders_directly() -> None:
    view = unescaped_view("a%34%31%31%31b")
    assert view is not None and view.text == "a4111b" and view.to_original(1, 2) == (1, 4)
    assert unescaped_view("100% sure") is None
    (blob,) = encoded_blobs(f"x {_b64(b'card 4111 1111 1111 1111')} y")
    assert blob.text == "card 4111 1111 1111 1111" and not blob.unreadable
    assert read_bytes(bytes(range(256))) == (None, False)  # random bytes: neither text nor a container
    assert read_bytes(b"%PDF-1.4") == (None, True)
    bomb = zlib.compress(b"\x00" * (4 << 20))
    assert read_bytes(bomb) == (None, True)  # inflates past the limit into no text: not read


def test_undecodable_is_only_reported_when_asked(classify: Classify) -> None:
    text = f"Attachment {_b64(b'%PDF-1.7 body')}"
    assert "UNDECODABLE_CONTENT" in classify(text).entity_types
