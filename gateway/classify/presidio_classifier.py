"""``PresidioClassifier``: the gateway's classifier, Presidio plus our recognizers.

What ``classify`` does with a request's texts:

1. Refuses more than ``max_chars`` characters in total: ``error="too_long"``.
2. Off the event loop, in a thread pool of ``workers`` threads, bounded by
   ``timeout_s`` (``error="timeout"``), for each text:

   a. looks up the per-message cache (key: a digest of the text, the policy
      recognizer tuple and ``min_score``), so a conversation only pays for
      its new messages;
   b. normalizes the text (``normalize.py``) and refuses a script no detector
      reads (``script.py``): ``error="unreadable_language"``;
   c. runs the pattern pass (regex and checksum recognizers, the policy's
      recognizers);
   d. if ``decisive_entities`` says the types found so far already decide
      the request, stops; otherwise runs the NER pass.

   Spans are mapped back to the original text.
3. Any exception becomes ``error="exception"``. ``classify`` never raises
   (except ``CancelledError`` when its caller is cancelled).

``decisive_entities``: an optional callable the gateway passes, given the set
of entity types found so far (pattern pass and cache) and answering whether
they already decide the request: the highest level the policy can assign is
reached *and* no further type could change the outcome (a route that tests
``entities_any`` for a type not yet found would). When it answers True, NER
is skipped (and so are texts not yet looked at), and
``Classification.entity_types`` holds what was found up to then: enough for
the decision, possibly not every type in the request.

A timed-out analysis cannot be interrupted; its thread finishes in the
background (and fills the cache), and requests queued behind it may time
out too, which fails them closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from presidio_analyzer import RecognizerResult

from gateway.classify.base import Classification, Detection, PolicyRecognizer
from gateway.classify.cache import CacheStats, LruCache
from gateway.classify.engine import DetectionEngine
from gateway.classify.normalize import NormalizedText, normalize
from gateway.classify.policy_recognizers import PolicyRecognizerCompiler
from gateway.classify.script import is_readable

logger = logging.getLogger("gateway.classify")

DecisiveEntities = Callable[[frozenset[str]], bool]
_CacheKey = tuple[bytes, tuple[PolicyRecognizer, ...], float]


@dataclasses.dataclass(frozen=True, slots=True)
class _TextResult:
    """Detections for one text (``text_index`` 0) and whether NER has run on it."""

    detections: tuple[Detection, ...]
    ner_done: bool


class _Unreadable(Exception):
    """A text is in a script our detectors cannot read."""


class PresidioClassifier:
    """Implements ``gateway.classify.base.Classifier``; see the module docstring.

    ``ner_model``: spaCy package name or model directory (installed, never
    downloaded). ``timeout_s``: limit per ``classify`` call. ``workers``:
    analysis threads (default: CPU count). ``max_chars``: limit on the total
    characters of one call. ``decisive_entities``: see the module docstring.
    ``cache_size``: messages remembered (0 disables the cache). ``engine``: an
    already loaded ``DetectionEngine`` to share (it is thread-safe), instead of
    loading one for this classifier.
    """

    def __init__(
        self,
        ner_model: str = "en_core_web_sm",
        timeout_s: float = 10.0,
        workers: int | None = None,
        max_chars: int = 200_000,
        *,
        decisive_entities: DecisiveEntities | None = None,
        cache_size: int = 4096,
        engine: DetectionEngine | None = None,
    ) -> None:
        if timeout_s <= 0 or max_chars <= 0:
            raise ValueError("timeout_s and max_chars must be positive")
        self.ner_model = ner_model
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self._decisive = decisive_entities
        self._pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1, thread_name_prefix="classify")
        self._engine: DetectionEngine | None = engine
        self._load_lock = threading.Lock()
        self._cache: LruCache[_CacheKey, _TextResult] = LruCache(cache_size)
        self._policy_recognizers = PolicyRecognizerCompiler()

    # -- life cycle -------------------------------------------------------

    def load(self) -> None:
        """Build the analyzer and load the NER model (blocking; call at start-up)."""
        self._ensure_engine()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def close(self) -> None:
        """Stop the worker threads; queued analyses are cancelled."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def cache_stats(self) -> CacheStats:
        return self._cache.stats()

    def _ensure_engine(self) -> DetectionEngine:
        engine = self._engine
        if engine is None:
            with self._load_lock:
                engine = self._engine
                if engine is None:
                    engine = self._engine = DetectionEngine(self.ner_model)
        return engine

    # -- the protocol -----------------------------------------------------

    async def classify(
        self,
        texts: Sequence[str],
        *,
        recognizers: Sequence[PolicyRecognizer] = (),
        min_score: float = 0.5,
    ) -> Classification:
        started = time.perf_counter()
        try:
            texts = tuple(texts)
            if sum(len(text) for text in texts) > self.max_chars:
                result = Classification(error="too_long")
            else:
                loop = asyncio.get_running_loop()
                job = loop.run_in_executor(self._pool, self._classify_now, texts, tuple(recognizers), float(min_score))
                result = await asyncio.wait_for(job, self.timeout_s)
        except TimeoutError:
            logger.warning("classification timed out after %.1f s", self.timeout_s)
            result = Classification(error="timeout")
        except Exception as exc:  # noqa: BLE001 - the contract: report, never raise
            # The message may quote the text; log the type only.
            logger.error("classification failed: %s", type(exc).__name__)
            result = Classification(error="exception")
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return dataclasses.replace(result, elapsed_ms=elapsed_ms)

    # -- the work, in a pool thread --------------------------------------

    def _classify_now(
        self,
        texts: tuple[str, ...],
        recognizers: tuple[PolicyRecognizer, ...],
        min_score: float,
    ) -> Classification:
        try:
            return self._classify_texts(texts, recognizers, min_score)
        except _Unreadable:
            return Classification(error="unreadable_language")

    def _classify_texts(
        self,
        texts: tuple[str, ...],
        recognizers: tuple[PolicyRecognizer, ...],
        min_score: float,
    ) -> Classification:
        engine = self._ensure_engine()
        policy = self._policy_recognizers.compile(recognizers)
        keys: list[_CacheKey] = [(_digest(text), recognizers, min_score) for text in texts]
        results: list[_TextResult | None] = [self._cache.get(key) for key in keys]
        if self._decided(results):
            return _classification(results)

        normalized: dict[int, NormalizedText] = {}
        for index, text in enumerate(texts):
            if results[index] is not None:
                continue
            view = normalized[index] = _readable(text)
            found = _to_detections(view, engine.pattern_pass(view.text, policy, min_score))
            results[index] = _TextResult(found, ner_done=False)
            self._cache.put(keys[index], _TextResult(found, ner_done=False))
        if self._decided(results):
            return _classification(results)

        for index, text in enumerate(texts):
            pending = results[index]
            if pending is None or pending.ner_done:
                continue
            view = normalized.get(index) or _readable(text)
            named = _to_detections(view, engine.ner_pass(view.text, min_score))
            complete = _TextResult(_merge(pending.detections, named), ner_done=True)
            results[index] = complete
            self._cache.put(keys[index], complete)
        return _classification(results)

    def _decided(self, results: list[_TextResult | None]) -> bool:
        if self._decisive is None:
            return False
        found = frozenset(d.entity_type for r in results if r for d in r.detections)
        return bool(found) and self._decisive(found)


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _readable(text: str) -> NormalizedText:
    view = normalize(text)
    if not is_readable(view.text):
        raise _Unreadable
    return view


