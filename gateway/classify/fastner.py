"""spaCy's NER network, evaluated without thinc's per-layer dispatch.

The NER of spaCy's English pipelines is a transition-based model: a Tok2Vec
(hash embeddings of four lexical attributes, a maxout layer, four residual
convolution blocks) feeds a precomputed hidden layer, and a greedy decoder
takes one BILUO move per token. Through spaCy and thinc a ~30-word prompt
costs about 5 ms on our benchmark machine, and little of it is arithmetic:

- thinc calls about sixty layers per document, each through ``Model.__call__``
  and each building a backpropagation closure that inference never uses;
- spaCy's greedy decoder runs without the GIL but takes it back at every
  move (an ``assert`` under ``with gil``), and each round trip through the
  lock costs tens of microseconds, about forty times per prompt;
- thinc multiplies with BLIS, whose wheels fall back to reference kernels on
  processors they do not recognise (``libblis: selecting sub-configuration
  'generic'`` on the AMD EPYC we measure on): three times slower than numpy's
  OpenBLAS for these shapes.

``compile_ner`` turns a loaded NER component into a ``CompiledNer``: the same
weights (the products' matrices copied once at load, laid out as OpenBLAS
multiplies fastest, a maxout's pieces as blocks of columns; the embedding
tables themselves) and thinc's own ``hash``, ``gather_add`` and ``seq2col``,
evaluated by straight-line closures. Decoding (``CompiledNer._decode_biluo``)
scores every token outside an entity in one product and walks spaCy's greedy
BILUO moves with ``BiluoPushDown``'s rules of validity; a document with
preset entities, or another transition system, is decoded move by move
through spaCy's own (``Parser.transition_states``). Its entities are spaCy's
(the test suite compares them over a corpus; products may differ from
BLIS's in the last bit, which an argmax over 74 moves does not see). The
copies are taken at load: a model trained further in the same process
needs a new ``CompiledNer``.

Only layers this module knows are compiled: anything else (static vectors,
a transformer, a tok2vec listener, beam search, a model without an output
layer) makes ``compile_ner`` return ``None`` and spaCy runs the component as
it is. numpy's OpenBLAS is limited to one thread (``limit_blas_threads``):
the matrices are small, the classifier is one thread, and more threads would
only fight torch's for the cores.

A fast path (``gateway/fastpaths.py``): ``fast_paths.compiled_ner: false`` (or
``GATEWAY_FAST_PATHS=off``) runs spaCy's component instead. The layers are
compiled in ``fastner_layers.py``; spaCy's private modules (the parser's step
model, ``BiluoPushDown``) are imported where they are used, never at import.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy
from spacy.attrs import IS_SPACE, SENT_START
from spacy.tokens import Doc, Span

from gateway.classify.fastner_layers import (
    TOKEN_ROWS,
    TokenRows,
    Unsupported,
    _layer_kind,
    _param,
    _transposed,
    compile_layer,
    compile_tok2vec,
)

if TYPE_CHECKING:
    from spacy.language import Language

logger = logging.getLogger("gateway.classify")

__all__ = [
    "TOKEN_ROWS", "CompiledNer", "TokenRows", "Unsupported", "compile_layer", "compile_ner", "compile_tok2vec",
    "limit_blas_threads",
]  # fmt: skip


# -- the parser ----------------------------------------------------------------


class CompiledNer:
    """``__call__(docs)`` sets each doc's entities, as the spaCy component would."""

    def __init__(self, component: Any, *, token_rows: int = TOKEN_ROWS, biluo: bool = True) -> None:
        model = component.model
        if component.cfg.get("beam_width", 1) != 1:
            raise Unsupported("beam search")
        if not model.attrs.get("has_upper", False) or len(model.layers) != 3:
            raise Unsupported("a parser model without its output layer")
        tok2vec, lower, upper = model.get_ref("tok2vec"), model.get_ref("lower"), model.get_ref("upper")
        if lower.name != "precomputable_affine" or _layer_kind(upper) != "linear":
            raise Unsupported(f"parser layers {lower.name!r}, {upper.name!r}")
        self._component = component
        # spaCy's private modules, imported here and not at import: a spaCy that moved them makes
        # ``compile_ner`` fall back to spaCy's component (ImportError), not the gateway fail to start.
        from spacy.ml.parser_model import ParserStepModel

        self._get_token_ids = ParserStepModel.get_token_ids
        self._tok2vec, self.token_rows = compile_tok2vec(tok2vec, token_rows)
        self._features = lower.get_dim("nF")
        self._hidden = lower.get_dim("nO")
        self._pieces = lower.get_dim("nP")
        width = self._hidden * self._pieces
        self._lower_weights = _transposed(_param(lower, "W").reshape(self._features * width, lower.get_dim("nI")))
        self._lower_pad = numpy.squeeze(_param(lower, "pad"), 0).reshape(self._features, width)
        self._lower_bias = _param(lower, "b").reshape(width)
        self._upper_weights = _transposed(_param(upper, "W"))
        self._upper_bias = _param(upper, "b")
        self._unseen = sorted(model.attrs.get("unseen_classes", ()))
        self._columns = numpy.arange(self._features)
        self._ids_shim = types.SimpleNamespace(state2vec=types.SimpleNamespace(nF=self._features))
        self.biluo = _BiluoMoves.of(component, self._features) if biluo else None

    def __call__(self, docs: Sequence[Doc]) -> None:
        docs = list(docs)
        component = self._component
        component._ensure_labels_are_added(docs)
        if self.biluo is not None and not any(doc.has_annotation("ENT_IOB") for doc in docs):
            self._decode_biluo(docs)
            return
        batch = component.moves.init_batch(docs)
        if any(len(doc) for doc in docs):
            self._decode(batch, self._tok2vec(docs))
        component.set_annotations(docs, batch)

    def _precompute(self, tokvecs: numpy.ndarray) -> numpy.ndarray:
        """Every token's contribution to the hidden layer, per feature slot; row 0 is the padding."""
        width = self._hidden * self._pieces
        cached = numpy.empty((tokvecs.shape[0] + 1, self._features * width), dtype="float32")
        numpy.dot(tokvecs, self._lower_weights, out=cached[1:])
        cached = cached.reshape(cached.shape[0], self._features, width)
        cached[0] = self._lower_pad
        return cached

    def _scores(self, unmaxed: numpy.ndarray) -> numpy.ndarray:
        """The moves' scores from the summed hidden inputs (bias added here), one row per state."""
        unmaxed += self._lower_bias
        hidden = unmaxed[:, 0 :: self._pieces]
        for piece in range(1, self._pieces):
            hidden = numpy.maximum(hidden, unmaxed[:, piece :: self._pieces])
        scores = numpy.dot(hidden, self._upper_weights)
        scores += self._upper_bias
        if self._unseen:
            # spaCy gives the classes it never saw in training the lowest score of the step;
            # here, of the state's own row (the same when states are scored one at a time).
            scores[:, self._unseen] = scores.min(axis=1, keepdims=True)
        return scores

    def _decode(self, batch: list[Any], tokvecs: numpy.ndarray) -> None:
        """Any transition system: one step of every unfinished state at a time, through spaCy's."""
        cached = self._precompute(tokvecs)
        transition = self._component.transition_states
        get_ids = self._get_token_ids
        states = [state for state in batch if not state.is_final()]
        while states:
            ids = get_ids(self._ids_shim, states)
            ids += 1  # -1 (no token) is row 0, the padding
            # (states, features, hidden * pieces), summed in spaCy's order: feature 0, 1, 2..., then the bias
            unmaxed = numpy.add.reduce(cached[ids, self._columns], axis=1)
            states = transition(states, self._scores(unmaxed))

    def _decode_biluo(self, docs: list[Doc]) -> None:
        """spaCy's greedy BILUO decoding, with every state outside an entity scored at once.

        The NER model's features are (first token of the buffer, first token of the open
        entity, the token before the buffer), the last two absent when no entity is open
        (``StateC.set_context_tokens``). Outside an entity, then, the state at token ``i``
        is the same whatever came before, and one product scores all of them; only the
        tokens inside an entity, few, need the entity's start (``_entity_end``). The moves'
        validity is ``BiluoPushDown``'s for documents without preset entities
        (``_BiluoMoves``); a document with preset entities goes through ``_decode``.
        """
        moves = self.biluo
        assert moves is not None
        lengths = [len(doc) for doc in docs]
        if not any(lengths):
            for doc in docs:
                self._annotate(doc, [])
            return
        cached = self._precompute(self._tok2vec(docs))
        # Outside an entity: features (token, none, none), then the bias, in spaCy's order.
        unmaxed = cached[1:, 0] + cached[0, 1]
        unmaxed += cached[0, 2]
        scores = self._scores(unmaxed)
        # per token: may an entity start here (B), may a one-token entity be here (U)
        not_space, starts, ends_sentence = moves.token_flags(docs, lengths)
        valid = moves.outside | (moves.begin & starts[:, None]) | (moves.unit & not_space[:, None])
        choices = numpy.where(valid, scores, -numpy.inf).argmax(axis=1).tolist()
        offset = 0
        for doc, length in zip(docs, lengths, strict=True):
            spans: list[tuple[int, int, str]] = []
            i = 0
            while i < length:
                choice = choices[offset + i]
                kind = moves.kinds[choice]
                if kind == _BEGIN:
                    end = self._entity_end(cached, offset, length, i, choice, ends_sentence)
                    spans.append((i, end, moves.labels[choice]))
                    i = end
                    continue
                if kind == _UNIT:
                    spans.append((i, i + 1, moves.labels[choice]))
                i += 1
            self._annotate(doc, spans)
            offset += length

    def _entity_end(
        self, cached: numpy.ndarray, offset: int, length: int, start: int, begin: int, ends_sentence: numpy.ndarray
    ) -> int:
        """Where the entity opened at ``start`` by move ``begin`` ends: In until a Last move.

        Only the entity's own In and Last are valid inside it; In not on the document's last
        token, nor before a sentence start. The next few tokens are scored at once.
        """
        moves = self.biluo
        assert moves is not None
        inside, last = moves.inside_of[begin], moves.last_of[begin]
        opened = cached[offset + start + 1, 1]
        position, ahead = start + 1, 4
        while True:
            stop = min(length, position + ahead)
            rows = numpy.arange(offset + position, offset + stop)
            # features (token, the entity's first token, the token before), as spaCy sums them
            unmaxed = cached[rows + 1, 0] + opened
            unmaxed += cached[rows, 2]
            pair = self._scores(unmaxed)[:, (inside, last)].tolist()
            for token, (in_score, last_score) in zip(range(position, stop), pair, strict=True):
                in_valid = token < length - 1 and not ends_sentence[offset + token]
                if in_valid and (in_score > last_score or (in_score == last_score and inside < last)):
                    continue
                return token + 1
            position, ahead = stop, ahead * 2

    def _annotate(self, doc: Doc, spans: list[tuple[int, int, str]]) -> None:
        """``BiluoPushDown.set_annotations`` for a document without preset entities."""
        doc.set_ents([Span(doc, start, end, label=label) for start, end, label in spans], default="outside")
        for hook in self._component.postprocesses:
            hook(doc)


