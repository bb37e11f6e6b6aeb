"""The embedded store: a bounded in-process LRU with per-entry expiry.

The default when no ``redis_url`` is configured (``make run``). Each process
has its own, so replicas do not share answers and a restart forgets them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryCache:
    """A ``ResponseCache`` in this process's memory; never raises ``CacheUnavailable``.

    At most ``max_entries`` entries: storing one more evicts the least recently
    used. ``clock`` (monotonic seconds) is injectable for tests.
    """

    name = "memory"

    def __init__(self, max_entries: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self._clock():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self._data[key] = (self._clock() + ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    async def ping(self) -> None:
        return None
