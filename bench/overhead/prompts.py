"""The requests every system under test receives: ~30-word bank prompts, each one unique.

Every request's text differs (a counter is part of it), so no classifier
result, per-message cache or response cache can be reused between requests:
each system classifies every prompt from scratch. About one prompt in three
names a person (Presidio's NER finds it), none carries a card number or an
IBAN (which would let our classifier skip NER as already decisive), so the
full-classification figures are the expensive case, not the cheap one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import orjson

OPENINGS = (
    "Please summarise the attached note about",
    "Draft a short reply to the branch team about",
    "Explain in plain words to a retail customer",
    "List the main risks we should mention regarding",
    "Write three bullet points for the weekly report on",
    "Compare our offer with the market when it comes to",
)
SUBJECTS = (
    "the new savings account with a variable rate of {rate}% and no monthly fee for students",
    "the quarterly net interest margin, which rose {rate}% on higher deposit volumes in the region",
    "the delayed transfer of EUR {amount} that a business client reported on Monday morning",
    "the mortgage renewal for a fixed period of five years at {rate}% including early repayment terms",
    "the change in card fees announced for the next quarter and how branches should explain it",
    "the liquidity coverage ratio of {rate}% reported to the board last week and its trend",
)
CLOSINGS = (
    "Keep it under one hundred words.",
    "The customer {name} asked for it by Friday.",
    "Use a friendly but professional tone.",
    "Mention that {name} from the credit team will follow up.",
    "Avoid jargon and keep the numbers rounded.",
    "It is for the regional managers only.",
)
NAMES = ("John Smith", "Laura Gonzalez", "Judith Johnson", "Kari Kelly", "Joshua Hanson", "Maria Rossi")


def prompt_stems(count: int, seed: int = 7) -> list[str]:
    """``count`` prompts of about 28 words; ``unique`` appends the part that makes each request new."""
    rng = random.Random(seed)
    stems = []
    for _ in range(count):
        fill = {
            "rate": f"{rng.uniform(0.5, 9):.2f}",
            "amount": f"{rng.uniform(100, 99999):,.2f}",
            "name": rng.choice(NAMES),
        }
        parts = (rng.choice(OPENINGS), rng.choice(SUBJECTS).format(**fill) + ".", rng.choice(CLOSINGS).format(**fill))
        stems.append(" ".join(parts))
    return stems


def unique(stem: str, n: int) -> str:
    return f"{stem} Ticket {n}."


def body(model: str, text: str) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": text}], "temperature": 0})


def bodies(model: str, stems: list[str], start: int = 0) -> Iterator[bytes]:
    """An endless sequence of distinct request bodies."""
    n = start
    while True:
        yield body(model, unique(stems[n % len(stems)], n))
        n += 1
