"""Shared fixtures: one loaded detection engine for the whole test session.

Loading the spaCy model takes a second or two; every test that needs a
classifier reuses ``engine`` (thread-safe) and wraps cheap classifiers
around it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from gateway.classify import Classification, PolicyRecognizer, PresidioClassifier
from gateway.classify.engine import DetectionEngine

BENCH = Path(__file__).resolve().parents[2] / "bench"
Classify = Callable[..., Classification]
Detect = Callable[[str], set[tuple[str, str]]]


@pytest.fixture(scope="session")
def engine() -> DetectionEngine:
    return DetectionEngine()


@pytest.fixture(scope="session")
def classifier(engine: DetectionEngine) -> Iterator[PresidioClassifier]:
    shared = PresidioClassifier(engine=engine)
    yield shared
    shared.close()


@pytest.fixture(scope="session")
def classify(classifier: PresidioClassifier) -> Classify:
    """``classify(texts, recognizers=(), min_score=0.5)`` run to completion."""

    def run(
        texts: Sequence[str] | str,
        recognizers: Sequence[PolicyRecognizer] = (),
        min_score: float = 0.5,
    ) -> Classification:
        batch = [texts] if isinstance(texts, str) else list(texts)
        return asyncio.run(classifier.classify(batch, recognizers=recognizers, min_score=min_score))

    return run


@pytest.fixture(scope="session")
def detect(classify: Classify) -> Detect:
    """(entity type, covered original text) for each detection in one text."""

    def run(text: str) -> set[tuple[str, str]]:
        result = classify(text)
        assert result.error is None
        return {(d.entity_type, text[d.start : d.end]) for d in result.detections}

    return run


def load_bench_module(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module (``bench`` scripts are not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
