"""Pseudonymisation over 500+ confidential prompts of the independent corpus, in eight languages.

Each prompt (names, e-mails, phones, addresses; no restricted data) goes
through a running gateway to an external target behind a pseudonymising
route, once whole and once streamed in three-character chunks; the loopback
upstream echoes what it received. Every value the classifier detects must be
absent from what the upstream received, and every answer must come back as
the original prompt.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gateway.classify import PresidioClassifier
from gateway.classify.engine import DetectionEngine
from tests.upstreams.gateway_between import RunningGateway, gateway_between

CONFIDENTIAL = frozenset({"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS"})
MIN_PROMPTS = 500
POLICY = """
version: 1
name: pseudonymise-corpus
levels: [public, internal, confidential, restricted]
classification:
  default_level: internal
  on_error: restricted
  entities: {{CREDIT_CARD: restricted, IBAN_CODE: restricted, US_SSN: restricted, CN_RESIDENT_ID: restricted,
              CN_BANK_CARD: restricted, PERSON: confidential, EMAIL_ADDRESS: confidential,
              PHONE_NUMBER: confidential, CN_PHONE: confidential, STREET_ADDRESS: confidential}}
targets:
  strong:
    kind: openai_compatible
    api_base: {external}
    model: strong-model
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: external
    max_level: internal
  onprem:
    kind: openai_compatible
    api_base: {onprem}
    model: onprem-model
    api_key_env: LOOPBACK_UPSTREAM_KEY
    residency: on_prem
models:
  bank-premium: {{tier: premium}}
routes:
  - name: pseudonymised
    when: {{level_at_least: confidential}}
    targets: [strong, onprem]
    transform: pseudonymize
  - name: default
    targets: [strong]
"""


def _corpus() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "independent_corpus.py"
    if "independent_corpus" not in sys.modules:
        spec = importlib.util.spec_from_file_location("independent_corpus", path)
        assert spec is not None and spec.loader is not None
        sys.modules["independent_corpus"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["independent_corpus"])
    return sys.modules["independent_corpus"]


def confidential_prompts() -> list[tuple[str, str]]:
    """(language, prompt) of the test split whose labels are all confidential types."""
    samples = _corpus().generate_corpus("test", size=1600)
    return [
        (s.group, s.texts[0])
        for s in samples
        if s.spans and len(s.texts) == 1 and {span.entity for span in s.spans} <= CONFIDENTIAL
    ]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_between(tmp_path_factory.mktemp("pseudo-corpus"), POLICY,
                         env={"GATEWAY_PSEUDONYM_SECRET": "c" * 40}) as gw:  # fmt: skip
        gw.external.echo(3)
        gw.onprem.echo(3)
        yield gw


def _streamed_text(body: str) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for line in body.splitlines() if line.startswith("data: {")
        for choice in json.loads(line[6:]).get("choices", [])
    )  # fmt: skip


async def test_no_detected_value_leaves_and_every_answer_is_restored(gateway: RunningGateway) -> None:
    prompts = confidential_prompts()
    assert len(prompts) >= MIN_PROMPTS, len(prompts)
    classifier = PresidioClassifier(engine=DetectionEngine(), timeout_s=30)
    stats: Counter[str] = Counter()
    leaked: list[str] = []
    try:
        for language, prompt in prompts:
            found = await classifier.classify([prompt], entities=CONFIDENTIAL)
            detected = {prompt[d.start : d.end] for d in found.detections if len(prompt[d.start : d.end]) >= 3}
            for stream in (False, True):
                gateway.external.reset()
                gateway.external.echo(3)
                response = gateway.chat({"model": "bank-premium", "stream": stream,
                                         "messages": [{"role": "user", "content": prompt}]})  # fmt: skip
                assert response.status_code == 200, response.text
                whole = None if stream else response.json()["choices"][0]["message"]["content"]
                answer = _streamed_text(response.text) if stream else whole
                assert answer == prompt, f"{language}: not restored"
                residency = response.headers["x-gateway-residency"]
                stats[f"{language}:{residency}"] += 1
                if residency == "external":
                    sent = gateway.external_received()
                    leaked += [f"{language}: {value!r}" for value in detected if value in sent]
    finally:
        classifier.close()
    print(f"{len(prompts)} confidential prompts, whole and streamed: {dict(sorted(stats.items()))}")
    assert leaked == []
    # Most went out pseudonymised (the rest stayed on-prem: something was still found after the transform).
    assert sum(n for key, n in stats.items() if key.endswith(":external")) >= 0.9 * 2 * len(prompts)
