"""Helpers for the policy tests: a small policy to vary, and a keyword classifier."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.classify.base import Classification, Detection, PolicyRecognizer
from gateway.policy.loader import LoadedPolicy, load_text

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"

BASE: dict[str, Any] = {
    "version": 1,
    "name": "test-policy",
    "levels": ["public", "internal", "confidential", "restricted"],
    "classification": {
        "default_level": "internal",
        "on_error": "restricted",
        "entities": {
            "CREDIT_CARD": "restricted",
            "EMAIL_ADDRESS": "confidential",
            "PERSON": "confidential",
            "LOCATION": "public",
        },
    },
    "targets": {
        "onprem": {"kind": "transformers", "model": "m", "residency": "on_prem"},
        "external": {"kind": "litellm", "model": "openai/x", "residency": "external", "max_level": "internal"},
    },
    "models": {"standard": {"tier": "standard"}, "premium": {"tier": "premium"}},
    "routes": [
        {"name": "sensitive", "when": {"level_at_least": "confidential"}, "targets": ["onprem"]},
        {"name": "premium", "when": {"tier": "premium"}, "targets": ["external", "onprem"]},
        {"name": "default", "targets": ["onprem"]},
    ],
}

KNOWN = frozenset({"CREDIT_CARD", "EMAIL_ADDRESS", "PERSON", "LOCATION", "IBAN_CODE", "PHONE_NUMBER"})


def policy_text(**changes: Any) -> str:
    """The base policy as YAML, with top-level keys replaced (``None`` removes one)."""
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def make_policy(**changes: Any) -> LoadedPolicy:
    return load_text(policy_text(**changes), "test.yaml")


_PATTERNS = {
    "CREDIT_CARD": re.compile(r"\b4111[ -]?1111[ -]?1111[ -]?1111\b"),
    "EMAIL_ADDRESS": re.compile(r"\b[\w.]+@[\w.]+\.\w+\b"),
    "PERSON": re.compile(r"\bJane Doe\b"),
}


class KeywordClassifier:
    """Finds a test card number, e-mail addresses and "Jane Doe" by regex, plus the policy's word lists."""

    def __init__(self, *, error: str | None = None, raises: bool = False) -> None:
        self.error = error
        self.raises = raises
        self.calls: list[list[str]] = []

    async def classify(
        self, texts: Sequence[str], *, recognizers: Sequence[PolicyRecognizer] = (), min_score: float = 0.5,
        entities: frozenset[str] | None = None,
    ) -> Classification:
        self.calls.append(list(texts))
        if self.raises:
            raise RuntimeError("classifier exploded")
        if self.error:
            return Classification(error=self.error)
        detections = [
            Detection(name, 0.9, m.start(), m.end(), "keyword", i)
            for name, rx in _PATTERNS.items() for i, t in enumerate(texts) for m in rx.finditer(t)
        ]  # fmt: skip
        found = {d.entity_type for d in detections}
        for r in recognizers:
            if any(w.lower() in t.lower() for w in r.words for t in texts):
                found.add(r.entity)
            if r.pattern and any(re.search(r.pattern, t) for t in texts):
                found.add(r.entity)
        if entities is not None:  # as the real one: only the types the policy uses
            found &= entities
            detections = [d for d in detections if d.entity_type in entities]
        return Classification(
            entity_types=frozenset(found), detections=tuple(detections), scores=dict.fromkeys(found, 0.9)
        )


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write_file
