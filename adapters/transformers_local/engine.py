"""The engine thread: continuous batching of many requests over one model.

The engine keeps one batch of running sequences and one shared KV cache
(``BatchCache``). It loops over two kinds of step:

- a **prefill step** for admitted requests, bounded by ``prefill_tokens``
  (padded prompt tokens): several short prompts are prefilled together, each
  gets its first token at once and its cache rows join the batch; a prompt
  longer than the bound is prefilled alone, one chunk per step (chunked
  prefill), so it never stalls the other streams for longer than one chunk;
- a **decoding step**: one new token for every running sequence.

One prefill step and one decoding step alternate while both have work, so a
burst of arrivals is taken in by groups between decoding steps (the first
groups start streaming while later ones are prefilled) and a new request waits
at most for the decoding step under way before its prefill starts. Finished
and cancelled sequences leave the batch after every step. Every sequence hands
its own text to its own consumer through ``deliver``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from typing import Any

import torch
from transformers import PreTrainedModel
from transformers.cache_utils import DynamicCache

from adapters.transformers_local.batch_cache import BatchCache
from adapters.transformers_local.request import EngineRequest
from adapters.transformers_local.sampling import sample
from gateway.errors import Overloaded, UpstreamError

logger = logging.getLogger(__name__)


def default_prefill_tokens(device: torch.device) -> int:
    """Prompt tokens per prefill step: a CPU's prefill throughput saturates at a few hundred
    tokens, so larger steps only delay the other streams; a GPU's at a few thousand."""
    return 512 if device.type == "cpu" else 2048


