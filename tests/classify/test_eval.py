"""The acceptance figures on a modest generated corpus (bench/classify_eval.py).

Zero leaks for cards, IBANs, SSNs, CN resident IDs and UnionPay cards,
obfuscated ones included; at most 5% of clean prompts raised to confidential
or above; recall of at least 0.95 for PERSON, EMAIL_ADDRESS and PHONE_NUMBER
in English prompts.
"""

from __future__ import annotations

import asyncio

from gateway.classify import PresidioClassifier
from gateway.classify.engine import DetectionEngine
from tests.classify.conftest import load_bench_module


def test_acceptance_figures(engine: DetectionEngine) -> None:
    evaluation = load_bench_module("classify_eval")
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
