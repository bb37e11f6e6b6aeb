"""An evaluation corpus built from generators this team does not control.

- English prompts with personal data: presidio-evaluator's templates
  (``bench/data/presidio_evaluator/templates.txt``, MIT licence beside it) filled with
  its people data (``people.csv``: FakeNameGenerator.com names of twenty name sets,
  addresses abroad, local phone numbers) and Faker;
- prompts in German, French, Spanish, Italian, Dutch, Chinese and Japanese
  (``independent_templates.py``) filled from Faker's locale providers: names, addresses,
  phones, e-mails, IBANs, companies, cities, lorem text in the language;
- clean prompts (30%) in every language: amounts, rates, dates, companies, cities and
  Faker's lorem sentences, no personal data;
- hard forms (20%): card numbers and IBANs broken across a line break, names in CSV
  columns and JSON values, ``SURNAME, GIVEN`` in capitals, lower-case names, names with
  non-ASCII letters, a surname alone after a salutation, addresses abroad inside a
  sentence, short local phone numbers.

Two splits, kept apart: ``tune`` (the templates and seeds recognizers may be tuned on)
and ``test`` (other templates, other people rows, another seed; never tuned on). The
same split, seed and size give the same corpus.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from faker import Faker

DATA = Path(__file__).resolve().with_name("data") / "presidio_evaluator"
SPLITS = {"test": ("TEST", 20261), "tune": ("TUNE", 5501)}
CLEAN_SHARE, HARD_SHARE = 0.30, 0.20
NON_ASCII_LOCALES = ("da_DK", "pl_PL", "cs_CZ", "hu_HU", "sv_SE", "de_DE", "fr_FR", "es_ES", "no_NO", "tr_TR")


def _sibling(name: str) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


T = _sibling("independent_templates")


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
    group: str  # language of the prompt
    form: str  # "plain", "clean" or the hard form's name


LABELS = {
    "person": "PERSON", "first": "PERSON", "last": "PERSON", "card": "CREDIT_CARD", "iban": "IBAN_CODE",
    "ssn": "US_SSN", "cnid": "CN_RESIDENT_ID", "phone": "PHONE_NUMBER", "email": "EMAIL_ADDRESS",
    "address": "STREET_ADDRESS",
}  # fmt: skip
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, values: dict[str, str]) -> tuple[str, list[tuple[int, int, str]]]:
    """``template`` with its placeholders replaced; the labelled spans."""
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    position = length = 0
    for match in _PLACEHOLDER.finditer(template):
        out.append(template[position : match.start()])
        length += match.start() - position
        value = values[match.group(1)]
        if match.group(1) in LABELS:
            spans.append((length, length + len(value), LABELS[match.group(1)]))
        out.append(value)
        length += len(value)
        position = match.end()
    out.append(template[position:])
    return "".join(out), spans


def _faker(locale: str, rng: random.Random) -> Faker:
    """A seeded Faker whose lists do not depend on the interpreter's hash seed: some locales
    (``it_IT``'s cities) build a list from a set, whose order follows ``PYTHONHASHSEED``."""
    faker = Faker(locale)
    for provider in faker.get_providers():
        cities = getattr(provider, "cities", None)
        if isinstance(cities, list):
            provider.cities = sorted(cities)
    faker.seed_instance(rng.randrange(2**31))
    return faker


def _people(split: str) -> list[dict[str, str]]:
    with (DATA / "people.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    half = len(rows) // 2
    return rows[half:] if split == "test" else rows[:half]


class Values:
    """Values for one language, from Faker's locale (and presidio-evaluator's people for English)."""

    def __init__(self, language: str, rng: random.Random, people: list[dict[str, str]]) -> None:
        self.language = language
        self.rng = rng
        self.people = people
        self.fake = _faker(T.LOCALE[language], rng)
        self.banks = {loc: _faker(loc, rng) for loc in ("de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "en_GB")}
        self.us = _faker("en_US", rng)
        self.cn = _faker("zh_CN", rng)
        self.others = {loc: _faker(loc, rng) for loc in NON_ASCII_LOCALES}

    def person_row(self) -> dict[str, str]:
        return self.rng.choice(self.people)

    def first_last(self) -> tuple[str, str]:
        if self.language == "en":
            row = self.person_row()
            return row["GivenName"], row["Surname"]
        return self.fake.first_name(), self.fake.last_name()

    def person(self) -> str:
        first, last = self.first_last()
        if self.language in ("zh", "ja"):
            return last + (" " if self.language == "ja" and self.rng.random() < 0.5 else "") + first
        return f"{first} {last}"

    def card(self) -> str:
        number = self.us.credit_card_number()
        if len(number) == 16 and self.rng.random() < 0.6:
            return " ".join(number[i : i + 4] for i in range(0, 16, 4))
        return number

    def iban(self) -> str:
        locale = {"de": "de_DE", "fr": "fr_FR", "es": "es_ES", "it": "it_IT", "nl": "nl_NL"}.get(self.language)
        faker = self.banks[locale] if locale else self.banks[self.rng.choice(sorted(self.banks))]
        iban = faker.iban()
        if self.rng.random() < 0.5:
            return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    def address(self) -> str:
        return ", ".join(line.strip() for line in self.fake.address().splitlines())

    def phone(self) -> str:
        return self.cn.phone_number() if self.language == "zh" else self.fake.phone_number()

    def amount(self) -> str:
        value = self.rng.randint(100, 900_000)
        if self.language in ("en", "zh", "ja"):
            return f"{'USD' if self.language == 'en' else 'CNY' if self.language == 'zh' else 'JPY'} {value:,}"
        return f"{value:,} EUR".replace(",", ".")

    def date(self) -> str:
        pattern = {"en": "%B %d, %Y", "zh": "%Y年%m月%d日", "ja": "%Y年%m月%d日"}.get(self.language, "%d.%m.%Y")
        return self.fake.date(pattern=pattern)

    def values(self) -> dict[str, str]:
        first, last = self.first_last()
        person = self.person()
        return {
            "person": person,
            "first": first,
            "last": last,
            "card": self.card(),
            "iban": self.iban(),
            "ssn": self.us.ssn(),
            "cnid": self.cn.ssn(),
            "phone": self.phone(),
            "email": self.fake.email(),
            "address": self.address(),
            "company": self.fake.company(),
            "city": self.fake.city(),
            "amount": self.amount(),
            "date": self.date(),
            "num": str(self.rng.randint(2, 30)),
            "pct": f"{self.rng.randint(1, 9)}{'.' if self.language in ('en', 'zh', 'ja') else ','}"
            f"{self.rng.randint(0, 9)} %",
            "sentence": self.fake.sentence(nb_words=10),
            "year": str(self.rng.randint(2015, 2026)),
        }


# -- presidio-evaluator's templates ------------------------------------------------

_PRESIDIO_PERSON = {
    "person": "person", "name": "person", "name_male": "person", "name_female": "person",
    "first_name": "first", "first_name_male": "first", "first_name_female": "first",
    "first_name_nonbinary": "first", "last_name": "last", "last_name_male": "last", "last_name_female": "last",
}  # fmt: skip


def presidio_templates(split: str) -> list[str]:
    lines = (DATA / "templates.txt").read_text(encoding="utf-8").splitlines()
    lines = [line.strip().replace("\\n", "\n") for line in lines if line.strip()]
    return lines[1::2] if split == "test" else lines[0::2]


def fill_presidio(template: str, source: Values) -> tuple[str, list[tuple[int, int, str]]]:
    """A presidio-evaluator template filled; building number and street name together are an address."""
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    length = position = 0
    street: list[tuple[int, int]] = []
    row = source.person_row()
    for match in re.finditer(r"\{\{(\w+)\}\}", template):
        out.append(template[position : match.start()])
        length += match.start() - position
        key = match.group(1)
        label: str | None = None
        if key in _PRESIDIO_PERSON:
            kind = _PRESIDIO_PERSON[key]
            row = source.person_row()
            value = {"person": f"{row['GivenName']} {row['Surname']}", "first": row["GivenName"]}.get(
                kind, row["Surname"]
            )
            label = "PERSON"
        elif key in ("prefix", "prefix_male", "prefix_female"):
            value = source.rng.choice(("Mr.", "Ms.", "Mrs.", "Dr."))
        elif key == "credit_card_number":
            value, label = source.card(), "CREDIT_CARD"
        elif key == "iban":
            value, label = source.iban(), "IBAN_CODE"
        elif key == "ssn":
            value, label = source.us.ssn(), "US_SSN"
        elif key == "phone_number":
            row = source.person_row()
            local = row["TelephoneNumber"]
            value = local if source.rng.random() < 0.5 else f"+{row['TelephoneCountryCode']} {local.lstrip('0')}"
            label = "PHONE_NUMBER"
        elif key == "email":
            value, label = source.person_row()["EmailAddress"], "EMAIL_ADDRESS"
        elif key == "address":
            row = source.person_row()
            value, label = f"{row['StreetAddress']}, {row['ZipCode']} {row['City']}", "STREET_ADDRESS"
        elif key in ("building_number", "street_name"):
            value = getattr(source.us, key)()
            street.append((length, length + len(value)))
        else:
            provider = getattr(source.us, key, None)
            value = str(provider()) if callable(provider) else key
        if label:
            spans.append((length, length + len(value), label))
        out.append(value)
        length += len(value)
        position = match.end()
    out.append(template[position:])
    if len(street) >= 2 and "{{building_number}}" in template:
        spans.append((min(s for s, _ in street), max(e for _, e in street), "STREET_ADDRESS"))
    return "".join(out), spans


# -- hard forms ---------------------------------------------------------------------


def _split_number(value: str, rng: random.Random) -> str:
    digits = value.replace(" ", "")
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    cut = rng.randint(1, len(groups) - 1)
    return " ".join(groups[:cut]) + "\n" + " ".join(groups[cut:])


def hard_split(source: Values, key: str) -> tuple[str, list[tuple[int, int, str]]]:
    lead = next(t for t in T.SPLIT_LEAD[source.language] if "{" + key + "}" in t)
    raw = source.card() if key == "card" else source.iban()
    return fill(lead, {key: _split_number(raw, source.rng)})


def hard_csv(source: Values, split: str) -> tuple[str, list[tuple[int, int, str]]]:
    key = source.rng.choice(T.NAME_KEYS[split][source.language])
    other = source.rng.choice(("iban", "email", "amount", "city"))
    text = T.TABLE_REQUEST[source.language] + "\n" + f"{key},{other}\n"
    spans: list[tuple[int, int, str]] = []
    for name in [source.person() for _ in range(source.rng.randint(2, 4))]:
        spans.append((len(text), len(text) + len(name), "PERSON"))
        value = source.values()[other].replace(",", "")
        if other in ("iban", "email"):
            spans.append((len(text) + len(name) + 1, len(text) + len(name) + 1 + len(value), LABELS[other]))
        text += f"{name},{value}\n"
    return text, spans


def hard_json(source: Values, split: str) -> tuple[str, list[tuple[int, int, str]]]:
    key = source.rng.choice(T.NAME_KEYS[split][source.language])
    name = source.person()
    record = {"id": source.rng.randint(1000, 99999), key: name, "status": "open"}
    body = json.dumps(record, ensure_ascii=False)
    start = body.index(json.dumps(name, ensure_ascii=False)) + 1
    text = T.TABLE_REQUEST[source.language] + "\n" + body
    offset = len(T.TABLE_REQUEST[source.language]) + 1
    return text, [(offset + start, offset + start + len(name), "PERSON")]


def hard_caps(source: Values, split: str) -> tuple[str, list[tuple[int, int, str]]]:
    text = T.TABLE_REQUEST[source.language] + "\n"
    spans = []
    for _ in range(source.rng.randint(2, 3)):
        first, last = source.first_last()
        name = f"{last.upper()}, {first}" if source.language not in ("zh", "ja") else f"{last}, {first}"
        amount = source.amount().replace(",", "")
        spans.append((len(text) + 1, len(text) + 1 + len(name), "PERSON"))
        text += f'"{name}";{amount}\n'
    return text, spans


def hard_lower(source: Values, split: str) -> tuple[str, list[tuple[int, int, str]]]:
    lead = source.rng.choice(T.LOWER_CASE_LEAD[source.language])
    first, last = source.first_last()
    return fill(lead, {"person": f"{first} {last}".lower()})


def hard_non_ascii(source: Values, split: str) -> tuple[str, list[tuple[int, int, str]]]:
    for _ in range(50):
        faker = source.others[source.rng.choice(sorted(source.others))]
        name = f"{faker.first_name()} {faker.last_name()}"
        if not name.isascii():
            break
    templates = [t for t in T.SENSITIVE.get(source.language, T.SENSITIVE["de"])[split] if "{person}" in t]
    if source.language == "en":
        templates = ["Please update the records of {person} before the review.", "{person} asked about the fee."]
    values = source.values() | {"person": name}
    return fill(source.rng.choice(templates), values)


def hard_salutation(source: Values, split: str) -> tuple[str, list[tuple[int, int, str]]]:
    lead = source.rng.choice(T.SALUTATIONS[split][source.language])
    _, last = source.first_last()
    text, spans = fill(lead, {"last": last})
    return text + ("\n" if source.language not in ("zh", "ja") else "") + T.FOLLOW_UP[source.language], spans


def hard_foreign_address(source: Values, split: str) -> tuple[str, list[tuple[int, int, str]]]:
    row = source.person_row()
    address = f"{row['StreetAddress']}, {row['ZipCode']} {row['City']}"
    if source.rng.random() < 0.5:
        locale = source.rng.choice(("en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "ja_JP", "zh_CN", "en_US"))
        faker = source.banks.get(locale) or (source.cn if locale == "zh_CN" else source.us)
        if locale == "ja_JP":
            faker = Faker("ja_JP")
            faker.seed_instance(source.rng.randrange(2**31))
        address = ", ".join(line.strip() for line in faker.address().splitlines())
    lead = source.rng.choice(T.ADDRESS_LEAD[source.language])
    return fill(lead, {"address": address})


def hard_local_phone(source: Values, split: str) -> tuple[str, list[tuple[int, int, str]]]:
    local = source.person_row()["TelephoneNumber"]
    return fill(T.LOCAL_PHONE_LEAD[source.language], {"phone": local})


HARD_FORMS: dict[str, Callable[[Values, str], tuple[str, list[tuple[int, int, str]]]]] = {
    "split-card": lambda source, split: hard_split(source, "card"),
    "split-iban": lambda source, split: hard_split(source, "iban"),
    "csv-names": hard_csv,
    "json-names": hard_json,
    "caps-names": hard_caps,
    "lower-case-name": hard_lower,
    "non-ascii-name": hard_non_ascii,
    "salutation-surname": hard_salutation,
    "foreign-address": hard_foreign_address,
    "local-phone": hard_local_phone,
}


def generate_corpus(split: str = "test", size: int = 1600, seed: int | None = None) -> list[Sample]:
    """``size`` prompts, an equal share per language (``independent_templates.LANGUAGES``)."""
    key, default_seed = SPLITS[split]
    rng = random.Random(default_seed if seed is None else seed)
    people = _people(split)
    english = presidio_templates(split)
    samples: list[Sample] = []
    per_language = size // len(T.LANGUAGES)
    for language in T.LANGUAGES:
        source = Values(language, random.Random(rng.randrange(2**31)), people)
        clean_n, hard_n = round(per_language * CLEAN_SHARE), round(per_language * HARD_SHARE)
        forms = sorted(HARD_FORMS)
        for i in range(per_language):
            if i < clean_n:
                text, spans = fill(source.rng.choice(T.CLEAN[language][key]), source.values())
                form = "clean"
            elif i < clean_n + hard_n:
                form = forms[(i - clean_n) % len(forms)]
                text, spans = HARD_FORMS[form](source, key)
            elif language == "en":
                text, spans = fill_presidio(source.rng.choice(english), source)
                form = "plain" if spans else "clean"
            else:
                text, spans = fill(source.rng.choice(T.SENSITIVE[language][key]), source.values())
                form = "plain"
            samples.append(Sample((text,), tuple(Span(0, s, e, entity) for s, e, entity in spans), language, form))
    return samples
