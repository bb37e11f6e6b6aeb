"""Server-sent events with a name, as Anthropic's and the Responses API's streams send them."""

from __future__ import annotations

from typing import Any

import orjson


def sse_event(name: str, data: Any) -> bytes:
    """One event: ``event: <name>`` and its JSON ``data``."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
