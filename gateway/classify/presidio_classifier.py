"""``PresidioClassifier``: the gateway's classifier, Presidio plus our recognizers.

What ``classify`` does with a request's texts:

1. Refuses more than ``max_chars`` characters in total: ``error="too_long"``.
2. Hands the request to the analysis worker (``workers`` threads, default
   one) and waits at most ``timeout_s`` (``error="timeout"``). Off the event
   loop, for each text:

   a. looks up the per-message cache (key: a digest of the text, the policy
      recognizer tuple, ``min_score`` and the entity types wanted), so a
      conversation only pays for its new messages;
   b. normalizes the text (``normalize.py``) and refuses a script no detector
      reads (``script.py``: Arabic, Hebrew, Indic, Thai...; Japanese, Korean, Greek and
      Cyrillic are read): ``error="unreadable_language"``;
   c. runs the pattern pass (regex and checksum recognizers, the policy's
      recognizers): only the recognizers of the types in ``entities``, when
      the caller names them (the gateway passes the types its policy uses);
   d. if ``decisive_entities`` says the types found so far already decide
      the request, or no type in ``entities`` comes from NER, stops;
      otherwise runs the NER pass.

   Spans are mapped back to the original text.
3. Any exception becomes ``error="exception"``. ``classify`` never raises
   (except ``CancelledError`` when its caller is cancelled).

Batching: a worker takes every request waiting when it becomes free (up to
``batch_size``) and runs the NER pass of all their texts in one pass of the
model (``DetectionEngine.ner_passes``). The network's fixed cost per call,
most of a short prompt's NER time, is then paid once per batch, so under
concurrent load each request costs less. A request that arrives alone is
analysed at once: no worker waits for a batch to fill. A batch holds at most
``batch_chars`` characters, so a long document is analysed alone and short
prompts queued behind it are not made to wait for its whole pass.

One worker thread is the default, and usually the best: the analysis holds
Python's global interpreter lock most of the time, so a second thread in
the same process mostly adds lock hand-offs (measured: twice the CPU per
request on two cores). To use more cores, run more gateway processes
(``gateway serve --workers N``), each with its own classifier. Each request's
detections are the same whatever it was batched with; a failure in one
request's texts fails that request only (closed), never its batch-mates.

``decisive_entities``: an optional callable the gateway passes, given the set
of entity types found so far (pattern pass and cache) and answering whether
they already decide the request: the highest level the policy can assign is
reached *and* no further type could change the outcome (a route that tests
``entities_any`` for a type not yet found would). When it answers True, NER
is skipped (and so are texts not yet looked at), and
``Classification.entity_types`` holds what was found up to then: enough for
the decision, possibly not every type in the request.

A timed-out analysis cannot be interrupted; a request still waiting for a
worker is dropped, one already being analysed finishes in the background
(and fills the cache). Requests queued behind a slow one may time out too,
which fails them closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from presidio_analyzer import RecognizerResult

from gateway.classify.base import Classification, Detection, PolicyRecognizer
from gateway.classify.cache import CacheStats, LruCache
from gateway.classify.engine import RENEW_AFTER_UNSEEN, DetectionEngine
from gateway.classify.normalize import NormalizedText, normalize
from gateway.classify.numbers import JOINABLE, straddling_values
from gateway.classify.policy_recognizers import PolicyRecognizerCompiler
from gateway.classify.script import is_readable

logger = logging.getLogger("gateway.classify")

DecisiveEntities = Callable[[frozenset[str]], bool]
_CacheKey = tuple[bytes, tuple[PolicyRecognizer, ...], float, frozenset[str] | None]


@dataclasses.dataclass(frozen=True, slots=True)
class _TextResult:
    """Detections for one text (``text_index`` 0) and whether NER has run on it."""

    detections: tuple[Detection, ...]
    ner_done: bool


class _Unreadable(Exception):
    """A text is in a script our detectors cannot read."""


@dataclasses.dataclass(slots=True)
class _Job:
    """One ``classify`` call on its way through a worker."""

    texts: tuple[str, ...]
    recognizers: tuple[PolicyRecognizer, ...]
    min_score: float
    entities: frozenset[str] | None
    future: concurrent.futures.Future[Classification]
    keys: list[_CacheKey] = dataclasses.field(default_factory=list)
    results: list[_TextResult | None] = dataclasses.field(default_factory=list)
    views: dict[int, NormalizedText] = dataclasses.field(default_factory=dict)
    straddling: tuple[Detection, ...] = ()  # values cut in two between adjacent texts (numbers.py)

    def waiting_for_ner(self) -> list[int]:
        return [i for i, result in enumerate(self.results) if result is not None and not result.ner_done]


class PresidioClassifier:
    """Implements ``gateway.classify.base.Classifier``; see the module docstring.

    ``ner_model``: spaCy package name or model directory (installed, never
    downloaded). ``timeout_s``: limit per ``classify`` call. ``workers``:
    analysis threads (default 1; see the module docstring). ``max_chars``: limit on the total
    characters of one call. ``decisive_entities``: see the module docstring.
    ``cache_size``: messages remembered (0 disables the cache). ``batch_size``:
    most requests one worker analyses together; ``batch_chars``: most
    characters in a batch (a longer request is analysed alone). ``engine``: an already loaded
    ``DetectionEngine`` to share (it is thread-safe), instead of loading one
    for this classifier. ``compiled_ner``: run NER through ``fastner.CompiledNer`` (see
    ``nlp.py``; ``None``: the ``fast_paths`` default, off under ``GATEWAY_FAST_PATHS=off``).
    ``renew_after_unseen``: ``DetectionEngine``'s ``renew_after``. ``ner_models``:
    NER models for languages other than English (``DetectionEngine``; default French).
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
        batch_size: int = 32,
        batch_chars: int = 20_000,
        engine: DetectionEngine | None = None,
        compiled_ner: bool | None = None,
        renew_after_unseen: int = RENEW_AFTER_UNSEEN,
        ner_models: dict[str, str] | None = None,
    ) -> None:
        if timeout_s <= 0 or max_chars <= 0 or batch_size <= 0:
            raise ValueError("timeout_s, max_chars and batch_size must be positive")
        self.ner_model = ner_model
        self.ner_models = ner_models
        self.compiled_ner = compiled_ner
        self.renew_after_unseen = renew_after_unseen
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self.batch_size = batch_size
        self.batch_chars = batch_chars
        self._decisive = decisive_entities
        self._engine: DetectionEngine | None = engine
        self._load_lock = threading.Lock()
        self._cache: LruCache[_CacheKey, _TextResult] = LruCache(cache_size)
        self._policy_recognizers = PolicyRecognizerCompiler()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"classify-{i}", daemon=True) for i in range(workers or 1)
        ]
        self._closed = False
        for worker in self._workers:
            worker.start()

    # -- life cycle -------------------------------------------------------

    def load(self) -> None:
        """Build the analyzer and load the NER model (blocking; call at start-up)."""
        self._ensure_engine()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def close(self) -> None:
        """Stop the workers; requests still waiting are cancelled (their callers fail closed)."""
        self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.future.cancel()
        for _ in self._workers:
            self._jobs.put(None)

    def cache_stats(self) -> CacheStats:
        return self._cache.stats()

    def _ensure_engine(self) -> DetectionEngine:
        engine = self._engine
        if engine is None:
            with self._load_lock:
                engine = self._engine
                if engine is None:
                    engine = self._engine = DetectionEngine(
                        self.ner_model,
                        compiled=self.compiled_ner,
                        renew_after=self.renew_after_unseen,
                        ner_models=self.ner_models,
                    )
        return engine

    # -- the protocol -----------------------------------------------------

    async def classify(
        self,
        texts: Sequence[str],
        *,
        recognizers: Sequence[PolicyRecognizer] = (),
        min_score: float = 0.5,
        entities: frozenset[str] | None = None,
    ) -> Classification:
        started = time.perf_counter()
        try:
            texts = tuple(texts)
            if sum(len(text) for text in texts) > self.max_chars:
                result = Classification(error="too_long")
            elif self._closed:
                result = Classification(error="closed")
            else:
                wanted = frozenset(entities) if entities is not None else None
                job = _Job(texts, tuple(recognizers), float(min_score), wanted, concurrent.futures.Future())
                self._jobs.put(job)
                result = await asyncio.wait_for(asyncio.wrap_future(job.future), self.timeout_s)
        except TimeoutError:
            logger.warning("classification timed out after %.1f s", self.timeout_s)
            result = Classification(error="timeout")
        except Exception as exc:  # noqa: BLE001 - the contract: report, never raise
            # The message may quote the text; log the type only.
            logger.error("classification failed: %s", type(exc).__name__)
            result = Classification(error="exception")
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return dataclasses.replace(result, elapsed_ms=elapsed_ms)

    # -- the work, in a worker thread --------------------------------------

    def _work(self) -> None:
        held: _Job | None = None  # taken from the queue but left for the next batch (too big for this one)
        while True:
            job = held or self._jobs.get()
            held = None
            if job is None:
                return
            batch, chars = [job], _chars(job)
            while len(batch) < self.batch_size and chars < self.batch_chars:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:  # closing: finish this batch, then stop
                    self._jobs.put(None)
                    break
                if chars + _chars(more) > self.batch_chars:
                    held = more  # a long text is analysed in a batch of its own: it does not hold up others
                    break
                batch.append(more)
                chars += _chars(more)
            running = [j for j in batch if j.future.set_running_or_notify_cancel()]
            try:
                self._analyse(running)
            except BaseException as exc:  # noqa: BLE001 - a bug must fail these requests closed, not the worker
                self._fail([j for j in running if not j.future.done()], exc)

    def _analyse(self, batch: list[_Job]) -> None:
        """The pattern pass of each request, then one NER pass over every text that still needs it."""
        try:
            engine = self._ensure_engine()
        except Exception as exc:  # noqa: BLE001 - the model could not be loaded: every request fails closed
            self._fail(batch, exc)
            return
        waiting: list[_Job] = []
        for job in batch:
            try:
                if self._prepare(engine, job):
                    waiting.append(job)
                else:
                    job.future.set_result(_classification(job.results, job.straddling))
            except Exception as exc:  # noqa: BLE001 - this request fails closed, its batch-mates go on
                self._fail([job], exc)
        if not waiting:
            return
        try:
            self._ner(engine, waiting)
        except Exception:  # noqa: BLE001 - find which request it was: each alone
            for job in waiting:
                try:
                    self._ner(engine, [job])
                except Exception as exc:  # noqa: BLE001
                    self._fail([job], exc)
                    continue
                job.future.set_result(_classification(job.results, job.straddling))
            return
        for job in waiting:
            job.future.set_result(_classification(job.results, job.straddling))

    def _prepare(self, engine: DetectionEngine, job: _Job) -> bool:
        """Cache and pattern pass; whether the job still needs NER."""
        policy = self._policy_recognizers.compile(job.recognizers)
        job.keys = [(_digest(text), job.recognizers, job.min_score, job.entities) for text in job.texts]
        job.results = [self._cache.get(key) for key in job.keys]
        if self._decided(job.results):
            return False
        for index, text in enumerate(job.texts):
            if job.results[index] is not None:
                continue
            view = job.views[index] = _readable(text)
            found = _to_detections(view, engine.pattern_pass(view.text, policy, job.min_score, job.entities))
            # Without a type NER could find, the pattern pass is the whole analysis.
            result = job.results[index] = _TextResult(found, ner_done=not engine.needs_ner(job.entities))
            self._cache.put(job.keys[index], result)
        job.straddling = _straddling(engine, job)
        if self._decided([*job.results, _TextResult(job.straddling, ner_done=True)]):
            return False
        return bool(job.waiting_for_ner())

    def _ner(self, engine: DetectionEngine, jobs: list[_Job]) -> None:
        items = [(job, index) for job in jobs for index in job.waiting_for_ner()]
        views = [job.views.get(index) or _readable(job.texts[index]) for job, index in items]
        named = engine.ner_passes(
            [view.text for view in views], [job.min_score for job, _ in items], [job.entities for job, _ in items]
        )
        for (job, index), view, found in zip(items, views, named, strict=True):
            pending = job.results[index]
            assert pending is not None
            complete = _TextResult(_merge(pending.detections, _to_detections(view, found)), ner_done=True)
            job.results[index] = complete
            self._cache.put(job.keys[index], complete)

    @staticmethod
    def _fail(jobs: list[_Job], exc: BaseException) -> None:
        for job in jobs:
            if isinstance(exc, _Unreadable):
                job.future.set_result(Classification(error="unreadable_language"))
            else:
                # The message may quote the text; log the type only.
                logger.error("classification failed: %s", type(exc).__name__)
                job.future.set_result(Classification(error="exception"))

    def _decided(self, results: list[_TextResult | None]) -> bool:
        if self._decisive is None:
            return False
        found = frozenset(d.entity_type for r in results if r for d in r.detections)
        return bool(found) and self._decisive(found)


