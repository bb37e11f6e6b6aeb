"""An open model in the gateway's own process, served with transformers and continuous batching.

``TransformersAdapter`` loads a local model directory (see ``adapters.local_models``)
once, from local files only, and runs it on one dedicated engine thread, off the
event loop. The engine keeps one batch of running sequences and one shared KV
cache; between two decoding steps it drops finished or cancelled sequences and
admits waiting ones. Each sequence streams its own text to its own consumer.

========================  ==================================================
module                    noun
========================  ==================================================
``adapter``               ``TransformersAdapter``: loading, warm-up, ``stream``
``engine``                ``BatchEngine``: the thread, admission, prefill and decoding steps
``request``               ``EngineRequest``: one request's state and its consumer
``batch_cache``           ``BatchCache``: the batch's left-padded KV cache
``sampling``              ``sample``: greedy, temperature, top_p, seed
``options``               ``GenerationOptions``: OpenAI parameters, validated
``text``                  chat templating in, ``TextStream`` (text deltas) out
========================  ==================================================

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
beyond that ``stream`` raises ``Overloaded`` (503) with a ``Retry-After`` header.
"""

from __future__ import annotations

import os
import sys

if "torch" not in sys.modules:
    # OpenMP's idle threads spin by default; next to the event loop and other work on a
    # few cores that makes every decoding step stall (measured: 10x slower). The runtime
    # reads this once, when torch is first imported; entry points should set it too.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from adapters.transformers_local.adapter import TransformersAdapter  # after the OpenMP setting
from adapters.transformers_local.engine import BatchEngine
from adapters.transformers_local.options import GenerationOptions, SamplingDefaults
from adapters.transformers_local.request import EngineRequest
from adapters.transformers_local.text import TextStream

__all__ = [
    "BatchEngine",
    "EngineRequest",
    "GenerationOptions",
    "SamplingDefaults",
    "TextStream",
    "TransformersAdapter",
]
