"""PERSON in structured text: what a key or a column header says is a name.

Prompts carry data as staff paste it: CSV exports, JSON records, ``key: value`` lines.
There the key says what the value is, in any language, whatever the value looks like
(``"account_holder": "đurđa jovanović"``). Found here (0.85 unless said):

- JSON (and Python/JS literals): the string value of a key that names a person
  (``name``, ``holder``, ``customer_name``, ``Kontoinhaber``, ``titulaire``, ``titular``,
  ``intestatario``, ``rekeninghouder``, ``氏名``, ``姓名``, ``户名``... but not ``bank_name``,
  ``file_name``, ``username``);
- ``key: value`` and ``key = value`` lines with such a key;
- CSV and other delimited tables (``,`` ``;`` tab ``|``): under a header with such a
  column, that column's cells in the rows that follow;
- ``SURNAME, Given`` with the surname in capitals, at the start of a line or a cell or
  inside quotes (``"STUIT, Reineke";``): how registers and card embossing write names;
- lower-case names after a word that introduces a person (``customer jan krčmář``, ``kunde
  sina mende``): two words, neither a common word of the languages we read (0.6).

A value counts as a name when it is one to five words of letters (any script), with
hyphens, apostrophes, dots and particles, and no digits or ``@``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import regex
from spacy.lang.de.stop_words import STOP_WORDS as DE_STOP
from spacy.lang.en.stop_words import STOP_WORDS as EN_STOP
from spacy.lang.es.stop_words import STOP_WORDS as ES_STOP
from spacy.lang.fr.stop_words import STOP_WORDS as FR_STOP
from spacy.lang.it.stop_words import STOP_WORDS as IT_STOP
from spacy.lang.nl.stop_words import STOP_WORDS as NL_STOP

from gateway.classify.recognizers import salutation
from gateway.classify.recognizers.base import ScanningRecognizer
from gateway.classify.recognizers.name_shape import NOT_NAME_WORDS

# Key words that say "a person's name", compared on the key lower-cased without
# separators; a key naming something else first wins (``bankname`` is not a person).
_NAME_KEY_PARTS = (
    "name", "holder", "customer", "client", "beneficiary", "payee", "payer", "owner", "contact",
    "cardholder", "applicant", "borrower", "guarantor", "employee", "remitter", "recipient", "signatory",
    "kontoinhaber", "inhaber", "empfänger", "kunde", "antragsteller", "ansprechpartner", "vorname",
    "nachname", "zahler", "titulaire", "nom", "prenom", "prénom", "bénéficiaire", "beneficiaire",
    "emprunteur", "titular", "nombre", "apellido", "apellidos", "beneficiario", "intestatario",
    "nome", "cognome", "nominativo", "correntista", "naam", "voornaam", "achternaam",
    "rekeninghouder", "begunstigde", "klant", "氏名", "名前", "名義", "姓名", "户名", "戶名", "客户",
    "联系人", "收款人", "付款人", "持卡人", "顧客", "受取人", "이름", "성명", "예금주",
)  # fmt: skip
_NOT_PERSON_KEY_PARTS = (
    "bank", "file", "user", "host", "company", "firm", "org", "product", "branch", "field", "table",
    "column", "model", "display", "domain", "server", "app", "service", "project", "team", "group",
    "street", "city", "country", "plan", "type", "tag", "label", "class", "event", "key", "path",
    "merchant", "firma", "société", "societe", "empresa", "azienda", "bedrijf", "nombre_empresa",
    "kind", "code", "id", "number", "nummer", "numero", "número", "account", "konto", "compte", "cuenta",
    "conto", "rekening", "status", "email", "mail", "phone", "tel", "address", "adresse", "direccion",
    "dirección", "indirizzo", "adres", "iban", "amount", "betrag", "montant", "importe", "importo",
    "bedrag", "date", "datum", "fecha", "data",
)  # fmt: skip


def is_name_key(key: str) -> bool:
    """Whether a key or a column header names a person."""
    folded = regex.sub(r"[\s_\-.:]+", "", key.strip().strip("\"'").lower())
    if not folded or len(folded) > 40:
        return False
    if folded in ("name", "nom", "nombre", "nome", "naam", "氏名", "名前", "姓名"):
        return True
    if any(part in folded for part in _NOT_PERSON_KEY_PARTS):
        return folded.endswith(("holder", "inhaber", "titulaire", "titular", "intestatario", "houder"))
    return any(part in folded for part in _NAME_KEY_PARTS)


_NAME_VALUE = regex.compile(r"[\p{L}][\p{L}\p{M}'’.\-]*(?:[ \t]+[\p{L}][\p{L}\p{M}'’.\-]*){0,4}")


def is_name_value(value: str) -> bool:
    value = value.strip()
    return 2 <= len(value) <= 80 and _NAME_VALUE.fullmatch(value) is not None


_JSON_PAIR = regex.compile(r"""(["'])([^"'\n]{1,40})\1[ \t]*:[ \t]*(["'])([^"'\n]{1,80})\3""")
_KEY_VALUE_LINE = regex.compile(r"(?m)^[ \t>*-]*([^\n:=]{1,40}?)[ \t]*[:=][ \t]*([^\n]{2,80}?)[ \t]*$")
_DELIMITERS = (",", ";", "\t", "|")
_CAPS_SURNAME = regex.compile(
    r"(?:(?<=^|\n|[\"'(\[;|\t])[ \t]*)"
    r"(\p{Lu}{2,}(?:[ '\-]\p{Lu}{2,})*,[ \t]*\p{Lu}\p{Ll}+(?:[ \-]\p{Lu}\p{Ll}+)?)"
    r"(?=[ \t]*(?:$|\n|[\"')\];|\t,]))"
)
_COMMON = (
    frozenset(EN_STOP | DE_STOP | FR_STOP | ES_STOP | IT_STOP | NL_STOP) | NOT_NAME_WORDS | salutation.NOT_NAME_WORDS
)
_LOWER_PARTICLES = r"(?:(?:van|den|der|de|ter|ten|von|di|da|del|la|le|'t)[ \t]+){0,3}"
_INTRO_LOWER = regex.compile(
    rf"(?<![\p{{L}}])(?:{'|'.join(salutation.INTROS)})[ \t]*[:,]?[ \t]+"
    rf"(\p{{Ll}}[\p{{Ll}}'’\-]+[ \t]+{_LOWER_PARTICLES}\p{{Ll}}[\p{{Ll}}'’\-]+)"
    r"(?=[ \t]*(?:$|[\n,.;:!?)]|[ \t]\p{Ll}))"
)
# A Chinese or Japanese name after a Latin introducing word (``customer 千代 佐藤``).
_INTRO_HAN = regex.compile(
    rf"(?<![\p{{L}}])(?i:{'|'.join(salutation.INTROS)})[ \t]*[:,]?[ \t]*"
    r"(\p{Han}{1,3}(?:[ \t]?\p{Han}{1,3})?)(?![\p{Han}])"
)
# ``姓, 名`` in a cell: the register form of a Chinese or Japanese name.
_HAN_SURNAME_FIRST = regex.compile(
    r"(?<=^|\n|[\"'(\[;|\t])[ \t]*(\p{Han}{1,2}[,，][ \t]*\p{Han}{1,3})(?=[\"')\];|\t]|$|\n)"
)
# Capital words that are not surnames in ``SURNAME, Given`` position.
_NOT_CAPS_NAMES_TEXT = """
    NOTE ATTENTION URGENT IMPORTANT WARNING DEAR HELLO RE FW FWD FYI TODO OK YES NO PS NB USD EUR GBP
    IBAN BIC SWIFT PIN ID TOTAL SUBTOTAL DATE NAME STATUS ACTION CC BCC TO FROM SUBJECT
"""
_NOT_CAPS_NAMES = frozenset(_NOT_CAPS_NAMES_TEXT.split())


class StructuredNameRecognizer(ScanningRecognizer):
    """PERSON from keys, headers and register forms (module docstring)."""

    ENTITY = "PERSON"

    def scan(self, text: str) -> Iterator[tuple[int, int, float]]:
        if ":" in text or "=" in text:
            yield from _json_values(text)
            yield from _key_values(text)
        if "\n" in text:
            yield from _table_cells(text)
        if "," in text:
            for match in _CAPS_SURNAME.finditer(text):
                if match.group(1).split(",")[0].strip() not in _NOT_CAPS_NAMES:
                    yield match.start(1), match.end(1), 0.85
        for match in _INTRO_LOWER.finditer(text):
            words = match.group(1).split()
            if words[0] not in _COMMON and words[-1] not in _COMMON:
                yield match.start(1), match.end(1), 0.6
        if not text.isascii():
            for match in (*_INTRO_HAN.finditer(text), *_HAN_SURNAME_FIRST.finditer(text)):
                yield match.start(1), match.end(1), 0.85


def _json_values(text: str) -> Iterator[tuple[int, int, float]]:
    for match in _JSON_PAIR.finditer(text):
        if is_name_key(match.group(2)) and is_name_value(match.group(4)):
            yield match.start(4), match.end(4), 0.85


def _key_values(text: str) -> Iterator[tuple[int, int, float]]:
    for match in _KEY_VALUE_LINE.finditer(text):
        key, value = match.group(1), match.group(2).strip("\"',")
        if is_name_key(key) and is_name_value(value):
            start = match.start(2) + match.group(2).index(value)
            yield start, start + len(value), 0.85


def _table_cells(text: str) -> Iterator[tuple[int, int, float]]:
    """Cells under a name column: a header line, then rows with as many cells."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)
    index = 0
    while index < len(lines):
        header = lines[index]
        delimiter = next((d for d in _DELIMITERS if d in header), None)
        if delimiter is None:
            index += 1
            continue
        cells = _cells(header, delimiter)
        columns = [i for i, (_, _, cell) in enumerate(cells) if is_name_key(cell)]
        if not columns or len(cells) < 2:
            index += 1
            continue
        index += 1
        while index < len(lines) and lines[index].count(delimiter) >= len(cells) - 1 > 0:
            row = _cells(lines[index], delimiter)
            for column in columns:
                if column < len(row):
                    start, end, value = row[column]
                    if is_name_value(value):
                        yield offsets[index] + start, offsets[index] + end, 0.85
            index += 1


def _cells(line: str, delimiter: str) -> list[tuple[int, int, str]]:
    """Each cell of a delimited line with its offsets (quotes honoured, stripped)."""
    try:
        values = next(csv.reader(io.StringIO(line), delimiter=delimiter))
    except (csv.Error, StopIteration):
        return []
    cells: list[tuple[int, int, str]] = []
    position = 0
    for value in values:
        stripped = value.strip()
        found = line.find(stripped, position) if stripped else -1
        if found < 0:
            cells.append((position, position, ""))
            continue
        cells.append((found, found + len(stripped), stripped))
        position = found + len(stripped)
    return cells