def _to_detections(view: NormalizedText, found: list[RecognizerResult]) -> tuple[Detection, ...]:
    detections = []
    for result in found:
        start, end = view.to_original(result.start, result.end)
        metadata = result.recognition_metadata or {}
        detections.append(
            Detection(
                entity_type=result.entity_type,
                score=round(float(result.score), 4),
                start=start,
                end=end,
                recognizer=str(metadata.get(RecognizerResult.RECOGNIZER_NAME_KEY, "")),
            )
        )
    return tuple(sorted(detections, key=lambda d: (d.start, d.end, d.entity_type)))


def _merge(*groups: tuple[Detection, ...]) -> tuple[Detection, ...]:
    """Union of detections; one per (type, span), the highest score kept."""
    best: dict[tuple[str, int, int], Detection] = {}
    for detection in (d for group in groups for d in group):
        key = (detection.entity_type, detection.start, detection.end)
        if key not in best or detection.score > best[key].score:
            best[key] = detection
    return tuple(sorted(best.values(), key=lambda d: (d.start, d.end, d.entity_type)))


def _classification(results: list[_TextResult | None]) -> Classification:
    detections = tuple(
        dataclasses.replace(detection, text_index=index)
        for index, result in enumerate(results)
        if result is not None
        for detection in result.detections
    )
    scores: dict[str, float] = {}
    for detection in detections:
        scores[detection.entity_type] = max(scores.get(detection.entity_type, 0.0), detection.score)
    return Classification(entity_types=frozenset(scores), detections=detections, scores=scores)
