"""An open model in the gateway's own process, served with transformers and continuous batching.

``TransformersAdapter`` loads a local model directory (see ``adapters.local_models``)
and runs it on one dedicated engine thread, off the event loop. The engine keeps
one batch of running sequences and one shared KV cache; between two decoding
steps it drops finished or cancelled sequences and admits waiting ones
(prefilled together, then merged into the batch by left-padding their cache).
Each sequence streams its own text to its own consumer.

Request semantics, for what OpenAI leaves to the server:

- ``temperature`` 0 means greedy. Absent, the model's own ``generation_config``
  decides (as vLLM does): SmolLM2's is greedy. ``top_p`` applies when sampling.
- ``seed`` makes sampling repeatable for the same request on the same batch
  composition; other sequences in the batch can change the last bits of the
  logits, so it is best effort across different loads, like OpenAI's.
- ``stop`` (a string or a list): the text is cut before the first stop string,
  which is never emitted, even when it spans tokens.
- ``max_completion_tokens`` (else ``max_tokens``, else the adapter default) is
  capped by the model's context; reaching it gives ``finish_reason="length"``.
- ``usage.prompt_tokens`` is the templated prompt's length; ``completion_tokens``
  counts every generated token, the end-of-sequence token included (as vLLM does).
- Only text: image parts are refused, ``tools`` are not offered to the model.

Admission control: at most ``max_queue`` requests wait for a place in the batch;
beyond that ``stream`` raises ``Overloaded`` with a ``Retry-After`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if "torch" not in sys.modules:
    # OpenMP's idle threads spin by default; next to the event loop and other work on a
    # few cores that makes every decoding step stall (measured: 10x slower). The runtime
    # reads this once, when torch is first imported; entry points should set it too.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # after the OpenMP setting above
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.cache_utils import DynamicCache, DynamicLayer

from adapters.base import Adapter, Chunk, ModelCall, Usage
from adapters.local_models import LocalModelError, LocalModelNotFound
from gateway.errors import GatewayError, Overloaded, UpstreamError, UpstreamTimeout

logger = logging.getLogger(__name__)

_DETOKENIZE_CONTEXT = 5  # prompt tokens decoded before the answer, so its first word gets its space
_PREFILL_TOKEN_BUDGET = 2048  # padded prompt tokens prefilled in one step, beyond the first request


def _bad_request(message: str) -> UpstreamError:
    return UpstreamError(message, retryable=False, upstream_status=400)


@dataclass(frozen=True, slots=True)
class SamplingDefaults:
    """What the model's ``generation_config`` asks for when a request does not say."""

    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0

    @classmethod
    def from_model(cls, model: PreTrainedModel) -> SamplingDefaults:
        config = model.generation_config
        if not getattr(config, "do_sample", False):
            return cls()
        return cls(
            temperature=float(getattr(config, "temperature", None) or 1.0),
            top_p=float(getattr(config, "top_p", None) or 1.0),
        )


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """One request's generation parameters, validated."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], *, default_max: int, limit: int, defaults: SamplingDefaults
    ) -> GenerationOptions:
        """Read OpenAI parameters; raise a non-retryable ``UpstreamError`` on bad values."""
        requested = params.get("max_completion_tokens")
        if requested is None:
            requested = params.get("max_tokens")
        max_new = default_max if requested is None else requested
        if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
            raise _bad_request("max_tokens must be a positive integer")

        temperature = params.get("temperature")
        temperature = defaults.temperature if temperature is None else temperature
        top_p = params.get("top_p")
        top_p = defaults.top_p if top_p is None else top_p
        if not _is_number(temperature) or temperature < 0:
            raise _bad_request("temperature must be a number >= 0")
        if not _is_number(top_p) or not 0 < top_p <= 1:
            raise _bad_request("top_p must be a number in (0, 1]")

        seed = params.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise _bad_request("seed must be an integer")
        if params.get("n") not in (None, 1):
            raise _bad_request("the local model returns one choice: n must be 1")

        stop = params.get("stop")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if not all(isinstance(s, str) for s in stops):
            raise _bad_request("stop must be a string or a list of strings")
        return cls(
            max_new_tokens=min(max_new, limit),
            temperature=float(temperature),
            top_p=float(top_p),
            seed=seed,
            stop=tuple(s for s in stops if s),
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class TextStream:
    """Turns generated token ids into text deltas, holding back what is not final yet.

    Text is held back while it ends in an incomplete UTF-8 sequence (a token can
    carry half a character) and while it could be the start of a stop string.
    ``push`` returns the new final text and whether a stop string was reached;
    the stop string and anything after it are never returned.
    """

    def __init__(self, tokenizer: Any, context_ids: Iterable[int], stop: tuple[str, ...]) -> None:
        self._tokenizer = tokenizer
        self._ids = list(context_ids)
        self._prefix = 0  # ids[prefix:read] were already turned into text
        self._read = len(self._ids)
        self._stop = stop
        self._held = ""

    def push(self, token_id: int) -> tuple[str, bool]:
        self._ids.append(token_id)
        seen = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        if len(text) <= len(seen) or text.endswith("\ufffd"):
            return "", False
        self._prefix, self._read = self._read, len(self._ids)
        return self._screen(text[len(seen) :])

    def flush(self) -> tuple[str, bool]:
        """The rest of the text at the end of generation, incomplete characters included."""
        tail = ""
        if self._read < len(self._ids):
            seen = self._decode(self._ids[self._prefix : self._read])
            tail = self._decode(self._ids[self._prefix :])[len(seen) :]
            self._prefix = self._read = len(self._ids)
        text, hit = self._screen(tail)
        if hit:
            return text, True
        text, self._held = text + self._held, ""
        return text, False

    def _decode(self, ids: list[int]) -> str:
        text: str = self._tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return text

    def _screen(self, delta: str) -> tuple[str, bool]:
        text = self._held + delta
        if not self._stop:
            return text, False
        hits = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        if hits:
            self._held = ""
            return text[: min(hits)], True
        keep = 0
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(text)), keep, -1):
                if text.endswith(stop[:size]):
                    keep = size
                    break
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep], False


class EngineRequest:
    """One request inside the engine: its prompt, options, decoding state and consumer.

    ``cancelled`` is the only field written from outside the engine thread.
    """

    def __init__(
        self,
        prompt_ids: list[int],
        options: GenerationOptions,
        text: TextStream,
        deliver: Callable[[Chunk | GatewayError], None],
        device: torch.device,
    ) -> None:
        self.prompt_ids = prompt_ids
        self.options = options
        self.text = text
        self.deliver = deliver
        self.generator = torch.Generator(device=device)
        if options.seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(options.seed)
        self.submitted_at = time.monotonic()
        self.generated = 0
        self.position = len(prompt_ids)  # position id of the next token fed to the model
        self.last_token = -1
        self.finished = False
        self.cancelled = False

    @property
    def done(self) -> bool:
        return self.finished or self.cancelled

    def accept(self, token_id: int, eos_ids: frozenset[int]) -> None:
        """Record one generated token; stream its text and finish when due."""
        self.generated += 1
        self.last_token = token_id
        if token_id in eos_ids:
            self._finish("stop")
            return
        text, hit = self.text.push(token_id)
        if text:
            self.deliver(Chunk(content=text))
        if hit:
            self._finish("stop", flushed=True)
        elif self.generated >= self.options.max_new_tokens:
            self._finish("length")

    def fail(self, error: GatewayError) -> None:
        self.finished = True
        self.deliver(error)

    def _finish(self, reason: str, *, flushed: bool = False) -> None:
        if not flushed:
            text, hit = self.text.flush()
            reason = "stop" if hit else reason
            if text:
                self.deliver(Chunk(content=text))
        usage = Usage(prompt_tokens=len(self.prompt_ids), completion_tokens=self.generated)
        self.finished = True
        self.deliver(Chunk(finish_reason=reason, usage=usage))


class BatchEngine:
    """The engine thread: admits, prefills and decodes sequences in one shared batch.

    The batch's KV cache is a ``DynamicCache`` whose rows are left-padded to a
    common length; ``mask`` marks the real positions of each row. Models whose
    cache is not made of plain ``DynamicLayer`` (sliding windows, recurrent
    state) run one sequence at a time.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: Any,
        *,
        max_batch_size: int,
        max_queue: int,
        eos_ids: frozenset[int],
        pad_id: int,
    ) -> None:
        self.model = model
        self.device = model.device
        self.tokenizer = tokenizer  # the engine's own: fast tokenizers are not thread-safe
        self.eos_ids = eos_ids
        self._pad_id = pad_id
        self._max_queue = max_queue
        self._max_batch = max_batch_size if self._can_batch() else 1
        self._cond = threading.Condition()
        self._waiting: deque[EngineRequest] = deque()
        self._running: list[EngineRequest] = []
        self._cache: DynamicCache | None = None
        self._mask: torch.Tensor | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="transformers-local", daemon=True)
        self.last_batch_size = 0
        self.tokens_generated = 0
        self.service_s = 1.0  # moving average of one request's time in the engine

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Fail what is waiting or running and end the thread (blocks until it has)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def submit(self, seq: EngineRequest) -> None:
        """Queue ``seq``; ``Overloaded`` when ``max_queue`` requests already wait beyond the free places."""
        with self._cond:
            if self._closing:
                raise UpstreamError("the local model is shutting down")
            free_places = max(0, self._max_batch - len(self._running))
            if len(self._waiting) >= self._max_queue + free_places:
                retry_after = min(60, max(1, math.ceil(self.service_s)))
                raise Overloaded("the local model's queue is full", headers={"Retry-After": str(retry_after)})
            self._waiting.append(seq)
            self._cond.notify()

    def cancel(self, seq: EngineRequest) -> None:
        """Stop ``seq`` at the next step boundary (from any thread)."""
        seq.cancelled = True
        with self._cond:
            if seq in self._waiting:
                self._waiting.remove(seq)

    def _can_batch(self) -> bool:
        probe = DynamicCache(config=self.model.config)
        return bool(probe.layers) and all(type(layer) is DynamicLayer for layer in probe.layers)

    def _run(self) -> None:
        with torch.inference_mode():
            while (admitted := self._admit()) is not None:
                try:
                    if admitted:
                        self._prefill(admitted)
                    self._drop_done()
                    if self._running:
                        self._decode()
                        self._drop_done()
                except Exception:
                    logger.exception("local model generation failed")
                    for seq in [*self._running, *admitted]:
                        if not seq.done:
                            seq.fail(UpstreamError("the local model failed while generating"))
                    self._running, self._cache, self._mask = [], None, None
        with self._cond:
            leftover = [*self._waiting, *self._running]
            self._waiting.clear()
        for seq in leftover:
            if not seq.done:
                seq.fail(UpstreamError("the local model was stopped"))
        self._running, self._cache, self._mask = [], None, None

    def _admit(self) -> list[EngineRequest] | None:
        """Wait for work; take what fits into the batch. ``None`` when closing."""
        with self._cond:
            while not self._closing and not self._waiting and not self._running:
                self._cond.wait()
            if self._closing:
                return None
            admitted: list[EngineRequest] = []
            longest = 0
            while self._waiting and len(self._running) + len(admitted) < self._max_batch:
                size = max(longest, len(self._waiting[0].prompt_ids))
                if admitted and size * (len(admitted) + 1) > _PREFILL_TOKEN_BUDGET:
                    break
                longest = size
                admitted.append(self._waiting.popleft())
            return [seq for seq in admitted if not seq.cancelled]

    def _prefill(self, seqs: list[EngineRequest]) -> None:
        width = max(len(seq.prompt_ids) for seq in seqs)
        ids = torch.full((len(seqs), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq.prompt_ids) :] = torch.tensor(seq.prompt_ids)
            mask[row, width - len(seq.prompt_ids) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.tokens_generated += len(seqs)
        for seq, token in zip(seqs, self._sample(out.logits[:, -1, :], seqs), strict=True):
            seq.accept(token, self.eos_ids)
        self._merge(cache, mask, seqs)

    def _decode(self) -> None:
        seqs, cache, mask = self._running, self._cache, self._mask
        assert cache is not None and mask is not None
        ids = torch.tensor([[seq.last_token] for seq in seqs], device=self.device)
        positions = torch.tensor([[seq.position] for seq in seqs], device=self.device)
        self._mask = mask = torch.cat([mask, mask.new_ones((len(seqs), 1))], dim=1)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )
        self.last_batch_size = len(seqs)
        self.tokens_generated += len(seqs)
        for seq, token in zip(seqs, self._sample(out.logits[:, -1, :], seqs), strict=True):
            seq.position += 1
            if not seq.cancelled:
                seq.accept(token, self.eos_ids)

    def _sample(self, logits: torch.Tensor, seqs: list[EngineRequest]) -> list[int]:
        """Greedy rows take the argmax; sampling rows invert their CDF at one uniform draw.

        One draw per token from the sequence's own generator keeps ``seed`` repeatable
        and costs far less than a ``multinomial`` call per row.
        """
        chosen = logits.argmax(dim=-1)
        rows = [i for i, seq in enumerate(seqs) if seq.options.temperature > 0]
        if rows:
            device = logits.device
            index = torch.tensor(rows, device=device)
            temperature = torch.tensor([[seqs[i].options.temperature] for i in rows], device=device)
            probs = torch.softmax(logits.index_select(0, index).float() / temperature, dim=-1)
            top_p = torch.tensor([[seqs[i].options.top_p] for i in rows], device=device)
            order: torch.Tensor | None = None
            if bool((top_p < 1).any()):
                probs, order = probs.sort(dim=-1, descending=True)
                # keep the smallest head of the ranking whose mass reaches top_p
                probs = probs.masked_fill(probs.cumsum(dim=-1) - probs > top_p, 0.0)
            cdf = probs.double().cumsum(dim=-1)
            draws = torch.stack([torch.rand((), generator=seqs[i].generator, device=device) for i in rows])
            targets = (draws.double() * cdf[:, -1]).unsqueeze(1)
            picked = torch.searchsorted(cdf, targets, right=True).clamp(max=cdf.shape[1] - 1)
            if order is not None:
                picked = order.gather(1, picked)
            chosen[index] = picked.squeeze(1)
        tokens: list[int] = chosen.tolist()
        return tokens

    def _merge(self, cache: DynamicCache, mask: torch.Tensor, seqs: list[EngineRequest]) -> None:
        """Append freshly prefilled rows to the running batch, left-padding the shorter side."""
        if self._cache is None or self._mask is None:
            self._cache, self._mask, self._running = cache, mask, list(seqs)
            return
        width = max(self._mask.shape[1], mask.shape[1])
        for mine, theirs in zip(_layers(self._cache), _layers(cache), strict=True):
            mine.keys = torch.cat([_left_pad(mine.keys, width), _left_pad(theirs.keys, width)])
            mine.values = torch.cat([_left_pad(mine.values, width), _left_pad(theirs.values, width)])
        self._mask = torch.cat([_left_pad(self._mask, width), _left_pad(mask, width)])
        self._running = [*self._running, *seqs]

    def _drop_done(self) -> None:
        """Remove finished and cancelled rows; trim columns that are padding in every row."""
        keep = [i for i, seq in enumerate(self._running) if not seq.done]
        if len(keep) == len(self._running):
            return
        for seq in self._running:
            if seq.done:
                elapsed = time.monotonic() - seq.submitted_at
                self.service_s = 0.8 * self.service_s + 0.2 * elapsed
        if not keep or self._cache is None or self._mask is None:
            self._running, self._cache, self._mask = [], None, None
            return
        index = torch.tensor(keep, device=self.device)
        mask = self._mask.index_select(0, index)
        start = int(mask.any(dim=0).nonzero()[0, 0])
        for layer in _layers(self._cache):
            assert layer.keys is not None and layer.values is not None
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]
        self._mask = mask[:, start:]
        self._running = [self._running[i] for i in keep]


