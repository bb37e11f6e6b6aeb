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
weights (the arrays themselves, not copies) and the same kernels (thinc's
own ``hash``, ``gather_add``, ``maxout``, ``seq2col``; numpy's ``dot`` for the
products), evaluated by straight-line closures, and decoded with spaCy's own
transition system (``Parser.transition_states``: move validity, argmax, the
move), called with the GIL held. Its entities are spaCy's (the test suite
compares them over a corpus; products may differ from BLIS's in the last
bit, which an argmax over 74 moves does not see).

Only layers this module knows are compiled: anything else (static vectors,
a transformer, a tok2vec listener, beam search, a model without an output
layer) makes ``compile_ner`` return ``None`` and spaCy runs the component as
it is. numpy's OpenBLAS is limited to one thread (``limit_blas_threads``):
the matrices are small, the classifier is one thread, and more threads would
only fight torch's for the cores.
"""

from __future__ import annotations

import importlib
import logging
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy
from spacy.language import Language
from spacy.ml.parser_model import ParserStepModel
from spacy.tokens import Doc
from thinc.api import Model, NumpyOps

logger = logging.getLogger("gateway.classify")

_OPS = NumpyOps(use_blis=False)
Step = Callable[[Any], Any]


class Unsupported(Exception):
    """A layer or setting this module does not compile."""


class _Ragged(NamedTuple):
    data: numpy.ndarray
    lengths: numpy.ndarray


# -- the layers ----------------------------------------------------------------


# The layers compiled, by the module whose ``forward`` thinc calls for them.
_KINDS = {
    "thinc.layers.chain": "chain",
    "thinc.layers.with_array": "with_array",
    "thinc.layers.concatenate": "concatenate",
    "thinc.layers.array_getitem": "getitem",
    "thinc.layers.hashembed": "hashembed",
    "thinc.layers.maxout": "maxout",
    "thinc.layers.layernorm": "layernorm",
    "thinc.layers.dropout": "dropout",
    "thinc.layers.residual": "residual",
    "thinc.layers.expand_window": "expand_window",
    "thinc.layers.list2ragged": "list2ragged",
    "thinc.layers.ragged2list": "ragged2list",
    "thinc.layers.list2array": "list2array",
    "thinc.layers.linear": "linear",
    "spacy.ml.featureextractor": "extract_features",
}
_FORWARDS = {importlib.import_module(module).forward: kind for module, kind in _KINDS.items()}


def _layer_kind(model: Model) -> str:
    kind = _FORWARDS.get(model._func)
    if kind is None:
        raise Unsupported(f"layer {model.name!r}")
    return kind


def _param(model: Model, name: str) -> numpy.ndarray:
    """A layer's parameter as the array it is (no copy: the compiled network shares the model's)."""
    return numpy.asarray(model.get_param(name))


def compile_layer(model: Model) -> Step:
    """A forward function (inference only) for ``model`` and its sublayers."""
    kind = _layer_kind(model)
    return _COMPILERS[kind](model)


def _compile_chain(model: Model) -> Step:
    return _sequence([compile_layer(layer) for layer in model.layers])


def _compile_with_array(model: Model) -> Step:
    inner = compile_layer(model.layers[0])
    pad = int(model.attrs.get("pad", 0))

    def run(x: Any) -> Any:
        if isinstance(x, _Ragged):
            return _Ragged(inner(x.data), x.lengths)
        if isinstance(x, list):
            lengths = _OPS.asarray1i([len(seq) for seq in x])
            return _OPS.unflatten(inner(_OPS.flatten(x, pad=pad)), lengths, pad=pad)
        if isinstance(x, numpy.ndarray):
            return inner(x)
        raise TypeError(f"with_array: unexpected {type(x).__name__}")

    return run


def _compile_concatenate(model: Model) -> Step:
    parts = tuple(compile_layer(layer) for layer in model.layers)

    def run(x: numpy.ndarray) -> numpy.ndarray:
        if not isinstance(x, numpy.ndarray):
            raise TypeError("concatenate: only arrays are compiled")
        return numpy.hstack([part(x) for part in parts])

    return run


def _compile_getitem(model: Model) -> Step:
    index = model.attrs["index"]
    return lambda x: x[index]


def _compile_hashembed(model: Model) -> Step:
    table = _param(model, "E")
    rows, width = table.shape
    seed = int(model.attrs["seed"])

    def run(ids: numpy.ndarray) -> numpy.ndarray:
        if len(ids) == 0:
            return _OPS.alloc2f(0, width, dtype=table.dtype)
        keys = _OPS.hash(_OPS.as_contig(ids, dtype="uint64"), seed) % rows
        return _OPS.gather_add(table, keys)

    return run


def _compile_maxout(model: Model) -> Step:
    n_out, pieces, n_in = model.get_dim("nO"), model.get_dim("nP"), model.get_dim("nI")
    weights = _param(model, "W").reshape(n_out * pieces, n_in)
    bias = _param(model, "b").reshape(n_out * pieces)

    def run(x: numpy.ndarray) -> numpy.ndarray:
        y = numpy.dot(x, weights.T)
        y += bias
        best, _ = _OPS.maxout(y.reshape(y.shape[0], n_out, pieces))
        return best

    return run


def _compile_layernorm(model: Model) -> Step:
    gain, bias = _param(model, "G"), _param(model, "b")

    def run(x: numpy.ndarray) -> numpy.ndarray:
        # thinc's (X - mean) * (var + 1e-08) ** -0.5 * G + b, with numpy's mean and var taken
        # apart so that the mean and the deviations are computed once, in the same operations.
        count = numpy.intp(x.shape[1])
        mu = numpy.add.reduce(x, axis=1, keepdims=True)
        numpy.true_divide(mu, count, out=mu, casting="unsafe")
        dev = x - mu
        var = numpy.add.reduce(dev * dev, axis=1, keepdims=True)
        numpy.true_divide(var, count, out=var, casting="unsafe")
        var += 1e-08
        y = dev * var ** (-1.0 / 2.0)
        y = y * gain
        y += bias
        return y

    return run


def _compile_residual(model: Model) -> Step:
    inner = compile_layer(model.layers[0])

    def run(x: numpy.ndarray) -> numpy.ndarray:
        if not isinstance(x, numpy.ndarray):
            raise TypeError("residual: only arrays are compiled")
        return x + inner(x)

    return run


def _compile_expand_window(model: Model) -> Step:
    window = int(model.attrs["window_size"])

    def run(x: numpy.ndarray) -> numpy.ndarray:
        if len(x) == 0:
            return _OPS.tile(x, window * 2 + 1)
        return _OPS.seq2col(x, window)

    return run


def _compile_linear(model: Model) -> Step:
    weights, bias = _param(model, "W"), _param(model, "b")

    def run(x: numpy.ndarray) -> numpy.ndarray:
        y = numpy.dot(x, weights.T)
        y += bias
        return y

    return run


def _compile_extract_features(model: Model) -> Step:
    columns = model.attrs["columns"]

    def run(docs: Sequence[Doc]) -> list[numpy.ndarray]:
        features = []
        for doc in docs:
            attrs = doc.to_array(columns)
            if attrs.ndim == 1:
                attrs = attrs.reshape((attrs.shape[0], 1))
            features.append(_OPS.asarray2i(attrs, dtype="uint64"))
        return features

    return run


def _compile_list2ragged(model: Model) -> Step:
    return lambda xs: _Ragged(_OPS.flatten(xs), _OPS.asarray1i([len(x) for x in xs]))


def _compile_ragged2list(model: Model) -> Step:
    return lambda xr: _unflatten(xr.data, xr.lengths)


def _unflatten(data: numpy.ndarray, lengths: numpy.ndarray) -> list[numpy.ndarray]:
    """``Ops.unflatten`` without padding, by slicing (``numpy.split`` costs more for a few rows)."""
    out, start = [], 0
    for length in lengths.tolist():
        out.append(data[start : start + length])
        start += length
    return out


def _compile_list2array(model: Model) -> Step:
    return lambda xs: _OPS.flatten(xs)


def _compile_identity(model: Model) -> Step:  # dropout: nothing at inference
    return lambda x: x


_COMPILERS: dict[str, Callable[[Model], Step]] = {
    "chain": _compile_chain,
    "with_array": _compile_with_array,
    "concatenate": _compile_concatenate,
    "getitem": _compile_getitem,
    "hashembed": _compile_hashembed,
    "maxout": _compile_maxout,
    "layernorm": _compile_layernorm,
    "dropout": _compile_identity,
    "residual": _compile_residual,
    "expand_window": _compile_expand_window,
    "linear": _compile_linear,
    "extract_features": _compile_extract_features,
    "list2ragged": _compile_list2ragged,
    "ragged2list": _compile_ragged2list,
    "list2array": _compile_list2array,
}


# -- the tok2vec: its per-token head remembered ---------------------------------------

# Layers that map each row of their input to a row of output, whatever the other rows.
_ROW_WISE = {"chain", "concatenate", "getitem", "hashembed", "maxout", "layernorm", "dropout", "linear"}
TOKEN_ROWS = 16_384  # tokens whose embedding rows are remembered (about 6 MB with the sm model)


def _leaves(model: Model) -> list[Model]:
    """A chain's layers in order, nested chains flattened (a chain of chains is one chain)."""
    if _layer_kind(model) == "chain":
        return [leaf for layer in model.layers for leaf in _leaves(layer)]
    return [model]


