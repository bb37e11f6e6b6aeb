"""The compiled NER evaluator (gateway/classify/fastner.py) against spaCy's own component.

The real model, the real pipeline: every entity the compiled network finds,
over a corpus of generated bank prompts, the benchmark's prompts and edge
cases, must be exactly the one spaCy's component finds, alone and in
batches, and over a fixed multilingual set through the English and the French
pipelines. Layers it does not know make it step aside (spaCy runs), and the
engine can be told not to use it. These are the fast path's oracle tests
(marker ``oracle``, ``make oracles``): a bump of spaCy, thinc or a model re-runs
them; they build the compiled evaluator explicitly, so they hold under
``GATEWAY_FAST_PATHS=off`` too.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Sequence

import numpy
import pytest
from spacy.language import Language
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc, Span
from thinc.api import LayerNorm, Model

from gateway.classify import fastner
from gateway.classify.engine import DetectionEngine
from gateway.classify.nlp import NerNlpEngine, load_ner_pipeline
from tests.classify.conftest import load_bench_module

pytestmark = pytest.mark.oracle

EDGE_CASES = [
    "",
    " ",
    "\n\n",
    "John",
    "Mr. John Smith met Mary O'Neil in Paris on 3 May 2024 at 10am.",
    "word " * 400,
    "Transfer from Laura Gonzalez (Madrid) to Judith Johnson, London, before Friday 5 p.m.",
    "ALL CAPS JOHN SMITH FROM NEW YORK CITY",
    "emoji 😀 and tabs\tand\u00a0non-breaking spaces around Kari Kelly",
]

# A fixed multilingual set: what a bank's staff write, in the languages the classifier routes
# to a pipeline (English, French) and those it does not (the English one still sees data in them).
MULTILINGUAL = [
    "Bonjour Mme Dupont, votre virement de 1 200 EUR vers la Société Générale à Lyon est validé.",
    "M. Jean-Pierre Lefèvre, 12 rue de la Paix, 75002 Paris, demande un relevé de compte.",
    "Rédige une réponse à Camille Martin au sujet du prêt immobilier signé à Bordeaux le 3 mars.",
    "Sehr geehrte Frau Müller, Ihre Überweisung an die Deutsche Bank in Frankfurt ist eingegangen.",
    "Herr Jürgen Schäfer wohnt in der Hauptstraße 5, 10115 Berlin, und bittet um Rückruf.",
    "Estimado Sr. García, su transferencia a Banco Santander en Madrid fue aprobada el lunes.",
    "Calcula la cuota del préstamo de María Fernández López para la sucursal de Sevilla.",
    "Gentile dott.ssa Rossi, il bonifico verso Intesa Sanpaolo a Milano è stato eseguito.",
    "Beste meneer De Vries, uw betaling aan ING in Amsterdam is ontvangen.",
    "Margrethe Sørensen from Copenhagen asked Zoë O'Brien about the Zürich office on Tuesday.",
    "山田太郎様、東京支店でのお振込みを確認しました。",
    "请联系北京分行的王小明，电话 138 0013 8000。",
    "Κύριε Παπαδόπουλε, η πληρωμή σας στην Αθήνα ολοκληρώθηκε.",
    "Client: DUPONT, Jean; Kontoinhaber: Schmidt, Anna; titular: Pérez, Lucía",
]


@pytest.fixture(scope="module")
def pipeline() -> Language:
    return load_ner_pipeline("en_core_web_sm")


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    evaluation = load_bench_module("classify_eval")
    generated = evaluation.load_corpus_module().generate_corpus(seed=5, size=400)
    texts = [text for sample in generated for text in sample.texts]
    from bench.overhead.prompts import prompt_stems, unique

    texts += [unique(stem, n) for n, stem in enumerate(prompt_stems(200))]
    return texts + EDGE_CASES


def _spacy_entities(pipeline: Language, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in pipeline.pipe(texts, batch_size=1)]


def _compiled_entities(
    pipeline: Language, compiled: fastner.CompiledNer, texts: Sequence[str], batch: int
) -> list[list[tuple[int, int, str]]]:
    out = []
    for start in range(0, len(texts), batch):
        docs = [pipeline.make_doc(text) for text in texts[start : start + batch]]
        compiled(docs)
        out += [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]
    return out


@pytest.fixture(scope="module")
def expected(pipeline: Language, corpus: list[str]) -> list[list[tuple[int, int, str]]]:
    found = _spacy_entities(pipeline, corpus)
    assert sum(len(entities) for entities in found) > 500  # the corpus exercises the model
    return found


@pytest.mark.parametrize("biluo", [True, False], ids=["all-at-once", "step-by-step"])
@pytest.mark.parametrize(
    ("batch", "token_rows"),
    [(1, fastner.TOKEN_ROWS), (7, fastner.TOKEN_ROWS), (32, fastner.TOKEN_ROWS), (7, 0), (7, 8)],
    ids=["alone", "batches-of-7", "batches-of-32", "no-token-rows", "eight-token-rows"],
)
def test_same_entities_as_spacy(
    pipeline: Language,
    corpus: list[str],
    expected: list[list[tuple[int, int, str]]],
    batch: int,
    token_rows: int,
    biluo: bool,
) -> None:
    """Alone and batched; with the per-token rows remembered, not at all, or in a table so small
    that rows are evicted inside one prompt; decoded with every state outside an entity scored
    at once (``_decode_biluo``) or one move at a time through spaCy's transition system."""
    compiled = fastner.CompiledNer(pipeline.get_pipe("ner"), token_rows=token_rows, biluo=biluo)
    assert (compiled.biluo is not None) is biluo
    for rerun in range(2):  # the second pass finds the rows remembered by the first
        got = _compiled_entities(pipeline, compiled, corpus, batch)
        differing = [(text, want, have) for text, want, have in zip(corpus, expected, got, strict=True) if want != have]
        assert not differing, (rerun, differing[:3])


