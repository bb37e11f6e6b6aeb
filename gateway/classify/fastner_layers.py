"""The layers of spaCy's NER network compiled to closures over numpy (``fastner.py`` runs them).

``compile_layer`` turns a thinc ``Model`` into a forward function for
inference, layer kind by layer kind (chains, hash embeddings, maxout,
layernorm, residual convolutions, ...); anything else is ``Unsupported`` and
the caller falls back to spaCy. ``compile_tok2vec`` adds ``TokenRows``: the
per-token head of a Tok2Vec remembered per distinct token.

thinc's layer modules, and spaCy's feature extractor, are looked up the first
time a layer is compiled (``_forwards``), not when this module is imported: a
gateway that runs spaCy's own component (``fast_paths.compiled_ner: false``)
never touches them. A bump of spaCy or thinc re-runs the oracle tests
(``tests/classify/test_fastner.py``, ``make oracles``).
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy
from spacy.tokens import Doc
from thinc.api import Model, NumpyOps

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


@functools.cache
def _forwards() -> dict[Any, str]:
    """Each known layer's ``forward``, imported on first use (module docstring)."""
    return {importlib.import_module(module).forward: kind for module, kind in _KINDS.items()}


def _layer_kind(model: Model) -> str:
    kind = _forwards().get(model._func)
    if kind is None:
        raise Unsupported(f"layer {model.name!r}")
    return kind


def _param(model: Model, name: str) -> numpy.ndarray:
    """A layer's parameter as the array it is (no copy: the compiled network shares the model's)."""
    return numpy.asarray(model.get_param(name))


def _transposed(weights: numpy.ndarray) -> numpy.ndarray:
    """``weights.T`` laid out in memory as such: OpenBLAS multiplies by it about a third faster
    than by the transposed view (0.07 against 0.10 ms for a prompt's 35 x 288 by 288 x 288)."""
    return numpy.ascontiguousarray(weights.T)


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
    # thinc's rows are (output, piece); ours (piece, output), so that each piece's outputs are
    # one block of columns and the max over pieces is a few elementwise maxima of blocks
    # (thinc's maxout kernel, which also records the argmax for training, costs four times as
    # much). Each output is the same product either way, only its column moves.
    weights = _param(model, "W").reshape(n_out, pieces, n_in).transpose(1, 0, 2).reshape(pieces * n_out, n_in)
    weights = _transposed(weights)
    bias = numpy.ascontiguousarray(_param(model, "b").reshape(n_out, pieces).T.reshape(pieces * n_out))
    blocks = [slice(piece * n_out, (piece + 1) * n_out) for piece in range(pieces)]

    def run(x: numpy.ndarray) -> numpy.ndarray:
        y = numpy.dot(x, weights)
        y += bias
        if pieces == 1:
            return y
        best = numpy.maximum(y[:, blocks[0]], y[:, blocks[1]])
        for block in blocks[2:]:
            numpy.maximum(best, y[:, block], out=best)
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
    weights, bias = _transposed(_param(model, "W")), _param(model, "b")

    def run(x: numpy.ndarray) -> numpy.ndarray:
        y = numpy.dot(x, weights)
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
