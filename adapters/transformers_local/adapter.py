"""``TransformersAdapter``: the gateway's side of the engine thread."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from adapters.base import Adapter, Chunk, ModelCall
from adapters.local_models import LocalModelError, LocalModelNotFound
from adapters.transformers_local.engine import BatchEngine
from adapters.transformers_local.options import GenerationOptions, SamplingDefaults, bad_request
from adapters.transformers_local.request import EngineRequest
from adapters.transformers_local.text import TextStream, encode_chat
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout

_DETOKENIZE_CONTEXT = 5  # prompt tokens decoded before the answer, so its first word gets its space
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
WARM_UP = ModelCall(messages=[{"role": "user", "content": "Hi"}], params={"max_tokens": 4, "temperature": 0})


@dataclass(frozen=True, slots=True)
class _Loaded:
    tokenizer: Any  # the event loop's: templating and counting
    engine: BatchEngine
    defaults: SamplingDefaults
    context: int | None


class TransformersAdapter(Adapter):
    """Serves one local model directory in-process (see the package docstring).

    ``start`` loads the model once, from local files only (CUDA in bfloat16 when
    available, else CPU in float32; ``device`` and ``dtype`` override), then
    runs a warm-up generation; ``ready`` is true only after it.
    ``max_batch_size`` sequences decode together; ``max_queue`` more may wait.
    ``prefill_tokens`` bounds one prefill step (default: 512 on a CPU, 2048 on a GPU).
    """

    def __init__(
        self,
        model_path: Path,
        *,
        device: str | None = None,
        dtype: str | None = None,
        max_queue: int = 64,
        max_new_tokens_default: int = 512,
        max_batch_size: int = 32,
        prefill_tokens: int | None = None,
    ) -> None:
        if max_queue < 0 or max_new_tokens_default < 1 or max_batch_size < 1 or (prefill_tokens or 1) < 1:
            raise ValueError(
                "max_queue >= 0, max_new_tokens_default >= 1, max_batch_size >= 1, prefill_tokens >= 1"
            )
        if dtype is not None and dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}")
        self._model_path = Path(model_path)
        self._device = device
        self._dtype = dtype
        self._max_queue = max_queue
        self._max_new_tokens_default = max_new_tokens_default
        self._max_batch_size = max_batch_size
        self._prefill_tokens = prefill_tokens
        self._loaded: _Loaded | None = None
        self._ready = False

    @property
    def queue_depth(self) -> int:
        """Requests waiting for a place in the batch."""
        return self._loaded.engine.queue_depth if self._loaded else 0

    @property
    def last_batch_size(self) -> int:
        """Sequences decoded together in the latest step; 0 while the engine is idle."""
        return self._loaded.engine.last_batch_size if self._loaded else 0

    @property
    def running_requests(self) -> int:
        """Requests in the batch now."""
        return self._loaded.engine.running if self._loaded else 0

    @property
    def tokens_generated(self) -> int:
        """Tokens generated since ``start`` (a counter), cancelled requests' included."""
        return self._loaded.engine.tokens_generated if self._loaded else 0

    @property
    def decode_steps(self) -> int:
        """Decoding steps since ``start`` (a counter): tokens over steps is the mean batch size."""
        return self._loaded.engine.decode_steps if self._loaded else 0

    @property
    def device(self) -> str | None:
        """Where the model runs (``cpu``, ``cuda:0``...), once started."""
        return str(self._loaded.engine.device) if self._loaded else None

    async def start(self) -> None:
        if self._loaded is not None:
            return
        loaded = await asyncio.to_thread(self._load)
        loaded.engine.start()
        self._loaded = loaded
        try:
            await self.warm_up()
        except BaseException:
            await self.close()
            raise
        self._ready = True

    async def warm_up(self) -> None:
        """One short generation through the whole path, so the first client does not pay for lazy set-up."""
        await self.complete(WARM_UP)

    async def close(self) -> None:
        loaded, self._loaded, self._ready = self._loaded, None, False
        if loaded is not None:
            await asyncio.to_thread(loaded.engine.stop)

    async def ready(self) -> bool:
        return self._ready and self._loaded is not None and self._loaded.engine.alive

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        """Tokens the templated ``messages`` take as a prompt (``usage.prompt_tokens``)."""
        return len(encode_chat(self._require_loaded().tokenizer, messages))

    async def stream(self, call: ModelCall) -> AsyncGenerator[Chunk, None]:
        loaded = self._require_loaded()
        engine = loaded.engine
        prompt_ids = encode_chat(loaded.tokenizer, call.messages)
        limit = (loaded.context or 1 << 30) - len(prompt_ids)
        if limit < 1:
            raise bad_request(
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

    def _load(self) -> _Loaded:
        path = self._model_path
        if not (path / "config.json").is_file():
            raise LocalModelNotFound(
                f"no model directory at {path}: prepare one with `python -m adapters.local_models prepare`"
            )
        device = torch.device(self._device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self._dtype is not None:
            dtype = _DTYPES[self._dtype]
        else:
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
            prefill_tokens=self._prefill_tokens,
        )
        context = getattr(model.config, "max_position_embeddings", None)
        defaults = SamplingDefaults.from_generation_config(model.generation_config)
        return _Loaded(tokenizer, engine, defaults, context)
