"""One request inside the engine: its prompt, options, decoding state and consumer."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from adapters.base import Chunk, Usage
from adapters.transformers_local.options import GenerationOptions
from adapters.transformers_local.text import TextStream
from gateway.errors import GatewayError


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
        self.prefilled = 0  # prompt tokens already in the cache (a long prompt is prefilled in chunks)
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
