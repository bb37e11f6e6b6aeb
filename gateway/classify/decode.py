"""Encoded text: what base64, hex and escapes hide, decoded so that detectors can read it.

Three forms are read:

- *escapes* (``unescaped_view``): URL-encoding (``%34%31``), ``\\x34``,
  ``\\u0034`` and HTML character references (``&#52;``, ``&#x34;``), when a
  text holds at least ``MIN_ESCAPES`` of them; the view is the text with every
  escape replaced by its character, with a map back;
- *base64* (standard or URL-safe alphabet, padded or not, MIME line breaks
  allowed) of at least 16 characters: 12 bytes, the shortest card number;
- *hex* of at least 12 bytes: ``3431313131…``, ``34 31 31 31 …``,
  ``34:31:31:…``, ``0x3431…``.

``encoded_blobs`` yields each base64 or hex candidate with what it decodes to:

- text (valid UTF-8 or UTF-16, nearly all printable): ``Blob.text`` holds it,
  to be scanned like any text (and decoded again: base64 of hex of a number);
- a compressed stream (gzip, zlib, bzip2, xz) is inflated, at most
  ``MAX_INFLATED`` bytes, and judged again (a stream cut short gives what it
  holds up to the cut);
- a file format that carries content we cannot read (PDF, ZIP and the office
  formats built on it, 7z, RAR, OLE documents, PNG, JPEG, GIF), also inside a
  compressed stream, a compressed stream that inflates past the limit into
  something that is not text, or encrypted text (an OpenPGP message, an
  encrypted PEM block):
  ``Blob.unreadable`` is True. The gateway treats such content like a
  classifier failure unless the policy says otherwise
  (``classification.on_undecodable``);
- anything else (random bytes: tokens, hashes, signatures, ciphertext
  without an envelope, a long word that happens to use base64's alphabet) is
  not reported: it cannot carry a readable number, and it is common in clean
  traffic.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import regex

from gateway.classify.normalize import NormalizedText

MIN_ESCAPES = 4
MIN_BLOB = 16  # characters of base64 for 12 bytes, the shortest card number; hex needs 24
MAX_INFLATED = 1 << 20
PRINTABLE_SHARE = 0.9

_ESCAPE = regex.compile(
    r"%(?P<url>[0-9A-Fa-f]{2})|\\x(?P<x>[0-9A-Fa-f]{2})|\\u(?P<u>[0-9A-Fa-f]{4})"
    r"|&#(?:(?P<dec>[0-9]{1,7})|[xX](?P<hex>[0-9A-Fa-f]{1,6}));?"
)
# The standard library's engine: these simple classes scan twice as fast in it as in ``regex``.
_BASE64 = re.compile(
    r"(?<![A-Za-z0-9+/=_-])"
    r"(?:[A-Za-z0-9+/]{16,}(?:\r?\n[A-Za-z0-9+/]{4,})*|[A-Za-z0-9_-]{16,})={0,2}"
    r"(?![A-Za-z0-9+/=_-])"
)
_HEX = re.compile(
    r"(?<![0-9A-Za-z])(?:0[xX])?(?:[0-9A-Fa-f]{24,}|[0-9A-Fa-f]{2}(?:[ :][0-9A-Fa-f]{2}){11,})(?![0-9A-Za-z])"
)
_HEX_SEPARATORS = regex.compile(r"[ :]")
_LONG_WORD = re.compile(rf"\S{{{MIN_BLOB}}}")
_SPACED_HEX = re.compile(r"(?:[0-9A-Fa-f]{2}[ :]){11}[0-9A-Fa-f]{2}")
_ENCRYPTED = regex.compile(
    r"-----BEGIN (?:PGP MESSAGE|ENCRYPTED [A-Z ]+|PKCS7)-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", regex.DOTALL
)
_FILE_MAGIC = (
    b"%PDF-", b"PK\x03\x04", b"PK\x05\x06", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Blob:
    """An encoded span of a text and what it holds: ``text``, or ``unreadable``, never both."""

    start: int
    end: int
    kind: str  # "base64", "hex" or "encrypted"
    text: str | None = None
    unreadable: bool = False


def unescaped_view(text: str) -> NormalizedText | None:
    """``text`` with URL, ``\\x``/``\\u`` and HTML escapes replaced, with a map back; None if it has few."""
    if "%" not in text and "\\" not in text and "&#" not in text:
        return None
    escapes = list(_ESCAPE.finditer(text))
    if len(escapes) < MIN_ESCAPES:
        return None
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for escape in escapes:
        pieces.append(text[position : escape.start()])
        starts.extend(range(position, escape.start()))
        ends.extend(range(position + 1, escape.start() + 1))
        code = escape.group("url") or escape.group("x") or escape.group("u") or escape.group("hex")
        value = int(code, 16) if code else int(escape.group("dec"))
        char = chr(value) if value < 0x110000 and not 0xD800 <= value < 0xE000 else "\ufffd"
        pieces.append(char)
        starts.append(escape.start())
        ends.append(escape.end())
        position = escape.end()
    pieces.append(text[position:])
    starts.extend(range(position, len(text)))
    ends.extend(range(position + 1, len(text) + 1))
    return NormalizedText(text, "".join(pieces), starts, ends)


def _worth_reading(text: str) -> bool:
    """A necessary condition for a blob, cheap: a 16-character word, or twelve hex pairs (spaced hex)."""
    return _LONG_WORD.search(text) is not None or _SPACED_HEX.search(text) is not None


def encoded_blobs(text: str) -> Iterator[Blob]:
    """Each base64 or hex candidate of ``text`` that decodes to text or to something unreadable."""
    if not _worth_reading(text):
        return
    hex_spans: set[tuple[int, int]] = set()
    for match in _HEX.finditer(text):
        digits = _HEX_SEPARATORS.sub("", match.group())
        if digits[:2] in ("0x", "0X"):
            digits = digits[2:]
        if len(digits) % 2:
            continue
        hex_spans.add(match.span())
        blob = _judge(bytes.fromhex(digits), match.start(), match.end(), "hex")
        if blob is not None:
            yield blob
    for match in _BASE64.finditer(text):
        if match.span() in hex_spans:
            continue
        data = _b64decode(match.group())
        if data is not None:
            blob = _judge(data, match.start(), match.end(), "base64")
            if blob is not None:
                yield blob
    if "-----BEGIN " in text:
        for match in _ENCRYPTED.finditer(text):
            yield Blob(match.start(), match.end(), "encrypted", unreadable=True)


def _b64decode(candidate: str) -> bytes | None:
    compact = candidate.replace("\r", "").replace("\n", "").rstrip("=")
    if not (any(c.isdigit() for c in compact) or (compact.lower() != compact and compact.upper() != compact)):
        return None  # one case and no digit: a word, not base64 of anything
    compact = compact[: len(compact) - len(compact) % 4] if len(compact) % 4 == 1 else compact
    padded = compact + "=" * (-len(compact) % 4)
    try:
        if "-" in padded or "_" in padded:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _judge(data: bytes, start: int, end: int, kind: str) -> Blob | None:
    text, unreadable = read_bytes(data)
    if text is not None:
        return Blob(start, end, kind, text=text)
    if unreadable:
        return Blob(start, end, kind, unreadable=True)
    return None


def read_bytes(data: bytes, *, inflated: bool = False) -> tuple[str | None, bool]:
    """``(text, unreadable)`` for decoded bytes: text if they are text, unreadable for a known container."""
    if data.startswith(_FILE_MAGIC):
        return None, True
    if not inflated:
        stream = _inflate(data)
        if stream is not None:
            body, complete = stream
            text, unreadable = read_bytes(body, inflated=True)
            if text is not None:
                return text, False
            return None, unreadable or not complete
    return _as_text(data), False


def _inflate(data: bytes) -> tuple[bytes, bool] | None:
    """Decompressed bytes and whether they were all read; None if ``data`` is not a compressed stream."""
    try:
        if data[:3] == b"\x1f\x8b\x08" or (len(data) > 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0):
            inflater = zlib.decompressobj(wbits=31 if data[0] == 0x1F else 15)
            body = inflater.decompress(data, MAX_INFLATED)
            return body, inflater.eof and not inflater.unconsumed_tail
        if data[:3] == b"BZh" and data[4:10] == b"\x31\x41\x59\x26\x53\x59":
            bunzip = bz2.BZ2Decompressor()
            return bunzip.decompress(data, MAX_INFLATED), bunzip.eof
        if data[:6] == b"\xfd7zXZ\x00":
            unxz = lzma.LZMADecompressor()
            return unxz.decompress(data, MAX_INFLATED), unxz.eof
    except (zlib.error, OSError, EOFError, lzma.LZMAError):
        return None  # not a stream after all: random bytes that start like one
    return None


def _as_text(data: bytes) -> str | None:
    for encoding in ("utf-8", "utf-16"):
        if encoding == "utf-16" and (len(data) % 2 or data.count(0) < len(data) // 4):
            continue
        try:
            decoded = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if decoded and sum(char.isprintable() or char in "\t\r\n" for char in decoded) >= PRINTABLE_SHARE * len(
            decoded
        ):
            return decoded
    return None
