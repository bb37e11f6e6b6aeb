"""Evaluate the classifier, and plain Presidio beside it, on the independent corpus.

Levels come from the CONTRACT's example policy (``classify_eval.ENTITY_LEVELS``;
``restricted`` on error). Per language, per hard form and per entity type:

- restricted leaks: prompts carrying a card, IBAN, SSN or Chinese resident ID decided
  below ``restricted``;
- confidential kept: prompts carrying any personal data decided ``confidential`` or
  above (kept on-prem), over all such prompts;
- clean over-kept: prompts without personal data decided above ``internal``;
- on_error: prompts the classifier could not read (their level is ``on_error``).

"Plain Presidio" is Presidio's ``AnalyzerEngine`` as shipped (its default recognizers,
the full ``en_core_web_sm`` pipeline, English), with the same ``min_score`` and mapping.

Usage: ``python bench/independent_eval.py [--split test|tune] [--size 1600] [--no-presidio]
[--markdown FILE] [--examples]``
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


def _sibling(name: str) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


E = _sibling("classify_eval")
corpus_module = _sibling("independent_corpus")
LEVELS, ENTITY_LEVELS = E.LEVELS, E.ENTITY_LEVELS
CONFIDENTIAL, RESTRICTED, INTERNAL = (LEVELS.index(x) for x in ("confidential", "restricted", "internal"))
MIN_SCORE = 0.5


@dataclass
class Tally:
    """Counts for one slice of the corpus (a language, a form, an entity type)."""

    prompts: int = 0
    restricted: int = 0
    restricted_leaks: int = 0
    sensitive: int = 0
    sensitive_kept: int = 0
    clean: int = 0
    clean_over: int = 0
    on_error: int = 0

    def add(self, required: int, decided: int, error: str | None) -> None:
        self.prompts += 1
        self.on_error += error is not None
        if required >= RESTRICTED:
            self.restricted += 1
            self.restricted_leaks += decided < RESTRICTED
        if required >= CONFIDENTIAL:
            self.sensitive += 1
            self.sensitive_kept += decided >= CONFIDENTIAL
        else:
            self.clean += 1
            self.clean_over += decided > INTERNAL

    def kept_rate(self) -> float | None:
        return self.sensitive_kept / self.sensitive if self.sensitive else None

    def over_rate(self) -> float | None:
        return self.clean_over / self.clean if self.clean else None


@dataclass
class Report:
    name: str
    seconds: float = 0.0
    overall: Tally = field(default_factory=Tally)
    by_language: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_form: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_entity: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    span_hit: Counter[str] = field(default_factory=Counter)
    span_all: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def score(
    report: Report, sample: Any, entity_types: frozenset[str], detections: Sequence[Any], error: str | None
) -> None:
    labels = {span.entity for span in sample.spans}
    required = E.level_of(labels)
    decided = E.level_of(entity_types, error)
    report.overall.add(required, decided, error)
    report.by_language[sample.group].add(required, decided, error)
    report.by_form[sample.form].add(required, decided, error)
    for entity in labels:
        report.by_entity[entity].add(LEVELS.index(ENTITY_LEVELS[entity]), decided, error)
    for span in sample.spans:
        report.span_all[span.entity] += 1
        same = E.EQUIVALENT.get(span.entity, {span.entity})
        if any(d[2] in same and d[0] < span.end and span.start < d[1] for d in detections):
            report.span_hit[span.entity] += 1
    text = sample.texts[-1][:180]
    if required >= RESTRICTED and decided < RESTRICTED:
        report.examples[f"restricted leak ({sample.group}, {sample.form})"].append(text)
    elif required >= CONFIDENTIAL and decided < CONFIDENTIAL:
        report.examples[f"confidential missed ({sample.group}, {sample.form})"].append(text)
    elif required < CONFIDENTIAL and decided > INTERNAL:
        found = sorted(t for t in entity_types if t in ENTITY_LEVELS)
        note = f"[{error}]" if error else str(found)
        report.examples[f"clean over-kept ({sample.group})"].append(f"{note} {text}")


async def evaluate_ours(classifier: Any, corpus: Sequence[Any]) -> Report:
    report = Report("ours")
    started = time.perf_counter()
    wanted = frozenset(ENTITY_LEVELS)
    for sample in corpus:
        result = await classifier.classify(list(sample.texts), min_score=MIN_SCORE, entities=wanted)
        detections = [(d.start, d.end, d.entity_type) for d in result.detections]
        score(report, sample, result.entity_types, detections, result.error)
    report.seconds = time.perf_counter() - started
    return report


def plain_presidio() -> Callable[[str], list[tuple[int, int, str]]]:
    """Presidio's AnalyzerEngine as shipped, on the installed ``en_core_web_sm``."""
    import tldextract.tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer import predefined_recognizers as predefined
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from gateway.classify.nlp import resolve_model
    from gateway.classify.recognizers.web import offline_extractor

    # As shipped, except offline: Presidio's e-mail check would fetch the public suffix list.
    tldextract.tldextract.TLD_EXTRACTOR = offline_extractor()
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": resolve_model("en_core_web_sm")}],
        }
    )
    # Presidio's default English recognizers, listed: its registry loader would also pick up
    # our recognizer classes (subclasses of its own) once the gateway is imported.
    names = (
        "CreditCard", "UsBank", "UsLicense", "UsItin", "UsPassport", "UsSsn", "Nhs", "UkNino", "Crypto",
        "Date", "Email", "Iban", "Ip", "MedicalLicense", "Phone", "Url", "AbaRouting", "Spacy",
    )  # fmt: skip
    registry = RecognizerRegistry(recognizers=[getattr(predefined, f"{n}Recognizer")() for n in names])
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=provider.create_engine(), supported_languages=["en"])

    def analyse(text: str) -> list[tuple[int, int, str]]:
        found = analyzer.analyze(text=text, language="en", score_threshold=MIN_SCORE)
        return [(r.start, r.end, r.entity_type) for r in found]

    return analyse