def _layers(cache: DynamicCache) -> list[DynamicLayer]:
    """The cache's layers, which ``BatchEngine._can_batch`` checked are plain ``DynamicLayer``."""
    return [layer for layer in cache.layers if isinstance(layer, DynamicLayer)]


def _left_pad(tensor: torch.Tensor | None, width: int) -> torch.Tensor:
    """Left-pad the sequence axis (last for masks, second to last for keys/values) to ``width``."""
    assert tensor is not None
    if tensor.dim() == 2:
        return F.pad(tensor, (width - tensor.shape[1], 0))
    return F.pad(tensor, (0, 0, width - tensor.shape[-2], 0))


@dataclass(frozen=True, slots=True)
class _Loaded:
    tokenizer: Any  # the event loop's: templating and counting
    engine: BatchEngine
    defaults: SamplingDefaults
    context: int | None


class TransformersAdapter(Adapter):
    """Serves one local model directory in-process (see the module docstring).

    ``start`` loads the model once (CUDA in bfloat16 when available, else CPU in
    float32) and runs a warm-up generation; ``ready`` is true after it.
    ``max_batch_size`` sequences decode together; ``max_queue`` more may wait.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        device: str | None = None,
        max_queue: int = 64,
        max_new_tokens_default: int = 512,
        max_batch_size: int = 32,
    ) -> None:
        if max_queue < 0 or max_new_tokens_default < 1 or max_batch_size < 1:
            raise ValueError("max_queue >= 0, max_new_tokens_default >= 1, max_batch_size >= 1")
        self._model_path = Path(model_path)
        self._device = device
        self._max_queue = max_queue
        self._max_new_tokens_default = max_new_tokens_default
        self._max_batch_size = max_batch_size
        self._loaded: _Loaded | None = None
        self._ready = False

    @property
    def queue_depth(self) -> int:
        """Requests waiting for a place in the batch."""
        return self._loaded.engine.queue_depth if self._loaded else 0

    @property
    def last_batch_size(self) -> int:
        """Sequences decoded together in the latest step."""
        return self._loaded.engine.last_batch_size if self._loaded else 0

    @property
    def running_requests(self) -> int:
        """Requests in the batch now."""
        return self._loaded.engine.running if self._loaded else 0

    @property
    def tokens_generated(self) -> int:
        """Tokens generated since ``start`` (a counter), cancelled requests' included."""
        return self._loaded.engine.tokens_generated if self._loaded else 0

    async def start(self) -> None:
        if self._loaded is not None:
            return
        loaded = await asyncio.to_thread(self._load)
        loaded.engine.start()
        self._loaded = loaded
        try:
            await self.complete(ModelCall(messages=[{"role": "user", "content": "Hi"}], params={"max_tokens": 2}))
        except BaseException:
            await self.close()
            raise
        self._ready = True

    async def close(self) -> None:
        loaded, self._loaded, self._ready = self._loaded, None, False
        if loaded is not None:
            await asyncio.to_thread(loaded.engine.stop)

    async def ready(self) -> bool:
        return self._ready and self._loaded is not None and self._loaded.engine.alive

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        """Tokens the templated ``messages`` take as a prompt (``usage.prompt_tokens``)."""
        return len(self._encode(self._require_loaded(), messages))

    async def stream(self, call: ModelCall) -> AsyncGenerator[Chunk, None]:
        loaded = self._require_loaded()
        engine = loaded.engine
        prompt_ids = self._encode(loaded, call.messages)
        limit = (loaded.context or 1 << 30) - len(prompt_ids)
        if limit < 1:
            raise _bad_request(
                f"the prompt takes {len(prompt_ids)} tokens; the local model's context is {loaded.context}"
            )
        options = GenerationOptions.from_params(
            call.params,
            default_max=self._max_new_tokens_default,
            limit=limit,
            defaults=loaded.defaults,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + call.deadline_s
        inbox: asyncio.Queue[Chunk | GatewayError] = asyncio.Queue()

        def deliver(item: Chunk | GatewayError) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody listens any more
                loop.call_soon_threadsafe(inbox.put_nowait, item)

        text = TextStream(engine.tokenizer, prompt_ids[-_DETOKENIZE_CONTEXT:], options.stop)
        seq = EngineRequest(prompt_ids, options, text, deliver, engine.device)
        engine.submit(seq)
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await inbox.get()
                except TimeoutError:
                    raise UpstreamTimeout("the local model did not finish within the deadline") from None
                if isinstance(item, GatewayError):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            engine.cancel(seq)

    def _require_loaded(self) -> _Loaded:
        if self._loaded is None:
            raise UpstreamError("the local model is not started")
        return self._loaded

    @staticmethod
    def _encode(loaded: _Loaded, messages: list[dict[str, Any]]) -> list[int]:
        conversation = [_text_message(message) for message in messages]
        try:
            ids = loaded.tokenizer.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=True, return_dict=False
            )
        except Exception as exc:  # jinja2 raises from inside the model's template
            raise _bad_request(f"the local model's chat template refused the messages ({type(exc).__name__})") from exc
        return list(ids)

    def _load(self) -> _Loaded:
        path = self._model_path
        if not (path / "config.json").is_file():
            raise LocalModelNotFound(
                f"no model directory at {path}: prepare one with `python -m adapters.local_models prepare`"
            )
        device = torch.device(self._device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if not tokenizer.chat_template:
            raise LocalModelError(f"the model at {path} has no chat template")
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
        model = model.to(device).eval()  # type: ignore[arg-type]  # transformers wraps `to` untypably
        eos = model.generation_config.eos_token_id
        eos_ids = {eos} if isinstance(eos, int) else set(eos or ())
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids, default=0)
        engine = BatchEngine(
            model,
            AutoTokenizer.from_pretrained(path, local_files_only=True),
            max_batch_size=self._max_batch_size,
            max_queue=self._max_queue,
            eos_ids=frozenset(eos_ids),
            pad_id=pad,
        )
        context = getattr(model.config, "max_position_embeddings", None)
        return _Loaded(tokenizer, engine, SamplingDefaults.from_model(model), context)


def _text_message(message: Mapping[str, Any]) -> dict[str, str]:
    """An OpenAI message as the plain ``{role, content}`` a chat template expects."""
    role = str(message.get("role") or "user")
    content = message.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise _bad_request("the local model accepts text content only")
            parts.append(str(part.get("text") or ""))
        text = "\n".join(parts)
    else:
        raise _bad_request("message content must be a string or a list of parts")
    return {"role": "system" if role == "developer" else role, "content": text}
