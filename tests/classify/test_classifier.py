"""PresidioClassifier: the protocol, fail-closed paths, cache, short circuit, spans."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from gateway.classify import (
    KNOWN_ENTITIES,
    Classification,
    Classifier,
    PolicyRecognizer,
    PresidioClassifier,
)
from gateway.classify.engine import DetectionEngine
from gateway.classify.nlp import ModelNotInstalled, resolve_model

Classify = Callable[..., Classification]


class CountingEngine:
    """Wraps the shared engine and counts the passes run through it."""

    def __init__(self, engine: DetectionEngine) -> None:
        self._engine = engine
        self.pattern_texts: list[str] = []
        self.ner_texts: list[str] = []
        self._lock = threading.Lock()

    def pattern_pass(self, text: str, policy: object, min_score: float, entities: object = None) -> list[object]:
        with self._lock:
            self.pattern_texts.append(text)
        return self._engine.pattern_pass(text, policy, min_score, entities)  # type: ignore[arg-type]

    def ner_passes(self, texts: list[str], min_scores: list[float], entities: object = ()) -> list[list[object]]:
        with self._lock:
            self.ner_texts.extend(texts)
        return self._engine.ner_passes(texts, min_scores, entities)  # type: ignore[arg-type, return-value]

    def needs_ner(self, entities: frozenset[str] | None) -> bool:
        return self._engine.needs_ner(entities)


def run(classifier: PresidioClassifier, texts: list[str], **kwargs: object) -> Classification:
    return asyncio.run(classifier.classify(texts, **kwargs))  # type: ignore[arg-type]


def test_implements_the_protocol(classifier: PresidioClassifier) -> None:
    assert isinstance(classifier, PresidioClassifier)
    checked: Classifier = classifier  # static check of the protocol
    assert checked is classifier


def test_known_entities_match_the_built_engine(engine: DetectionEngine) -> None:
    assert engine.supported_entities() == KNOWN_ENTITIES
    assert {"CREDIT_CARD", "IBAN_CODE", "US_SSN", "CN_RESIDENT_ID", "CN_BANK_CARD", "PERSON",
            "EMAIL_ADDRESS", "PHONE_NUMBER", "CN_PHONE", "STREET_ADDRESS", "SWIFT_CODE"} <= KNOWN_ENTITIES  # fmt: skip


def test_contract_example(classify: Classify) -> None:
    text = "Card 4111 1111 1111 1111 was declined"
    result = classify(text)
    assert result.error is None
    assert result.entity_types == frozenset({"CREDIT_CARD"})
    assert result.scores["CREDIT_CARD"] == 1.0
    (detection,) = result.detections
    assert text[detection.start : detection.end] == "4111 1111 1111 1111"
    assert result.elapsed_ms > 0


def test_every_text_is_classified_with_its_index(classify: Classify) -> None:
    texts = ["Hello there", "Nothing here", "My SSN is 123-45-6789"]
    result = classify(texts)
    (detection,) = [d for d in result.detections if d.entity_type == "US_SSN"]
    assert detection.text_index == 2
    assert texts[2][detection.start : detection.end] == "123-45-6789"


def test_obfuscated_card_span_covers_the_original_characters(classify: Classify) -> None:
    text = "卡号：４１１１\u200b１１１１－１１１１\u200b１１１１，谢谢"
    result = classify(text)
    (card,) = [d for d in result.detections if d.entity_type == "CREDIT_CARD"]
    assert text[card.start : card.end] == "４１１１\u200b１１１１－１１１１\u200b１１１１"


def test_min_score_filters(classify: Classify) -> None:
    text = "Notes: Grace Bailey and Leigh Mills met"
    assert "PERSON" in classify(text).entity_types
    strict = classify(text, min_score=0.9)
    assert "PERSON" not in strict.entity_types


def test_empty_request(classify: Classify) -> None:
    result = classify([])
    assert result == Classification(elapsed_ms=result.elapsed_ms)


def test_lone_surrogates_do_not_break_it(classify: Classify) -> None:
    result = classify("broken \ud800 text 4111 1111 1111 1111")
    assert result.error is None
    assert "CREDIT_CARD" in result.entity_types


# -- failing closed ---------------------------------------------------------


def test_too_long(engine: DetectionEngine) -> None:
    small = PresidioClassifier(engine=engine, max_chars=100)
    result = run(small, ["x" * 60, "y" * 41])
    assert result.error == "too_long"
    assert run(small, ["x" * 60, "y" * 40]).error is None
    small.close()


@pytest.mark.parametrize("text", ["العميل محمد", "לקוח משה כהן", "ลูกค้า สมชาย", "ग्राहक राहुल शर्मा"])
def test_unreadable_language(classify: Classify, text: str) -> None:
    result = classify(["A readable first message", text])
    assert result.error == "unreadable_language"


@pytest.mark.parametrize(
    "text",
    [
        "Клиент Иван Петров, карта 4111 1111 1111 1111",
        "Customer Иван paid",
        "고객 김민수",
        "김민수님께 연락 부탁드립니다",
        "Ο πελάτης κ. Παπαδόπουλος ζήτησε νέα κάρτα",
        "山田太郎様の口座について",
    ],
)
def test_scripts_read_not_refused(classify: Classify, text: str) -> None:
    """Cyrillic, Greek, Korean and Japanese are scanned: the name is found, no error."""
    result = classify(["A readable first message", text])
    assert result.error is None
    assert "PERSON" in result.entity_types


def test_exception(engine: DetectionEngine, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(CountingEngine):
        def pattern_pass(self, text: str, policy: object, min_score: float, entities: object = None) -> list[object]:
            raise RuntimeError(f"boom on {text}")

    broken = PresidioClassifier(engine=Broken(engine))  # type: ignore[arg-type]
    result = run(broken, ["secret 4111 1111 1111 1111"])
    assert result.error == "exception"
    assert result.entity_types == frozenset()
    assert "secret" not in caplog.text  # never the request's text in the log
    broken.close()


def test_timeout(engine: DetectionEngine) -> None:
    """The deadline cuts a scan that has not finished: the answer comes while the scan is still held."""
    release, finished = threading.Event(), threading.Event()

    class Stuck(CountingEngine):
        def pattern_pass(self, text: str, policy: object, min_score: float, entities: object = None) -> list[object]:
            release.wait(60)  # held until the test has its answer
            found = super().pattern_pass(text, policy, min_score, entities)
            finished.set()
            return found

    stuck = PresidioClassifier(engine=Stuck(engine), timeout_s=0.05)  # type: ignore[arg-type]
    result = run(stuck, ["Card 4111 1111 1111 1111"])
    assert result.error == "timeout" and result.entity_types == frozenset()
    assert not finished.is_set(), "the answer waited for the scan"
    release.set()
    assert finished.wait(60)
    stuck.close()


def test_missing_model_fails_closed() -> None:
    with pytest.raises(ModelNotInstalled):
        resolve_model("xx_no_such_model")
    missing = PresidioClassifier(ner_model="xx_no_such_model")
    assert run(missing, ["Card 4111 1111 1111 1111"]).error == "exception"
    with pytest.raises(ModelNotInstalled):
        missing.load()
    missing.close()


def test_invalid_policy_pattern_fails_closed(classify: Classify) -> None:
    result = classify("hello", recognizers=(PolicyRecognizer("BAD", pattern="(unclosed"),))
    assert result.error == "exception"


# -- cache --------------------------------------------------------------------


def test_conversation_pays_only_for_new_messages(engine: DetectionEngine) -> None:
    counting = CountingEngine(engine)
    cached = PresidioClassifier(engine=counting)  # type: ignore[arg-type]
    first = ["You are a helpful assistant.", "What is the mortgage rate?"]
    run(cached, first)
    assert len(counting.pattern_texts) == 2
    second = [*first, "It is 4.5%.", "Thanks, call me on (212) 555-0187"]
    result = run(cached, second)
    assert counting.pattern_texts[2:] == second[2:]
    assert counting.ner_texts[2:] == second[2:]
    assert "PHONE_NUMBER" in result.entity_types
    assert cached.cache_stats().hits == 2
    again = run(cached, second)
    assert len(counting.pattern_texts) == 4  # nothing new
    assert again.entity_types == result.entity_types
    assert again.detections == result.detections
    cached.close()


def test_cache_key_includes_recognizers_and_min_score(engine: DetectionEngine) -> None:
    counting = CountingEngine(engine)
    cached = PresidioClassifier(engine=counting)  # type: ignore[arg-type]
    text = "Status of Project Falcon?"
    falcon = (PolicyRecognizer("PROJECT_CODENAME", words=("Project Falcon",)),)
    assert run(cached, [text]).entity_types == frozenset()
    assert run(cached, [text], recognizers=falcon).entity_types == {"PROJECT_CODENAME"}
    run(cached, [text], recognizers=falcon, min_score=0.9)
    assert len(counting.pattern_texts) == 3
    cached.close()


def test_cache_is_bounded(engine: DetectionEngine) -> None:
    tiny = PresidioClassifier(engine=engine, cache_size=2)
    for number in range(5):
        run(tiny, [f"message {number}"])
    assert tiny.cache_stats().size == 2
    tiny.close()


# -- short circuit ----------------------------------------------------------


def test_decisive_entities_skip_ner(engine: DetectionEngine) -> None:
    counting = CountingEngine(engine)
    restricted = {"CREDIT_CARD", "IBAN_CODE"}
    decided = PresidioClassifier(
        engine=counting,  # type: ignore[arg-type]
        decisive_entities=lambda found: bool(found & restricted),
    )
    result = run(decided, ["Customer John Smith paid with 4111 1111 1111 1111"])
    assert "CREDIT_CARD" in result.entity_types
    assert counting.ner_texts == []
    result = run(decided, ["Customer John Smith called"])
    assert "PERSON" in result.entity_types
    assert counting.ner_texts == ["Customer John Smith called"]
    decided.close()


def test_decisive_cached_message_short_circuits_new_ones(engine: DetectionEngine) -> None:
    counting = CountingEngine(engine)
    decided = PresidioClassifier(
        engine=counting,  # type: ignore[arg-type]
        decisive_entities=lambda found: "CREDIT_CARD" in found,
    )
    first = "Card 4111 1111 1111 1111"
    run(decided, [first])
    result = run(decided, [first, "and my name is John Smith"])
    assert counting.pattern_texts == [first]
    assert result.entity_types == {"CREDIT_CARD"}
    decided.close()


# -- concurrency and the network --------------------------------------------


def test_concurrent_calls_agree_with_sequential_ones(engine: DetectionEngine) -> None:
    uncached = PresidioClassifier(engine=engine, cache_size=0, workers=4)
    texts = [
        f"Customer {name} paid {amount} with card 4111 1111 1111 1111, phone (212) 555-01{n:02d}"
        for n, (name, amount) in enumerate(
            [("John Smith", "EUR 10"), ("Judith Johnson", "USD 20"), ("Laura Gonzalez", "GBP 5")] * 5
        )
    ]

    async def all_at_once() -> list[Classification]:
        return await asyncio.gather(*(uncached.classify([t]) for t in texts))

    together = asyncio.run(all_at_once())
    one_by_one = [asyncio.run(uncached.classify([t])) for t in texts]
    assert [r.detections for r in together] == [r.detections for r in one_by_one]
    assert all({"CREDIT_CARD", "PHONE_NUMBER", "PERSON"} <= r.entity_types for r in together)
    uncached.close()


# -- what the policy looks for, and batches ---------------------------------


def test_only_the_types_asked_for_are_looked_for(engine: DetectionEngine) -> None:
    counting = CountingEngine(engine)
    picky = PresidioClassifier(engine=counting)  # type: ignore[arg-type]
    text = "Customer John Smith paid with 4111 1111 1111 1111"
    cards = run(picky, [text], entities=frozenset({"CREDIT_CARD"}))
    assert cards.entity_types == {"CREDIT_CARD"}
    assert counting.ner_texts == []  # no type NER could find was asked for: NER did not run
    people = run(picky, [text], entities=frozenset({"PERSON"}))
    assert people.entity_types == {"PERSON"} and counting.ner_texts == [text]
    everything = run(picky, [text])
    assert {"CREDIT_CARD", "PERSON"} <= everything.entity_types  # each a cache entry of its own
    picky.close()


def test_a_failure_in_one_request_spares_its_batch_mates(engine: DetectionEngine) -> None:
    class Choking(CountingEngine):
        def ner_passes(self, texts: list[str], min_scores: list[float], entities: object = ()) -> list[list[object]]:
            if any("poison" in t for t in texts):
                raise RuntimeError("the model choked")
            return super().ner_passes(texts, min_scores, entities)

    choking = PresidioClassifier(engine=Choking(engine), batch_size=8)  # type: ignore[arg-type]
    gate = threading.Event()
    block = choking._engine.pattern_pass  # type: ignore[union-attr]

    def held(text: str, *args: object) -> list[object]:  # keeps the worker busy until all requests queued
        gate.wait(5)
        return block(text, *args)  # type: ignore[arg-type]

    choking._engine.pattern_pass = held  # type: ignore[method-assign, union-attr]
    texts = ["warm up John", "Mary Poppins called", "poison Jane Doe", "Laura Gonzalez wrote"]

    async def together() -> list[Classification]:
        pending = [asyncio.ensure_future(choking.classify([t])) for t in texts]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*pending)

    results = asyncio.run(together())
    assert [r.error for r in results] == [None, None, "exception", None]
    assert "PERSON" in results[1].entity_types and "PERSON" in results[3].entity_types
    choking.close()


def test_a_long_text_is_analysed_in_a_batch_of_its_own(engine: DetectionEngine) -> None:
    class Recording(CountingEngine):
        def __init__(self, inner: DetectionEngine) -> None:
            super().__init__(inner)
            self.batches: list[list[str]] = []
            self.gate = threading.Event()

        def pattern_pass(self, text: str, policy: object, min_score: float, entities: object = None) -> list[object]:
            self.gate.wait(5)  # the first request holds the worker until every request is queued
            return super().pattern_pass(text, policy, min_score, entities)

        def ner_passes(self, texts: list[str], min_scores: list[float], entities: object = ()) -> list[list[object]]:
            self.batches.append(list(texts))
            return super().ner_passes(texts, min_scores, entities)

    recording = Recording(engine)
    capped = PresidioClassifier(engine=recording, batch_chars=200)  # type: ignore[arg-type]
    long_text = "Please review the attached policy document for Maria Rossi. " * 20
    texts = ["first John Smith", "short one from Kari Kelly", long_text, "short two from Laura Gonzalez"]

    async def together() -> list[Classification]:
        pending = [asyncio.ensure_future(capped.classify([t])) for t in texts]
        await asyncio.sleep(0.05)
        recording.gate.set()
        return await asyncio.gather(*pending)

    results = asyncio.run(together())
    assert all(r.error is None for r in results)
    assert [long_text] in recording.batches  # alone
    assert not any(long_text in batch and len(batch) > 1 for batch in recording.batches)
    capped.close()


def test_the_renewal_threshold_comes_from_the_operator_config(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``classifier.renew_after_unseen`` reaches the engine the classifier builds; nonsense is refused."""
    from gateway import config as config_module
    from gateway.classify import presidio_classifier

    path = tmp_path / "gateway.yaml"
    path.write_text("classifier:\n  renew_after_unseen: 250000\n")
    settings = config_module.load_config(str(path), environ={}).classifier
    assert settings.renew_after_unseen == 250_000
    path.write_text("classifier:\n  renew_after_unseen: 5\n")
    with pytest.raises(config_module.ConfigError, match="renew_after_unseen"):
        config_module.load_config(str(path), environ={})

    built: list[dict[str, object]] = []
    monkeypatch.setattr(presidio_classifier, "DetectionEngine", lambda model, **kw: built.append(kw) or object())
    classifier = PresidioClassifier(renew_after_unseen=settings.renew_after_unseen, compiled_ner=False)
    try:
        classifier.load()
    finally:
        classifier.close()
    assert built == [{"compiled": False, "renew_after": 250_000, "ner_models": None}]