def _row_wise(model: Model) -> bool:
    kind = _layer_kind(model)
    if kind == "getitem":
        index = model.attrs["index"]
        return isinstance(index, tuple) and len(index) == 2 and index[0] == slice(0, None) and isinstance(index[1], int)
    return kind in _ROW_WISE and all(_row_wise(layer) for layer in model.layers)


class TokenRows:
    """The per-token head of a Tok2Vec (hash embeddings of a token's attributes, then the
    maxout that mixes them, ``MultiHashEmbed``), remembered per distinct attribute row.

    Those layers see one token at a time (the convolutions that look at neighbours come
    after), so a token's row depends on its four attribute values only, and most tokens of
    a prompt are words seen before. A row is computed once by the same steps and then
    copied: about half a millisecond of a short prompt's 2 ms Tok2Vec. At most ``capacity``
    rows are kept in one preallocated table; the oldest make way (memory stays fixed).
    """

    def __init__(self, columns: Sequence[Any], steps: Sequence[Step], capacity: int = TOKEN_ROWS) -> None:
        self._columns = list(columns)
        self._steps = tuple(steps)
        self._capacity = capacity
        probe = self._compute(numpy.zeros((1, len(self._columns)), dtype="uint64"))
        self._table = numpy.empty((capacity, probe.shape[1]), dtype=probe.dtype)
        self._slots: dict[tuple[int, ...], int] = {}
        self._owners: list[tuple[int, ...] | None] = [None] * capacity
        self._next = 0
        self._lock = threading.Lock()

    def _compute(self, features: numpy.ndarray) -> numpy.ndarray:
        x: Any = features
        for step in self._steps:
            x = step(x)
        return numpy.asarray(x)

    def __call__(self, docs: Sequence[Doc]) -> list[numpy.ndarray]:
        return [self._rows(doc) for doc in docs]

    def _rows(self, doc: Doc) -> numpy.ndarray:
        features = doc.to_array(self._columns)
        if features.ndim == 1:
            features = features.reshape((features.shape[0], 1))
        features = _OPS.asarray2i(features, dtype="uint64")
        keys = list(map(tuple, features.tolist()))
        with self._lock:
            slots = [self._slots.get(key, -1) for key in keys]
            out = self._table.take(slots, axis=0)  # -1 picks a row that is overwritten below
            missing: dict[tuple[int, ...], list[int]] = {}
            for position, (key, slot) in enumerate(zip(keys, slots, strict=True)):
                if slot < 0:
                    missing.setdefault(key, []).append(position)
            if not missing:
                return out
            computed = self._compute(features[[positions[0] for positions in missing.values()]])
            for (key, positions), row in zip(missing.items(), computed, strict=True):
                out[positions] = row
                self._remember(key, row)
        return out

    def _remember(self, key: tuple[int, ...], row: numpy.ndarray) -> None:
        slot = self._next
        self._next = (slot + 1) % self._capacity
        evicted = self._owners[slot]
        if evicted is not None:
            del self._slots[evicted]
        self._owners[slot] = key
        self._slots[key] = slot
        self._table[slot] = row


