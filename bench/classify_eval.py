"""Evaluate the classifier on the generated corpus (``classify_corpus.py``).

Reports, per entity type, recall (labelled spans overlapped by a detection of
the same type) and precision (detections overlapping a labelled span of the
same type, CREDIT_CARD/CN_BANK_CARD and PHONE_NUMBER/CN_PHONE counting for
each other), and per request the level decided with the CONTRACT's example
policy mapping against the level its labels require:

- leak: a request with personal or payment data decided below the level its
  data requires (classifier errors decide ``on_error``: restricted);
- clean raised: a clean prompt decided confidential or above.

Usage: ``python bench/classify_eval.py [--seed 1] [--size 2000] [--markdown FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

LEVELS = ("public", "internal", "confidential", "restricted")
DEFAULT_LEVEL = "internal"
ON_ERROR = "restricted"
ENTITY_LEVELS = {  # CONTRACT.md example policy
    "CREDIT_CARD": "restricted",
    "IBAN_CODE": "restricted",
    "US_SSN": "restricted",
    "CN_RESIDENT_ID": "restricted",
    "CN_BANK_CARD": "restricted",
    "PERSON": "confidential",
    "EMAIL_ADDRESS": "confidential",
    "PHONE_NUMBER": "confidential",
    "CN_PHONE": "confidential",
    "STREET_ADDRESS": "confidential",
}
EQUIVALENT = {
    "CREDIT_CARD": {"CREDIT_CARD", "CN_BANK_CARD"},
    "CN_BANK_CARD": {"CN_BANK_CARD", "CREDIT_CARD"},
    "PHONE_NUMBER": {"PHONE_NUMBER", "CN_PHONE"},
    "CN_PHONE": {"CN_PHONE", "PHONE_NUMBER"},
}
RESTRICTED = tuple(e for e, level in ENTITY_LEVELS.items() if level == "restricted")


def load_corpus_module() -> ModuleType:
    """``classify_corpus`` from beside this file, however this file was loaded."""
    name = "classify_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def level_of(entity_types: frozenset[str] | set[str], error: str | None = None) -> int:
    if error is not None:
        return LEVELS.index(ON_ERROR)
    levels = [LEVELS.index(ENTITY_LEVELS[t]) for t in entity_types if t in ENTITY_LEVELS]
    return max(levels, default=LEVELS.index(DEFAULT_LEVEL))


@dataclass
class Report:
    samples: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    recall_hit: Counter[str] = field(default_factory=Counter)
    recall_all: Counter[str] = field(default_factory=Counter)
    group_hit: Counter[tuple[str, str]] = field(default_factory=Counter)
    group_all: Counter[tuple[str, str]] = field(default_factory=Counter)
    precision_hit: Counter[str] = field(default_factory=Counter)
    precision_all: Counter[str] = field(default_factory=Counter)
    pii_requests: int = 0
    leaks: int = 0
    leaks_by_type: Counter[str] = field(default_factory=Counter)
    requests_by_type: Counter[str] = field(default_factory=Counter)
    obfuscated: Counter[str] = field(default_factory=Counter)
    obfuscated_leaks: Counter[str] = field(default_factory=Counter)
    clean: int = 0
    clean_raised: int = 0
    clean_by_type: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def recall(self, entity: str) -> float:
        return self.recall_hit[entity] / self.recall_all[entity] if self.recall_all[entity] else 1.0

    def recall_in(self, entity: str, groups: Sequence[str]) -> float | None:
        """Recall of ``entity`` over the samples of the given groups (None: no labels)."""
        hit = sum(self.group_hit[(g, entity)] for g in groups)
        total = sum(self.group_all[(g, entity)] for g in groups)
        return hit / total if total else None

    def precision(self, entity: str) -> float:
        total = self.precision_all[entity]
        return self.precision_hit[entity] / total if total else 1.0

    @property
    def leak_rate(self) -> float:
        return self.leaks / self.pii_requests if self.pii_requests else 0.0

    @property
    def clean_raised_rate(self) -> float:
        return self.clean_raised / self.clean if self.clean else 0.0


def _overlaps(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def score_sample(report: Report, sample: Any, result: Any) -> None:
    """Add one classified sample to ``report``."""
    report.samples += 1
    if result.error:
        report.errors[result.error] += 1
    labels = [(s.text_index, s.start, s.end, s.entity) for s in sample.spans]
    found = [(d.text_index, d.start, d.end, d.entity_type) for d in result.detections]
    for index, start, end, entity in labels:
        report.recall_all[entity] += 1
        report.group_all[(sample.group, entity)] += 1
        if any(f[3] == entity and _overlaps(f[:3], (index, start, end)) for f in found):
            report.recall_hit[entity] += 1
            report.group_hit[(sample.group, entity)] += 1
        elif len(report.examples[f"missed {entity}"]) < 5:
            report.examples[f"missed {entity}"].append(sample.texts[index][max(0, start - 20) : end + 20])
    for index, start, end, entity in found:
        if entity not in ENTITY_LEVELS:
            continue
        report.precision_all[entity] += 1
        matches = EQUIVALENT.get(entity, {entity})
        if any(label[3] in matches and _overlaps(label[:3], (index, start, end)) for label in labels):
            report.precision_hit[entity] += 1
    decided = level_of(result.entity_types, result.error)
    required_types = {label[3] for label in labels}
    if not labels:
        report.clean += 1
        if decided >= LEVELS.index("confidential"):
            report.clean_raised += 1
            report.clean_by_type.update(t for t in result.entity_types if t in ENTITY_LEVELS)
            if len(report.examples["clean raised"]) < 8:
                report.examples["clean raised"].append(sample.texts[-1][:160])
        return
    report.pii_requests += 1
    leaked = decided < level_of(required_types)
    report.leaks += leaked
    for entity in required_types & set(RESTRICTED):
        report.requests_by_type[entity] += 1
        report.leaks_by_type[entity] += decided < LEVELS.index("restricted")
    if sample.group.startswith("obfuscated"):
        report.obfuscated[sample.group] += 1
        report.obfuscated_leaks[sample.group] += leaked
    if leaked and len(report.examples["leak"]) < 8:
        report.examples["leak"].append(f"{sample.group}: {sample.texts[-1][:160]!r}")


async def evaluate(classifier: Any, corpus: Sequence[Any], min_score: float = 0.5) -> Report:
    report = Report()
    started = time.perf_counter()
    for sample in corpus:
        result = await classifier.classify(list(sample.texts), min_score=min_score)
        score_sample(report, sample, result)
    report.seconds = time.perf_counter() - started
    return report


def render_markdown(report: Report, seed: int, size: int) -> str:
    lines = [
        f"Corpus: seed {seed}, {size} requests ({report.pii_requests} with personal or payment "
        f"data, {report.clean} clean); {report.seconds:.1f} s.",
        "",
        "| entity | labelled | recall | detections | precision |",
        "|---|---:|---:|---:|---:|",
    ]
    for entity in sorted(set(report.recall_all) | set(report.precision_all)):
        lines.append(
            f"| {entity} | {report.recall_all[entity]} | {report.recall(entity):.3f} | "
            f"{report.precision_all[entity]} | {report.precision(entity):.3f} |"
        )
    english = ("en", "gb")
    lines += [
        "",
        "Recall by language of the prompt (``en``: US names and formats, ``gb``: British, "
        "``de``/``fr``: German/French names, phones and addresses in English prompts, "
        "``zh``: Chinese prompts):",
        "",
        "| entity | en+gb | de | fr | zh |",
        "|---|---:|---:|---:|---:|",
    ]
    for entity in ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CN_PHONE", "STREET_ADDRESS"):
        cells = [report.recall_in(entity, english)] + [report.recall_in(entity, (g,)) for g in ("de", "fr", "zh")]
        lines.append(f"| {entity} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
    lines += [
        "",
        f"- Request-level leak rate: {report.leaks}/{report.pii_requests} = {report.leak_rate:.2%}",
        "- Restricted data decided below restricted: "
        + ", ".join(f"{e} {report.leaks_by_type[e]}/{report.requests_by_type[e]}" for e in RESTRICTED),
        "- Obfuscated requests leaked: "
        + ", ".join(
            f"{g.split(':')[1]} {report.obfuscated_leaks[g]}/{n}" for g, n in sorted(report.obfuscated.items())
        ),
        f"- Clean prompts raised to confidential or above: {report.clean_raised}/{report.clean} "
        f"= {report.clean_raised_rate:.2%}"
        + (f" (types: {dict(report.clean_by_type)})" if report.clean_by_type else ""),
        f"- Classifier errors: {dict(report.errors) or 'none'}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from gateway.classify import PresidioClassifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--markdown", type=Path, help="also write the figures to this file")
    parser.add_argument("--examples", action="store_true", help="print missed/raised examples")
    args = parser.parse_args(argv)

    corpus = load_corpus_module().generate_corpus(args.seed, args.size)
    classifier = PresidioClassifier()
    classifier.load()
    report = asyncio.run(evaluate(classifier, corpus))
    classifier.close()
    text = render_markdown(report, args.seed, args.size)
    print(text)
    if args.examples:
        for kind, examples in sorted(report.examples.items()):
            print(f"## {kind}")
            for example in examples:
                print("  ", repr(example))
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