def _tags(docs: Sequence[Doc]) -> list[list[tuple[str, str]]]:
    return [[(token.ent_iob_, token.ent_type_) for token in doc] for doc in docs]


@pytest.mark.parametrize("model", ["en_core_web_sm", "fr_core_news_sm"])
def test_same_entities_as_spacy_in_many_languages(model: str) -> None:
    """The fixed multilingual set, through each pipeline the classifier loads: alone and batched."""
    nlp = load_ner_pipeline(model)
    texts = MULTILINGUAL + EDGE_CASES
    want = _spacy_entities(nlp, texts)
    assert sum(len(entities) for entities in want) > 10
    for biluo in (True, False):
        compiled = fastner.CompiledNer(nlp.get_pipe("ner"), biluo=biluo)
        for batch in (1, 5):
            assert _compiled_entities(nlp, compiled, texts, batch) == want, (model, biluo, batch)


def test_sentence_starts_are_respected(pipeline: Language, corpus: list[str]) -> None:
    """No entity across a sentence start (spaCy's Begin and In validity): with the boundaries a
    sentencizer sets, both decoders tag every token as spaCy's component does."""
    sentencizer = Sentencizer()
    texts = [text for text in corpus if "." in text.rstrip(".")][:300]
    assert len(texts) > 100
    want = [pipeline.get_pipe("ner")(sentencizer(pipeline.make_doc(text))) for text in texts]
    for biluo in (True, False):
        compiled = fastner.CompiledNer(pipeline.get_pipe("ner"), biluo=biluo)
        for size in (1, 9):
            have = []
            for start in range(0, len(texts), size):
                docs = [sentencizer(pipeline.make_doc(text)) for text in texts[start : start + size]]
                compiled(docs)
                have += docs
            assert _tags(have) == _tags(want), (biluo, size)


def test_preset_entities_are_decoded_as_spacy_does(pipeline: Language, corpus: list[str]) -> None:
    """Entities set before NER (an entity ruler's): spaCy keeps them and decodes around them;
    the compiled evaluator then decodes move by move through spaCy's transition system."""
    texts = [text for text in corpus if len(text.split()) > 6][:150]

    def preset(text: str) -> Doc:
        doc = pipeline.make_doc(text)
        doc.set_ents([Span(doc, 2, 4, label="ORG")], default="unmodified")
        return doc

    want = [pipeline.get_pipe("ner")(preset(text)) for text in texts]
    compiled = fastner.CompiledNer(pipeline.get_pipe("ner"))
    assert compiled.biluo is not None
    have = [preset(text) for text in texts]
    compiled(have)
    assert _tags(have) == _tags(want)
    assert all(doc[2].ent_type_ == "ORG" for doc in have)