def evaluate_presidio(corpus: Sequence[Any]) -> Report:
    report = Report("plain Presidio")
    analyse = plain_presidio()
    started = time.perf_counter()
    for sample in corpus:
        detections = [d for text in sample.texts for d in analyse(text)]
        score(report, sample, frozenset(d[2] for d in detections), detections, None)
    report.seconds = time.perf_counter() - started
    return report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _rows(title: str, slices: dict[str, tuple[Tally, Tally | None]]) -> list[str]:
    lines = [
        f"| {title} | prompts | restricted leaks | confidential kept | clean over-kept | on_error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, (ours, theirs) in slices.items():
        leaks = f"{ours.restricted_leaks}/{ours.restricted}"
        kept = _pct(ours.kept_rate())
        over = f"{_pct(ours.over_rate())} ({ours.clean_over}/{ours.clean})"
        if theirs is not None:
            leaks += f" ({theirs.restricted_leaks}/{theirs.restricted})"
            kept += f" ({_pct(theirs.kept_rate())})"
            over += f" ({_pct(theirs.over_rate())})"
        lines.append(f"| {name} | {ours.prompts} | {leaks} | {kept} | {over} | {ours.on_error} |")
    return lines


def render_markdown(ours: Report, theirs: Report | None, split: str, size: int) -> str:
    Slices = dict[str, tuple[Tally, Tally | None]]

    def pair(getter: Callable[[Report], dict[str, Tally]], keys: Sequence[str]) -> Slices:
        return {k: (getter(ours)[k], getter(theirs)[k] if theirs else None) for k in keys}

    lines = [
        f"Independent corpus, split `{split}`, {size} prompts; ours {ours.seconds:.1f} s"
        + (f", plain Presidio {theirs.seconds:.1f} s" if theirs else "")
        + ". Plain Presidio's figures in brackets.",
        "",
        *_rows("slice", {"all": (ours.overall, theirs.overall if theirs else None)}),
        "",
        *_rows("language", pair(lambda r: r.by_language, sorted(ours.by_language))),
        "",
        *_rows("form", pair(lambda r: r.by_form, sorted(ours.by_form))),
        "",
        *_rows("entity (prompts carrying it)", pair(lambda r: r.by_entity, sorted(ours.by_entity))),
        "",
        "| entity | labelled spans | found (ours) | found (plain Presidio) |",
        "|---|---:|---:|---:|",
    ]
    for entity in sorted(ours.span_all):
        total = ours.span_all[entity]
        theirs_cell = f"{theirs.span_hit[entity] / total:.1%}" if theirs else "-"
        lines.append(f"| {entity} | {total} | {ours.span_hit[entity] / total:.1%} | {theirs_cell} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from gateway.classify import PresidioClassifier

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--split", choices=sorted(corpus_module.SPLITS), default="test")
    parser.add_argument("--size", type=int, default=1600)
    parser.add_argument("--no-presidio", action="store_true", help="skip plain Presidio's figures")
    parser.add_argument("--markdown", type=Path, help="also write the figures to this file")
    parser.add_argument("--examples", action="store_true", help="print failing prompts (tune split only)")
    args = parser.parse_args(argv)

    corpus = corpus_module.generate_corpus(args.split, args.size)
    classifier = PresidioClassifier()
    classifier.load()
    ours = asyncio.run(evaluate_ours(classifier, corpus))
    classifier.close()
    theirs = None if args.no_presidio else evaluate_presidio(corpus)
    text = render_markdown(ours, theirs, args.split, len(corpus))
    print(text)
    if args.examples:
        for kind, examples in sorted(ours.examples.items()):
            print(f"## {kind}: {len(examples)}")
            for example in examples[:6]:
                print("  ", repr(example))
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