class BatchEngine:
    """Admits, prefills and decodes sequences in one shared batch, on its own thread.

    ``submit`` and ``cancel`` may be called from any thread. Models whose cache
    cannot be batched by ``BatchCache`` run one sequence at a time.
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
        prefill_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.device = model.device
        self.tokenizer = tokenizer  # the engine's own: fast tokenizers are not thread-safe
        self.eos_ids = eos_ids
        self._pad_id = pad_id
        self._max_queue = max_queue
        self._max_batch = max_batch_size if BatchCache.supports(model.config) else 1
        self._prefill_tokens = max(1, prefill_tokens or default_prefill_tokens(self.device))
        self._cond = threading.Condition()
        self._waiting: deque[EngineRequest] = deque()  # submitted, without a place in the batch yet
        self._admitted: deque[EngineRequest] = deque()  # a place in the batch, prompt not (fully) prefilled
        self._chunked: DynamicCache | None = None  # the cache of the partly prefilled head of ``_admitted``
        self._prefilling: list[EngineRequest] = []  # the group in the prefill step under way
        self._running: list[EngineRequest] = []  # in the batch, decoding
        self._batch: BatchCache | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="transformers-local", daemon=True)
        self.last_batch_size = 0
        self.tokens_generated = 0
        self.decode_steps = 0
        self.service_s = 1.0  # moving average of one request's time in the engine

    @property
    def queue_depth(self) -> int:
        """Requests waiting for a place in the batch."""
        return len(self._waiting)

    @property
    def running(self) -> int:
        """Requests holding a place in the batch: decoding, or having their prompt prefilled."""
        return len(self._running) + len(self._prefilling) + len(self._admitted)

    @property
    def max_batch_size(self) -> int:
        return self._max_batch

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
            free_places = max(0, self._max_batch - self.running)
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

    # -- the loop (engine thread only from here on) ----------------------------

    def _run(self) -> None:
        with torch.inference_mode():
            while self._admit():
                try:
                    if self._admitted:
                        self._prefill_step()
                        self._drop_done()
                    if self._running:
                        self._decode()
                        self._drop_done()
                except Exception:
                    logger.exception("local model generation failed")
                    self._fail_all(UpstreamError("the local model failed while generating"))
        with self._cond:
            self._admitted.extend(self._waiting)
            self._waiting.clear()
        self._fail_all(UpstreamError("the local model was stopped"))

    def _admit(self) -> bool:
        """Wait for work; give waiting requests the free places in the batch. False when closing."""
        with self._cond:
            while not self._closing and not self._waiting and not self._admitted and not self._running:
                self.last_batch_size = 0
                self._cond.wait()
            if self._closing:
                return False
            while self._waiting and self.running < self._max_batch:
                self._admitted.append(self._waiting.popleft())
            return True

    def _fail_all(self, error: UpstreamError) -> None:
        for seq in [*self._running, *self._prefilling, *self._admitted]:
            if not seq.done:
                seq.fail(error)
        self._running, self._batch, self._prefilling = [], None, []
        self._admitted.clear()
        self._chunked = None

    def _prefill_step(self) -> None:
        """Prefill one group of whole short prompts, or the next chunk of one long prompt."""
        while self._admitted and self._admitted[0].cancelled:
            self._admitted.popleft()
            self._chunked = None
        if not self._admitted:
            return
        head = self._admitted[0]
        if head.prefilled or len(head.prompt_ids) > self._prefill_tokens:
            self._prefill_chunk(head)
            return
        group = self._prefilling = [self._admitted.popleft()]  # counted in ``running`` while prefilled
        width = len(head.prompt_ids)
        while self._admitted and not self._admitted[0].cancelled:
            candidate = self._admitted[0]
            wider = max(width, len(candidate.prompt_ids))
            if candidate.prefilled or wider * (len(group) + 1) > self._prefill_tokens:
                break
            group.append(self._admitted.popleft())
            width = wider
        self._prefill_group(group, width)
        self._prefilling = []

    def _prefill_group(self, seqs: list[EngineRequest], width: int) -> None:
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
        for seq in seqs:
            seq.prefilled = len(seq.prompt_ids)
        self._start_decoding(seqs, out.logits[:, -1, :], BatchCache(cache, mask))

    def _prefill_chunk(self, seq: EngineRequest) -> None:
        """The next ``prefill_tokens`` of a long prompt, into its own cache until the prompt is done."""
        if self._chunked is None:
            self._chunked = DynamicCache(config=self.model.config)
        start = seq.prefilled
        end = min(len(seq.prompt_ids), start + self._prefill_tokens)
        ids = torch.tensor([seq.prompt_ids[start:end]], device=self.device)
        out = self.model(
            input_ids=ids,
            attention_mask=torch.ones((1, end), dtype=torch.long, device=self.device),
            position_ids=torch.arange(start, end, device=self.device).unsqueeze(0),
            past_key_values=self._chunked,
            use_cache=True,
            logits_to_keep=1,
        )
        seq.prefilled = end
        if end < len(seq.prompt_ids):
            return
        cache, self._chunked = self._chunked, None
        self._admitted.popleft()
        mask = torch.ones((1, end), dtype=torch.long, device=self.device)
        self._start_decoding([seq], out.logits[:, -1, :], BatchCache(cache, mask))

    def _start_decoding(self, seqs: list[EngineRequest], logits: torch.Tensor, fresh: BatchCache) -> None:
        """Give freshly prefilled sequences their first token and their rows in the batch."""
        self.tokens_generated += len(seqs)
        for seq, token in zip(seqs, self._sample(logits, seqs), strict=True):
            seq.accept(token, self.eos_ids)
        if self._batch is None:
            self._batch, self._running = fresh, list(seqs)
        else:
            self._batch.extend(fresh)
            self._running = [*self._running, *seqs]

    def _decode(self) -> None:
        seqs, batch = self._running, self._batch
        assert batch is not None
        ids = torch.tensor([[seq.last_token] for seq in seqs], device=self.device)
        positions = torch.tensor([[seq.position] for seq in seqs], device=self.device)
        out = self.model(
            input_ids=ids,
            attention_mask=batch.next_mask(),
            position_ids=positions,
            past_key_values=batch.cache,
            use_cache=True,
        )
        self.last_batch_size = len(seqs)
        self.decode_steps += 1
        self.tokens_generated += len(seqs)
        for seq, token in zip(seqs, self._sample(out.logits[:, -1, :], seqs), strict=True):
            seq.position += 1
            if not seq.cancelled:
                seq.accept(token, self.eos_ids)

    @staticmethod
    def _sample(logits: torch.Tensor, seqs: list[EngineRequest]) -> list[int]:
        return sample(logits, [seq.options for seq in seqs], [seq.generator for seq in seqs])

    def _drop_done(self) -> None:
        """Remove finished and cancelled rows from the batch."""
        keep = [i for i, seq in enumerate(self._running) if not seq.done]
        if len(keep) == len(self._running):
            return
        for seq in self._running:
            if seq.done:
                elapsed = time.monotonic() - seq.submitted_at
                self.service_s = 0.8 * self.service_s + 0.2 * elapsed
        if not keep or self._batch is None:
            self._running, self._batch = [], None
            return
        self._batch.keep(keep)
        self._running = [self._running[i] for i in keep]
