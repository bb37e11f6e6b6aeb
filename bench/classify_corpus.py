"""A labelled evaluation corpus for the classifier, generated with Faker (seeded).

Each sample is a request's texts plus the labelled spans of personal or
payment data in them. Groups:

- ``en``/``gb``/``de``/``fr``/``zh``: bank-style prompts with Faker names,
  e-mails, phones, addresses, cards, IBANs, SSNs, Chinese resident IDs and
  UnionPay cards in the locale's formats; some as the last message of a
  conversation;
- ``obfuscated``: restricted data written to slip past detectors: zero-width
  characters, full-width or Arabic-Indic digits, dashes, dots, no-break
  spaces, soft hyphens, mixed separators;
- ``clean-en``/``clean-zh``: prompts with no personal data but full of
  numbers: amounts, rates, dates, ISO codes, tickers, ISINs, invoice numbers.

The same seed gives the same corpus.
"""

from __future__ import annotations

import importlib.util
import random
import re
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from faker import Faker


def _sibling(name: str) -> ModuleType:
    """A module from this directory, however this one was loaded (script, path, package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


_templates = _sibling("classify_templates")
EN_TEMPLATES, EN_LOCALES, ZH_TEMPLATES = _templates.EN_TEMPLATES, _templates.EN_LOCALES, _templates.ZH_TEMPLATES
CLEAN_EN, CLEAN_ZH = _templates.CLEAN_EN, _templates.CLEAN_ZH
OBFUSCATED_TEMPLATES = _templates.OBFUSCATED_TEMPLATES

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "zh_CN")


@dataclass(frozen=True)
class Span:
    text_index: int
    start: int
    end: int
    entity: str


@dataclass(frozen=True)
class Sample:
    texts: tuple[str, ...]
    spans: tuple[Span, ...]
    group: str


def luhn_complete(payload: str) -> str:
    """``payload`` plus its Luhn check digit."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return payload + str((10 - total % 10) % 10)


def iban_complete(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27,
    "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "KW": 30,
    "KZ": 20, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15,
    "PL": 28, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "TR": 26, "UA": 29, "RU": 33, "EG": 29, "LC": 32,
}  # fmt: skip


class Values:
    """Labelled values: each method returns (text, entity)."""

    def __init__(self, rng: random.Random, seed: int) -> None:
        self.rng = rng
        self.fakers = {}
        for offset, locale in enumerate(LOCALES):
            faker = Faker(locale)
            faker.seed_instance(seed * 31 + offset)
            self.fakers[locale] = faker

    def person(self, locale: str) -> tuple[str, str]:
        faker = self.fakers[locale]
        if self.rng.random() < 0.7:
            return faker.name(), "PERSON"
        if locale == "zh_CN":
            return faker.last_name() + faker.first_name(), "PERSON"
        return f"{faker.first_name()} {faker.last_name()}", "PERSON"

    def email(self, locale: str) -> tuple[str, str]:
        return self.fakers[locale].email(), "EMAIL_ADDRESS"

    def phone(self, locale: str) -> tuple[str, str]:
        entity = "CN_PHONE" if locale == "zh_CN" else "PHONE_NUMBER"
        return self.fakers[locale].phone_number(), entity

    def address(self, locale: str) -> tuple[str, str]:
        text = self.fakers[locale].address()
        return (text.replace("\n", ", ") if self.rng.random() < 0.5 else text), "STREET_ADDRESS"

    def card(self, locale: str = "en_US") -> tuple[str, str]:
        kind = self.rng.choice(
            ["visa16", "visa13", "visa19", "mastercard", "amex", "discover", "jcb15", "jcb16",
             "diners", "maestro"]
        )  # fmt: skip
        number = self.fakers["en_US"].credit_card_number(card_type=kind)
        return self._group(number), "CREDIT_CARD"

    def cn_card(self, locale: str = "zh_CN") -> tuple[str, str]:
        length = self.rng.choice([16, 16, 19, 17, 18])
        payload = "62" + "".join(self.rng.choice(string.digits) for _ in range(length - 3))
        return self._group(luhn_complete(payload)), "CN_BANK_CARD"

    def iban(self, locale: str = "en_US") -> tuple[str, str]:
        if self.rng.random() < 0.4 and locale in ("de_DE", "fr_FR", "en_GB"):
            value = self.fakers[locale].iban()
        else:
            country = self.rng.choice(sorted(IBAN_LENGTHS))
            alphabet = string.digits + (string.ascii_uppercase if self.rng.random() < 0.3 else "")
            bban = "".join(self.rng.choice(alphabet) for _ in range(IBAN_LENGTHS[country] - 4))
            value = iban_complete(country, bban)
        if self.rng.random() < 0.6:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value, "IBAN_CODE"

    def ssn(self, locale: str = "en_US") -> tuple[str, str]:
        value = self.fakers["en_US"].ssn()
        return value.replace("-", self.rng.choice(["-", "-", " ", "."])), "US_SSN"

    def cn_id(self, locale: str = "zh_CN") -> tuple[str, str]:
        return self.fakers["zh_CN"].ssn(), "CN_RESIDENT_ID"

    def _group(self, number: str) -> str:
        style = self.rng.choice(["plain", "space", "space", "dash"])
        if style == "plain":
            return number
        separator = " " if style == "space" else "-"
        if len(number) == 15:
            return separator.join([number[:4], number[4:10], number[10:]])
        return separator.join(number[i : i + 4] for i in range(0, len(number), 4))


