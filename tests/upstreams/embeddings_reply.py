"""What the loopback upstream answers to ``POST /v1/embeddings``: OpenAI's wire shape, made-up vectors.

Each input's vector is a function of its text alone (a hash spread over
``dimensions`` floats, 8 by default, L2-normalised), so tests can tell which
input a vector belongs to and that nothing was shuffled. ``encoding_format``
``base64`` gives little-endian float32 bytes, as OpenAI's API does (its Python
SDK asks for base64 unless told otherwise); usage counts a token per word.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

DEFAULT_DIMENSIONS = 8


def vector_for(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 + i / 1000 for i in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [struct.unpack("<f", struct.pack("<f", x / norm))[0] for x in raw]  # float32, as sent in base64


def embeddings_reply(body: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to an embeddings body; ``None`` when it is not one (the caller answers 400)."""
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
        return None
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    data = []
    for index, text in enumerate(inputs):
        vector = vector_for(text, int(dimensions))
        encoded: Any = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(text.split()) for text in inputs)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "test-embedding"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