def _chars(job: _Job) -> int:
    return sum(len(text) for text in job.texts)


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


def _straddling(engine: DetectionEngine, job: _Job) -> tuple[Detection, ...]:
    """Checksummed values cut in two between adjacent texts: a detection in each (``numbers.py``)."""
    wanted = JOINABLE if job.entities is None else JOINABLE & job.entities
    if len(job.texts) < 2 or not wanted:
        return ()

    def scan(text: str) -> Iterator[tuple[str, int, int, float, str]]:
        for found in engine.pattern_pass(text, (), job.min_score, wanted):
            name = str((found.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, ""))
            yield found.entity_type, found.start, found.end, float(found.score), name

    detections: list[Detection] = []
    for value in straddling_values(job.texts, scan):
        score, name = round(value.score, 4), value.recognizer
        detections.append(Detection(value.entity_type, score, value.start, len(job.texts[value.index]), name,
                                    text_index=value.index))  # fmt: skip
        detections.append(Detection(value.entity_type, score, 0, value.end, name, text_index=value.index + 1))
    return tuple(detections)


def _classification(results: list[_TextResult | None], straddling: tuple[Detection, ...] = ()) -> Classification:
    detections = straddling + tuple(
        dataclasses.replace(detection, text_index=index)
        for index, result in enumerate(results)
        if result is not None
        for detection in result.detections
    )
    scores: dict[str, float] = {}
    for detection in detections:
        scores[detection.entity_type] = max(scores.get(detection.entity_type, 0.0), detection.score)
    return Classification(entity_types=frozenset(scores), detections=detections, scores=scores)