def _separated(value: str, separator: str) -> str:
    """``value`` with each run of separators (space, dash, dot) replaced by ``separator``."""
    return separator.join(re.split(r"[ .-]+", value))


def _zero_width(value: str, rng: random.Random) -> str:
    return "".join(c + (rng.choice("\u200b\u200c\u200d\u2060\ufeff") if rng.random() < 0.5 else "") for c in value)


def _full_width(value: str, rng: random.Random) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in value)


OBFUSCATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "zero_width": _zero_width,
    "full_width": _full_width,
    "dashes": lambda v, r: _separated(v, r.choice(["\u2013", "\u2014", "\u2212", "-"])),
    "dots": lambda v, r: _separated(v, "."),
    "nbsp": lambda v, r: _separated(v, r.choice(["\u00a0", "\u202f", "\u2009"])),
    "soft_hyphen": lambda v, r: "".join(c + ("\u00ad" if c.isalnum() and r.random() < 0.3 else "") for c in v),
    "arabic_indic": lambda v, r: "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in v),
    "mixed": lambda v, r: "".join(r.choice([" ", "-", ".", "\u200b", "  "]) if c in " -." else c for c in v),
}  # fmt: skip


def _fillers(rng: random.Random) -> dict[str, Callable[[], str]]:
    def amount() -> str:
        value = rng.choice([rng.uniform(1, 999), rng.uniform(1_000, 9_999_999)])
        return rng.choice([f"{value:,.2f}", f"{value:,.0f}", f"{value:.2f}"])

    def date() -> str:
        y, m, d = rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y}", f"{d}/{m}/{y}", f"{y}年{m}月{d}日"])

    return {
        "AMOUNT": amount,
        "DATE": date,
        "PCT": lambda: f"{rng.uniform(0.1, 15):.2f}%",
        "BPS": lambda: f"{rng.choice([5, 10, 25, 50, 75])} bps",
        "CCY": lambda: rng.choice(["EUR", "USD", "GBP", "CNY", "CHF", "JPY"]),
        "TICKER": lambda: rng.choice(["AAPL", "MSFT", "JPM", "HSBA", "BNP", "SAP", "0700.HK", "600036.SS", "DBK"]),
        "ISIN": lambda: rng.choice(["US0378331005", "US5949181045", "DE0007164600", "GB0002634946", "CNE100000296"]),
        "LEI": lambda: rng.choice(["5493001KJTIIGC8Y1R12", "7LTWFZYICNSX8D621K86", "529900T8BM49AURSDO55"]),
        "INVOICE": lambda: f"INV-{rng.randint(2019, 2026)}-{rng.randint(1, 99999):05d}",
        "PO": lambda: f"45{rng.randint(0, 99_999_999):08d}",
        "RATE": lambda: f"{rng.uniform(0.5, 8):.4f}",
        "QUARTER": lambda: f"Q{rng.randint(1, 4)} {rng.randint(2019, 2026)}",
        "Q": lambda: str(rng.randint(1, 4)),
        "TICKET": lambda: f"PAY-{rng.randint(100, 9999)}",
        "VERSION": lambda: f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
        "CODE": lambda: f"E{rng.randint(1000, 99999)}",
        "BATCH": lambda: f"{rng.randint(20190101, 20261231)}-{rng.randint(1, 999):03d}",
        "COUNT": lambda: str(rng.randint(2, 50_000)),
        "TIME": lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        "GL": lambda: str(rng.randint(100_000, 999_999)),
    }


_PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")
_VALUE_METHODS = {
    "PERSON": "person", "EMAIL": "email", "PHONE": "phone", "ADDRESS": "address",
    "CARD": "card", "CN_CARD": "cn_card", "IBAN": "iban", "SSN": "ssn", "CN_ID": "cn_id",
}  # fmt: skip
_CLEAN_GROUPS = ("clean-en", "clean-zh")


class CorpusGenerator:
    """Generates samples; see the module docstring."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.values = Values(self.rng, seed)
        self.fillers = _fillers(self.rng)

    def fill(
        self,
        template: str,
        locale: str,
        override: dict[str, tuple[str, str]] | None = None,
    ) -> tuple[str, list[tuple[int, int, str]]]:
        parts: list[str] = []
        spans: list[tuple[int, int, str]] = []
        position = 0
        length = 0
        for match in _PLACEHOLDER.finditer(template):
            literal = template[position : match.start()]
            parts.append(literal)
            length += len(literal)
            key = match.group(1)
            if override and key in override:
                value, entity = override[key]
            elif key in _VALUE_METHODS:
                value, entity = getattr(self.values, _VALUE_METHODS[key])(locale)
            else:
                value, entity = self.fillers[key](), ""
            if entity:
                spans.append((length, length + len(value), entity))
            parts.append(value)
            length += len(value)
            position = match.end()
        parts.append(template[position:])
        return "".join(parts), spans

    def sample(self, template: str, locale: str, group: str, **override: tuple[str, str]) -> Sample:
        text, spans = self.fill(template, locale, override)
        history: list[str] = []
        if group not in _CLEAN_GROUPS and self.rng.random() < 0.25:
            clean = CLEAN_ZH if locale == "zh_CN" else CLEAN_EN
            history = [self.fill(self.rng.choice(clean), locale)[0] for _ in range(self.rng.randint(1, 2))]
        index = len(history)
        return Sample(
            texts=(*history, text),
            spans=tuple(Span(index, start, end, entity) for start, end, entity in spans),
            group=group,
        )

    def corpus(self, size: int) -> list[Sample]:
        """``size`` samples: 40% English-language, 15% Chinese, 15% obfuscated, 30% clean."""
        samples: list[Sample] = []
        for number in range(size):
            share = number / size
            if share < 0.40:
                locale = self.rng.choice(EN_LOCALES)
                group = {"en_US": "en", "en_GB": "gb", "de_DE": "de", "fr_FR": "fr"}[locale]
                samples.append(self.sample(self.rng.choice(EN_TEMPLATES), locale, group))
            elif share < 0.55:
                samples.append(self.sample(self.rng.choice(ZH_TEMPLATES), "zh_CN", "zh"))
            elif share < 0.70:
                kind = self.rng.choice(sorted(OBFUSCATED_TEMPLATES))
                value, entity = getattr(self.values, _VALUE_METHODS[kind])("en_US")
                if kind == "SSN":
                    value = _separated(value, "-")
                elif kind != "CN_ID" and not re.search(r"[ .-]", value):
                    value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
                name = self.rng.choice(sorted(OBFUSCATIONS))
                hidden = OBFUSCATIONS[name](value, self.rng)
                template = self.rng.choice(OBFUSCATED_TEMPLATES[kind])
                samples.append(self.sample(template, "en_US", f"obfuscated:{name}", X=(hidden, entity)))
            elif share < 0.90:
                samples.append(self.sample(self.rng.choice(CLEAN_EN), "en_US", "clean-en"))
            else:
                samples.append(self.sample(self.rng.choice(CLEAN_ZH), "zh_CN", "clean-zh"))
        return samples


def generate_corpus(seed: int = 1, size: int = 1000) -> list[Sample]:
    """The labelled corpus for ``seed`` (same seed, same corpus)."""
    return CorpusGenerator(seed).corpus(size)
