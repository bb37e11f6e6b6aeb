"""What pseudonymisation costs, beside what classification costs, on a ~30-word prompt.

Measured in one process, the real classifier, one request at a time:

- classify: the prompt's classification (what every request pays);
- transform: replacing the findings by placeholders in the outbound content;
- residual: classifying the pseudonymised content again (the invariant's check);
- restore: the answer (the prompt echoed, placeholders in it) restored, whole and streamed in 3-character chunks.

Usage: ``python bench/pseudonymize_bench.py [--rounds 300] [--markdown bench/results/pseudonymize.md]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.classify import PresidioClassifier
from gateway.outbound import Outbound
from gateway.protocol import ChatCompletionRequest
from gateway.pseudonymize import PseudonymKey, StreamRestorer, pseudonymize, restore

TYPES = frozenset({"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"})
PROMPTS = [
    "Please draft a short, friendly reply to {name} ({email}, {phone}) explaining why the account fee "
    "rose this quarter and offering a call with her adviser next week.",
    "Summarise the complaint from {name}: she says the transfer to her landlord was delayed twice; "
    "she asks to be called back on {phone} or written to at {email}.",
]
PEOPLE = [
    ("Margarethe Vollenweider", "m.vollenweider@example.org", "+41 44 668 18 00"),
    ("Jonathan Pereira", "jonathan.pereira@example.com", "(212) 555-0187"),
    ("Aoife Byrne", "aoife.byrne@example.ie", "+353 1 555 0142"),
]


async def _time(label: str, rounds: int, step: Callable[[int], Awaitable[object]]) -> tuple[str, float]:
    for i in range(10):
        await step(i)
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        await step(i)
        samples.append((time.perf_counter() - started) * 1000)
    return label, statistics.median(samples)


async def main(rounds: int) -> list[tuple[str, float]]:
    classifier = PresidioClassifier(timeout_s=30, cache_size=0)
    key = PseudonymKey.random()
    cases = []
    for i in range(rounds):
        name, email, phone = PEOPLE[i % len(PEOPLE)]
        prompt = PROMPTS[i % len(PROMPTS)].format(name=name, email=email, phone=phone) + f" Ref {i}."
        outbound = Outbound.of(ChatCompletionRequest(model="m", messages=[{"role": "user", "content": prompt}]))
        cases.append(outbound)
    found = [await classifier.classify(o.texts()[0], entities=TYPES) for o in cases]
    results = [
        pseudonymize(o, o.extract(), f.detections, TYPES, key, "team") for o, f in zip(cases, found, strict=True)
    ]

    async def classify(i: int) -> object:
        return await classifier.classify(cases[i].texts()[0], entities=TYPES)

    async def transform(i: int) -> object:
        return pseudonymize(cases[i], cases[i].extract(), found[i].detections, TYPES, key, "team")

    async def residual(i: int) -> object:
        return await classifier.classify(results[i].outbound.texts()[0], entities=TYPES)

    async def restore_whole(i: int) -> object:
        return restore(results[i].outbound.messages[0]["content"], results[i].vault)

    async def restore_stream(i: int) -> object:
        text, restorer = results[i].outbound.messages[0]["content"], StreamRestorer(results[i].vault)
        return "".join(restorer.feed(text[j : j + 3]) for j in range(0, len(text), 3)) + restorer.flush()

    rows = [
        await _time("classify (every request)", rounds, classify),
        await _time("transform", rounds, transform),
        await _time("residual classification", rounds, residual),
        await _time("restore, whole answer", rounds, restore_whole),
        await _time("restore, streamed in 3-char chunks", rounds, restore_stream),
    ]
    classifier.close()
    return rows


def report(rows: list[tuple[str, float]]) -> str:
    base = rows[0][1]
    added = sum(ms for _, ms in rows[1:4])
    lines = ["| step | p50 ms | / classify |", "|---|---|---|"]
    lines += [f"| {label} | {ms:.3f} | {ms / base:.2f} |" for label, ms in rows]
    total = "**added by pseudonymisation** (transform + residual + restore)"
    lines.append(f"| {total} | {added:.3f} | {added / base:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    table = report(asyncio.run(main(args.rounds)))
    print(table)
    if args.markdown:
        args.markdown.write_text(
            "# Pseudonymisation overhead\n\n`python bench/pseudonymize_bench.py --rounds "
            f"{args.rounds}` (one request at a time, real classifier, ~30-word prompts).\n\n{table}\n"
        )