def test_unseen_classes_score_lowest(pipeline: Language, corpus: list[str]) -> None:
    """Classes the model never saw in training get the state's lowest score, as in spaCy
    (which takes the lowest of the step's batch: the same when scored one at a time)."""
    component = pipeline.get_pipe("ner")
    names = [component.moves.get_class_name(i) for i in range(component.moves.n_moves)]
    unseen = {names.index(name) for name in ("U-PERSON", "B-GPE", "L-DATE")}
    texts = corpus[:300]
    before = component.model.attrs.get("unseen_classes", set())
    component.model.attrs["unseen_classes"] = unseen
    try:
        want = [component(pipeline.make_doc(text)) for text in texts]
        for biluo in (True, False):
            compiled = fastner.CompiledNer(component, biluo=biluo)
            have = [pipeline.make_doc(text) for text in texts]
            for doc in have:
                compiled([doc])
            assert _tags(have) == _tags(want), biluo
    finally:
        component.model.attrs["unseen_classes"] = before
    found = [entity for doc in want for entity in doc.ents]
    assert any(entity.label_ == "GPE" for entity in found)  # the corpus has places, one token long
    assert not any(entity.label_ == "GPE" and len(entity) > 1 for entity in found)  # B-GPE unseen
    assert not any(entity.label_ == "PERSON" and len(entity) == 1 for entity in found)  # U-PERSON unseen


def test_token_rows_stay_within_their_table(pipeline: Language, corpus: list[str]) -> None:
    compiled = fastner.CompiledNer(pipeline.get_pipe("ner"), token_rows=64)
    rows = compiled.token_rows
    assert rows is not None
    _compiled_entities(pipeline, compiled, corpus[:200], 8)
    assert len(rows._slots) == 64 and rows._table.shape[0] == 64
    assert sorted(rows._slots.values()) == list(range(64))


def test_tok2vec_matches_thinc_exactly(pipeline: Language, corpus: list[str]) -> None:
    """Same kernels, same order: the token vectors are thinc's to within the products' last bits."""
    component = pipeline.get_pipe("ner")
    tok2vec = component.model.get_ref("tok2vec")
    compiled, _ = fastner.compile_tok2vec(tok2vec)
    docs = [pipeline.make_doc(text) for text in corpus[:50]]
    want = tok2vec.predict(docs)
    have = compiled(docs)
    assert have.dtype == want.dtype and have.shape == want.shape
    numpy.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-5)


def test_layernorm_is_bit_for_bit(pipeline: Language) -> None:
    rng = numpy.random.default_rng(3)
    layer = LayerNorm(96)
    layer.initialize(X=rng.standard_normal((4, 96)).astype("f"))
    layer.set_param("G", rng.standard_normal(96).astype("f"))
    layer.set_param("b", rng.standard_normal(96).astype("f"))
    run = fastner.compile_layer(layer)
    for rows in (1, 37, 300):
        x = (rng.standard_normal((rows, 96)) * rng.uniform(0.01, 100)).astype("f")
        assert numpy.array_equal(run(x), layer.predict(x))


def test_unknown_layers_leave_spacy_in_charge(pipeline: Language) -> None:
    with pytest.raises(fastner.Unsupported):
        fastner.compile_layer(Model("mystery", lambda model, x, is_train: (x, lambda d: d)))
    component = pipeline.get_pipe("ner")
    component.cfg["beam_width"] = 4
    try:
        assert fastner.compile_ner(pipeline) is None
    finally:
        component.cfg["beam_width"] = 1
    assert fastner.compile_ner(pipeline, name="no-such-component") is None