_BEGIN, _INSIDE, _LAST, _UNIT, _OUT = range(5)
_MOVE_KINDS = {"B": _BEGIN, "I": _INSIDE, "L": _LAST, "U": _UNIT}


class _BiluoMoves:
    """The classes of a ``BiluoPushDown`` transition system, as arrays for ``_decode_biluo``."""

    def __init__(self, names: Sequence[str]) -> None:
        self.kinds: list[int] = []
        self.labels: list[str] = []
        for name in names:
            if name == "O":
                kind, label = _OUT, ""
            else:
                move, _, label = name.partition("-")
                if move not in _MOVE_KINDS:
                    raise Unsupported(f"move {name!r}")
                kind = _MOVE_KINDS[move]
            self.kinds.append(kind)
            self.labels.append(label)
        kinds = numpy.array(self.kinds)
        labelled = numpy.array([bool(label) for label in self.labels], dtype=bool)
        self.outside = kinds == _OUT
        # A move without a label ("U-") is valid only on a preset blocked token: never here.
        self.begin = (kinds == _BEGIN) & labelled
        self.unit = (kinds == _UNIT) & labelled
        index = {(kind, label): i for i, (kind, label) in enumerate(zip(self.kinds, self.labels, strict=True))}
        self.inside_of: dict[int, int] = {}
        self.last_of: dict[int, int] = {}
        for i, (kind, label) in enumerate(zip(self.kinds, self.labels, strict=True)):
            if kind == _BEGIN and label:
                if (_INSIDE, label) not in index or (_LAST, label) not in index:
                    raise Unsupported(f"B-{label} without I-{label} and L-{label}")
                self.inside_of[i], self.last_of[i] = index[(_INSIDE, label)], index[(_LAST, label)]

    @classmethod
    def of(cls, component: Any, features: int) -> _BiluoMoves | None:
        """The moves of ``component``'s transition system, or ``None`` when it is not the NER's."""
        from spacy.pipeline._parser_internals.ner import BiluoPushDown  # private: imported only where used

        if type(component.moves) is not BiluoPushDown or features != 3:
            return None
        moves = component.moves
        try:
            return cls([moves.get_class_name(i) for i in range(moves.n_moves)])
        except Unsupported as exc:
            logger.info("NER decodes step by step (%s)", exc)
            return None

    @staticmethod
    def token_flags(docs: Sequence[Doc], lengths: Sequence[int]) -> tuple[numpy.ndarray, ...]:
        """Per token of the batch: not whitespace (B and U may be there); B may be there (not
        whitespace, not the document's last token, the next not a sentence start); the next
        token is a sentence start (In may not be there)."""
        rows = [
            doc.to_array(_TOKEN_FLAGS).reshape(length, 2) for doc, length in zip(docs, lengths, strict=True) if length
        ]
        flags = numpy.concatenate(rows).view("int64")
        not_space = flags[:, 0] == 0
        ends_sentence = numpy.zeros(len(flags), dtype=bool)
        ends_sentence[:-1] = flags[1:, 1] == 1
        last = numpy.cumsum([length for length in lengths if length]) - 1
        ends_sentence[last] = False  # the next token is another document's
        starts = not_space & ~ends_sentence
        starts[last] = False
        return not_space, starts, ends_sentence


_TOKEN_FLAGS = [IS_SPACE, SENT_START]


def compile_ner(nlp: Language, name: str = "ner") -> CompiledNer | None:
    """A ``CompiledNer`` for ``nlp``'s component ``name``, or ``None`` (then run spaCy's)."""
    try:
        return CompiledNer(nlp.get_pipe(name))
    except (Unsupported, KeyError, AttributeError, ValueError, ImportError) as exc:
        logger.info("NER runs through spaCy (not compiled: %s)", exc)
        return None


def limit_blas_threads() -> None:
    """Limit numpy's BLAS to one thread (module docstring); torch's own pool is left alone."""
    from threadpoolctl import ThreadpoolController

    numpy_dir = numpy.__file__.rsplit("/", 2)[0]
    for library in ThreadpoolController().lib_controllers:
        if library.user_api == "blas" and str(library.filepath).startswith(numpy_dir):
            library.set_num_threads(1)