def compile_tok2vec(model: Model, token_rows: int = TOKEN_ROWS) -> tuple[Step, TokenRows | None]:
    """``compile_layer`` for a Tok2Vec, with its per-token head remembered (``TokenRows``, also
    returned) when it starts as spaCy's ``MultiHashEmbed`` does: features, then row-wise layers."""
    leaves = _leaves(model)
    kinds = [_layer_kind(leaf) for leaf in leaves]
    if token_rows > 0 and kinds[:2] == ["extract_features", "list2ragged"]:
        end = 2
        while end < len(leaves) and kinds[end] == "with_array" and int(leaves[end].attrs.get("pad", 0)) == 0:
            if not _row_wise(leaves[end].layers[0]):
                break
            end += 1
        if end > 2 and end < len(leaves) and kinds[end] == "ragged2list":
            head = TokenRows(
                leaves[0].attrs["columns"], [compile_layer(leaf.layers[0]) for leaf in leaves[2:end]], token_rows
            )
            return _sequence([head, *(compile_layer(leaf) for leaf in leaves[end + 1 :])]), head
    return compile_layer(model), None


def _sequence(steps: Sequence[Step]) -> Step:
    steps = tuple(steps)

    def run(x: Any) -> Any:
        for step in steps:
            x = step(x)
        return x

    return run