def test_engine_uses_it_and_can_be_told_not_to(corpus: list[str]) -> None:
    fast = NerNlpEngine("en_core_web_sm", compiled=True)
    fast.load()
    plain = NerNlpEngine("en_core_web_sm", compiled=False)
    plain.load()
    assert fast.runs_compiled and not plain.runs_compiled
    texts = corpus[:120]
    want = [[(e.start_char, e.end_char, e.label_) for e in a.entities] for a in plain.process_batch(texts, "en")]
    have = [[(e.start_char, e.end_char, e.label_) for e in a.entities] for a in fast.process_batch(texts, "en")]
    assert have == want
    one = fast.process_text(texts[3], "en")
    alone = plain.process_text(texts[3], "en")
    assert [(e.start_char, e.end_char) for e in one.entities] == [(e.start_char, e.end_char) for e in alone.entities]


def test_detection_engine_results_do_not_depend_on_it(engine: DetectionEngine, corpus: list[str]) -> None:
    plain = DetectionEngine(compiled=False)
    if not engine.nlp_engine.runs_compiled:  # the suite runs with GATEWAY_FAST_PATHS=off
        engine = DetectionEngine(compiled=True)
    assert engine.nlp_engine.runs_compiled and not plain.nlp_engine.runs_compiled
    texts = corpus[:80]
    for text in texts:
        want = sorted((r.entity_type, r.start, r.end, r.score) for r in plain.ner_pass(text, 0.0))
        have = sorted((r.entity_type, r.start, r.end, r.score) for r in engine.ner_pass(text, 0.0))
        assert have == want, text


def test_numpy_blas_is_held_to_one_thread() -> None:
    from threadpoolctl import ThreadpoolController

    fastner.limit_blas_threads()
    numpy_dir = numpy.__file__.rsplit("/", 2)[0]
    mine = [lib for lib in ThreadpoolController().lib_controllers if str(lib.filepath).startswith(numpy_dir)]
    assert mine, "numpy's BLAS was not found"
    assert all(lib.num_threads == 1 for lib in mine if lib.user_api == "blas")


def test_unseen_words_do_not_stay_in_the_vocabulary(engine: DetectionEngine) -> None:
    """Each new amount, account number or ticket id would otherwise stay in spaCy's string store
    for the life of the process: memory growing with traffic."""
    strings = engine.nlp_engine.get_nlp("en").vocab.strings
    engine.ner_pass("Warm up with John Smith in Paris, ticket QX-1.", 0.0)
    before = len(strings)
    for n in range(300):
        found = engine.ner_pass(f"Ticket ZQ{n:05d}X for Laura Gonzalez in Madrid, reference 77{n:06d}.", 0.0)
        assert {r.entity_type for r in found} >= {"PERSON", "LOCATION"}
    assert len(strings) == before


def test_the_pipeline_is_renewed_after_so_many_unseen_words(corpus: list[str]) -> None:
    """spaCy's hash tables keep a cell for every word a memory zone freed, until they grow
    (``DetectionEngine`` docstring); past ``renew_after`` unseen words the pipeline is loaded
    again and swapped in. The old one is let go, and the findings do not change."""
    engine = DetectionEngine(renew_after=200)
    texts = corpus[:40]
    want = [engine.ner_pass(text, 0.0) for text in texts]
    old = weakref.ref(engine.nlp_engine.get_nlp("en"))
    for n in range(100):  # two unseen words each
        engine.ner_pass(f"Ticket ZQ{n:05d}X for Laura Gonzalez, reference 77{n:06d}.", 0.0)
    deadline = time.monotonic() + 60
    while engine.renewals == 0:
        assert time.monotonic() < deadline, "no renewal"
        time.sleep(0.05)
    assert engine.analyzer.nlp_engine is engine.nlp_engine
    assert engine.nlp_engine.runs_compiled is engine.compiled  # the renewed one as the first (fast_paths)
    gc.collect()
    assert old() is None  # nothing holds the replaced pipeline
    assert [engine.ner_pass(text, 0.0) for text in texts] == want


def test_a_spacy_without_the_private_modules_leaves_spacy_in_charge(
    pipeline: Language, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spaCy release that moves a private module the evaluator reaches into: spaCy runs, nothing fails."""
    import sys

    monkeypatch.setitem(sys.modules, "spacy.ml.parser_model", None)  # ``import`` now raises ImportError
    assert fastner.compile_ner(pipeline) is None
