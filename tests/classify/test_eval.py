"""The acceptance figures on a modest generated corpus (bench/classify_eval.py).

Zero leaks for cards, IBANs, SSNs, CN resident IDs and UnionPay cards,
obfuscated ones included; at most 5% of clean prompts raised to confidential
or above; recall of at least 0.95 for PERSON, EMAIL_ADDRESS and PHONE_NUMBER
in English prompts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from gateway.classify import PresidioClassifier
from gateway.classify.engine import DetectionEngine

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_acceptance_figures(engine: DetectionEngine) -> None:
    evaluation = _load("classify_eval")
    corpus = evaluation.load_corpus_module().generate_corpus(seed=11, size=800)
    classifier = PresidioClassifier(engine=engine)
    report = asyncio.run(evaluation.evaluate(classifier, corpus))
    classifier.close()
    summary = evaluation.render_markdown(report, 11, 800)

    assert not report.errors, summary
    for entity in evaluation.RESTRICTED:
        assert report.requests_by_type[entity] > 0, entity
        assert report.leaks_by_type[entity] == 0, summary
    assert sum(report.obfuscated.values()) > 50
    assert sum(report.obfuscated_leaks.values()) == 0, summary
    assert report.clean > 100
    assert report.clean_raised_rate <= 0.05, summary
    for entity in ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"):
        assert report.recall_in(entity, ("en", "gb")) >= 0.95, summary