# -- the parser ----------------------------------------------------------------


class CompiledNer:
    """``__call__(docs)`` sets each doc's entities, as the spaCy component would."""

    def __init__(self, component: Any, *, token_rows: int = TOKEN_ROWS) -> None:
        model = component.model
        if component.cfg.get("beam_width", 1) != 1:
            raise Unsupported("beam search")
        if not model.attrs.get("has_upper", False) or len(model.layers) != 3:
            raise Unsupported("a parser model without its output layer")
        tok2vec, lower, upper = model.get_ref("tok2vec"), model.get_ref("lower"), model.get_ref("upper")
        if lower.name != "precomputable_affine" or _layer_kind(upper) != "linear":
            raise Unsupported(f"parser layers {lower.name!r}, {upper.name!r}")
        self._component = component
        self._tok2vec, self.token_rows = compile_tok2vec(tok2vec, token_rows)
        self._features = lower.get_dim("nF")
        self._hidden = lower.get_dim("nO")
        self._pieces = lower.get_dim("nP")
        width = self._hidden * self._pieces
        self._lower_weights = _param(lower, "W").reshape(self._features * width, lower.get_dim("nI"))
        self._lower_pad = numpy.squeeze(_param(lower, "pad"), 0).reshape(self._features, width)
        self._lower_bias = _param(lower, "b").reshape(width)
        self._upper_weights = _param(upper, "W")
        self._upper_bias = _param(upper, "b")
        self._unseen = sorted(model.attrs.get("unseen_classes", ()))
        self._columns = numpy.arange(self._features)
        self._ids_shim = types.SimpleNamespace(state2vec=types.SimpleNamespace(nF=self._features))

    def __call__(self, docs: Sequence[Doc]) -> None:
        docs = list(docs)
        component = self._component
        component._ensure_labels_are_added(docs)
        batch = component.moves.init_batch(docs)
        if any(len(doc) for doc in docs):
            self._decode(batch, self._tok2vec(docs))
        component.set_annotations(docs, batch)

    def _precompute(self, tokvecs: numpy.ndarray) -> numpy.ndarray:
        """Every token's contribution to the hidden layer, per feature slot; row 0 is the padding."""
        width = self._hidden * self._pieces
        cached = numpy.empty((tokvecs.shape[0] + 1, self._features * width), dtype="float32")
        numpy.dot(tokvecs, self._lower_weights.T, out=cached[1:])
        cached = cached.reshape(cached.shape[0], self._features, width)
        cached[0] = self._lower_pad
        return cached

    def _decode(self, batch: list[Any], tokvecs: numpy.ndarray) -> None:
        cached = self._precompute(tokvecs)
        transition = self._component.transition_states
        get_ids = ParserStepModel.get_token_ids
        states = [state for state in batch if not state.is_final()]
        while states:
            ids = get_ids(self._ids_shim, states)
            ids += 1  # -1 (no token) is row 0, the padding
            # (states, features, hidden * pieces), summed in spaCy's order: feature 0, 1, 2..., then the bias
            unmaxed = numpy.add.reduce(cached[ids, self._columns], axis=1)
            unmaxed += self._lower_bias
            hidden = unmaxed[:, 0 :: self._pieces]
            for piece in range(1, self._pieces):
                hidden = numpy.maximum(hidden, unmaxed[:, piece :: self._pieces])
            scores = numpy.dot(hidden, self._upper_weights.T)
            scores += self._upper_bias
            if self._unseen:
                scores[:, self._unseen] = scores.min()
            states = transition(states, scores)


def compile_ner(nlp: Language, name: str = "ner") -> CompiledNer | None:
    """A ``CompiledNer`` for ``nlp``'s component ``name``, or ``None`` (then run spaCy's)."""
    try:
        return CompiledNer(nlp.get_pipe(name))
    except (Unsupported, KeyError, AttributeError, ValueError) as exc:
        logger.info("NER runs through spaCy (not compiled: %s)", exc)
        return None


def limit_blas_threads() -> None:
    """Limit numpy's BLAS to one thread (module docstring); torch's own pool is left alone."""
    from threadpoolctl import ThreadpoolController

    numpy_dir = numpy.__file__.rsplit("/", 2)[0]
    for library in ThreadpoolController().lib_controllers:
        if library.user_api == "blas" and str(library.filepath).startswith(numpy_dir):
            library.set_num_threads(1)
