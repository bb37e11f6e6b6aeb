"""False alarms on clean text full of ordinary numbers: how often is it decided ``restricted``?

Clean prompts are generated with Faker in several locales (en_US, en_GB, de_DE, fr_FR, es_ES,
it_IT, nl_NL, zh_CN, ja_JP), fixed seed, in the shapes that carry numbers in a bank's traffic:
amounts, dates, phone numbers, postcodes, order and invoice numbers, ISBNs/EANs, ISINs, BICs, LEIs,
UUIDs/UETRs, hashes, git SHAs, IP addresses, random tokens in base64 and hex, base64 of clean text,
URL-encoded clean queries, CSV and Markdown tables of numbers, code and JSON with numbers, prose
with number words. None holds a card, IBAN, national ID or undecodable content, so every prompt
decided ``restricted`` (a restricted type, ``UNDECODABLE_CONTENT`` or a classifier error, under
the CONTRACT's example policy) is a false alarm. The project's own corpus (``classify_corpus.py``)
adds its clean prompts.

Run it in two trees to compare (each script imports the gateway of the tree it sits in):
``python bench/classify_numbers_clean.py [--per-locale 300] [--examples]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import importlib.util
import json
import random
import sys
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "zh_CN", "ja_JP")
RAISING = frozenset({"CREDIT_CARD", "CN_BANK_CARD", "IBAN_CODE", "CN_RESIDENT_ID", "US_SSN", "UNDECODABLE_CONTENT"})
ISINS = ("US0378331005", "DE0007164600", "FR0000131104", "GB0002634946", "CNE1000001Z5")
BICS = ("DEUTDEFF", "BNPAFRPP", "HSBCGB2L", "ICBKCNBJ", "COBADEFFXXX")
LEIS = ("5493001KJTIIGC8Y1R12", "529900T8BM49AURSDO55", "HWUPKR0MPOU8FGXBT394")
WORDS = {"en_US": "one or two", "en_GB": "three or four", "de_DE": "eins oder zwei", "fr_FR": "un ou deux",
         "es_ES": "uno o dos", "zh_CN": "一两个", "ja_JP": "一つか二つ"}  # fmt: skip


def _amount(fake: Faker, rng: random.Random) -> str:
    value = rng.uniform(1, 10_000_000)
    return rng.choice([f"{value:,.2f}", f"{value:.2f}", f"{value:,.0f}".replace(",", "."), f"{value:_.2f}",
                       f"{value:,.2f}".replace(",", " ")]) + " " + fake.currency_code()  # fmt: skip


def _table(fake: Faker, rng: random.Random, separator: str) -> str:
    rows = [separator.join(["date", "amount", "reference", "branch"])]
    for _ in range(rng.randint(3, 8)):
        rows.append(separator.join([fake.date(), f"{rng.uniform(1, 99999):.2f}", str(rng.randint(1000, 9999)),
                                    fake.postcode()]))  # fmt: skip
    return "\n".join(rows)


def _markdown(fake: Faker, rng: random.Random) -> str:
    lines = ["| year | Q1 | Q2 | Q3 | Q4 |", "|---|---|---|---|---|"]
    for year in range(rng.randint(2015, 2020), 2025):
        lines.append("| " + " | ".join([str(year), *(str(rng.randint(1000, 9999)) for _ in range(4))]) + " |")
    return "\n".join(lines)


def prompt(fake: Faker, locale: str, rng: random.Random) -> str:
    kind = rng.randrange(16)
    if kind == 0:
        return f"{fake.sentence()} Amount {_amount(fake, rng)} due {fake.date()}, booked {fake.date_time()}."
    if kind == 1:
        return f"Call {fake.phone_number()} about order {rng.randint(10**9, 10**13)} ({fake.postcode()})."
    if kind == 2:
        codes = f"ISIN {rng.choice(ISINS)}, BIC {rng.choice(BICS)}, LEI {rng.choice(LEIS)}"
        return f"Summarise {codes}, EAN {fake.ean13()}, ISBN {fake.isbn13()}."
    if kind == 3:
        return f"UETR {uuid.UUID(int=rng.getrandbits(128))} failed; trace {uuid.UUID(int=rng.getrandbits(128)).hex}."
    if kind == 4:
        blob = bytes(rng.getrandbits(8) for _ in range(rng.choice((16, 24, 32, 48, 64))))
        digests = (hashlib.sha1(blob).hexdigest(), hashlib.sha256(blob).hexdigest(), hashlib.md5(blob).hexdigest())
        return "commit {}, sha256 {}, md5 {}".format(*digests)
    if kind == 5:
        blob = bytes(rng.getrandbits(8) for _ in range(rng.choice((12, 18, 24, 33, 48, 96))))
        encoded = rng.choice([base64.b64encode, base64.urlsafe_b64encode])(blob).decode()
        return f"Authorization: Bearer {encoded} (expires {fake.iso8601()})"
    if kind == 6:
        return f"Decode this: {base64.b64encode(fake.paragraph().encode()).decode()}"
    if kind == 7:
        query = urllib.parse.urlencode({"q": fake.sentence(), "from": fake.date(), "amount": _amount(fake, rng)})
        return f"GET https://{fake.domain_name()}/search?{query}"
    if kind == 8:
        return _table(fake, rng, rng.choice([";", ",", "\t", " | "]))
    if kind == 9:
        return _markdown(fake, rng)
    if kind == 10:
        values = [rng.randint(0, 10 ** rng.randint(2, 8)) for _ in range(rng.randint(3, 12))]
        return f"values = {values}\ntotal = sum(values)  # {fake.sentence()}"
    if kind == 11:
        record = {"id": rng.randint(10**5, 10**12), "amount": round(rng.uniform(1, 10**6), 2), "date": fake.date(),
                  "ip": fake.ipv4(), "zip": fake.postcode(), "isbn": fake.isbn13()}  # fmt: skip
        return json.dumps(record, ensure_ascii=False)
    if kind == 12:
        return f"{fake.paragraph()} {WORDS.get(locale, 'one or two')} {fake.sentence()}"
    if kind == 13:
        return f"Invoice INV-{fake.year()}-{rng.randint(1, 99999):05d}, PO {rng.randint(4500000000, 4599999999)}, " \
               f"{fake.date()} {fake.time()}, {_amount(fake, rng)}"  # fmt: skip
    if kind == 14:
        return "\n".join(f"{fake.date()}  {_amount(fake, rng)}  {rng.randint(10**7, 10**11)}" for _ in range(6))
    return f"{fake.text(max_nb_chars=300)} {fake.license_plate()} {fake.ipv6()} {fake.msisdn()}"


def load(name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def run(per_locale: int, seed: int, examples: bool) -> None:
    from gateway.classify import PresidioClassifier

    classifier = PresidioClassifier()
    classifier.load()
    rng = random.Random(seed)
    prompts: list[tuple[str, tuple[str, ...]]] = []
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(seed)
        prompts.extend((locale, (prompt(fake, locale, rng),)) for _ in range(per_locale))
    corpus = load("classify_corpus")
    own = [s for s in corpus.generate_corpus(seed=1, size=2000) if not s.spans]  # type: ignore[attr-defined]
    prompts.extend(("project corpus", sample.texts) for sample in own)

    started = time.perf_counter()
    total: Counter[str] = Counter()
    raised: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    types: Counter[str] = Counter()
    shown: list[str] = []
    for group, texts in prompts:
        result = await classifier.classify(list(texts))
        total[group] += 1
        found = set(result.entity_types & RAISING) | ({f"error:{result.error}"} if result.error else set())
        if found:
            raised[group] += 1
            errors[group] += result.error is not None
            types.update(found)
            if examples and len(shown) < 40:
                shown.append(f"{group}: {sorted(found)} {texts[-1][:160]!r}")
    classifier.close()
    seconds = time.perf_counter() - started
    print(f"Clean prompts decided restricted (seed {seed}; {sum(total.values())} prompts, {seconds:.1f} s):\n")
    print("| group | prompts | raised to restricted | rate | of which classifier errors |\n|---|---:|---:|---:|---:|")
    for group in [*LOCALES, "project corpus", "all"]:
        count = sum(total.values()) if group == "all" else total[group]
        up = sum(raised.values()) if group == "all" else raised[group]
        failed = sum(errors.values()) if group == "all" else errors[group]
        print(f"| {group} | {count} | {up} | {up / max(count, 1):.2%} | {failed} |")
    print(f"\nTypes: {dict(types)}")
    for line in shown:
        print("  ", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-locale", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--examples", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    asyncio.run(run(args.per_locale, args.seed, args.examples))


if __name__ == "__main__":
    main()
