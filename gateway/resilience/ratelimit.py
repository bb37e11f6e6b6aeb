"""Rate limits per API key and per team: requests and tokens per minute.

The algorithm is GCRA (a token bucket kept as one timestamp per limit): a
limit of N per minute lets N through at once and then one every 60/N seconds,
and a refusal knows exactly when the next call would pass (``Retry-After``).

With Redis, every check is one Lua script over all the limits that apply (key
and team, requests and tokens): all pass and are counted together, or none is,
so N replicas enforce one limit. Without Redis, or while Redis fails, the same
algorithm runs in this process. Every admission is also counted locally, so a
replica that loses Redis carries on from its own traffic rather than from
zero; while Redis is down, each replica enforces the limits on its own (N
replicas admit up to N times the limit), because serving beats refusing
everything. Redis is tried again every ``redis_retry_s``.

Tokens: a request is admitted against its estimated input tokens; when it
ends, the tokens it really used beyond that estimate are charged as well, so
the next requests wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.errors import RateLimited
from gateway.resilience.settings import RateLimit, RateLimits
from gateway.resilience.shared import SharedState, SharedStateUnavailable

log = logging.getLogger("gateway.resilience")

PERIOD_MS = 60_000.0

# KEYS: one per limit. ARGV[1]: "admit" or "consume"; then per key: limit per minute, cost.
# Returns {1, 0, 0} when admitted (and counted), {0, wait_ms, index of the limit that refused}
# when refused (nothing counted).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = 60000
local admit = ARGV[1] == 'admit'
local wait = 0
local worst = 0
local tats = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local cost = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat + cost * period / limit
  if admit and tats[i] - period - now > math.max(wait, 0.5) then
    wait = tats[i] - period - now
    worst = i
  end
end
if wait > 0 then return {0, math.ceil(wait), worst} end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
end
return {1, 0, 0}
"""


@dataclass(frozen=True, slots=True)
class Quota:
    """One limit that applies to a request: a bucket name, its limit per minute, and what this request costs."""

    bucket: str  # e.g. "team:payments:tpm"
    per_minute: int
    cost: int


class LocalBuckets:
    """GCRA in this process: one theoretical arrival time per bucket, in milliseconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    def admit(self, quotas: Sequence[Quota]) -> tuple[float, Quota | None]:
        """Count ``quotas`` and return ``(0, None)``, or count nothing and return the
        seconds to wait and the quota that refused."""
        now = self._clock() * 1000
        new = [self._next(q, now) for q in quotas]
        waits = [tat - PERIOD_MS - now for tat in new]
        worst = max(range(len(quotas)), key=waits.__getitem__, default=None)
        if worst is not None and waits[worst] > 0.5:  # ms; float residue is not a refusal
            return waits[worst] / 1000, quotas[worst]
        self._store(quotas, new, now)
        return 0.0, None

    def consume(self, quotas: Sequence[Quota]) -> None:
        """Count ``quotas`` without checking (tokens already used)."""
        now = self._clock() * 1000
        self._store(quotas, [self._next(q, now) for q in quotas], now)

    def _next(self, quota: Quota, now: float) -> float:
        return max(self._tat.get(quota.bucket, now), now) + quota.cost * PERIOD_MS / quota.per_minute

    def _store(self, quotas: Sequence[Quota], tats: list[float], now: float) -> None:
        if len(self._tat) > 50_000:  # forget buckets that are back to full
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        for quota, tat in zip(quotas, tats, strict=True):
            self._tat[quota.bucket] = tat


class RateLimiter:
    """Admits requests under the configured limits; raises ``RateLimited`` (429) with ``Retry-After``."""

    def __init__(
        self, settings: RateLimits, shared: SharedState, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._shared = shared
        self.local = LocalBuckets(clock)
        self._charges: set[asyncio.Task[None]] = set()
        self.refused = {"key": 0, "team": 0}

    def quotas(self, key_id: str, team: str, tokens: int) -> list[Quota]:
        """The limits that apply to one request of ``tokens`` estimated tokens."""
        out: list[Quota] = []
        for scope, name, limit in (
            ("key", key_id, self._settings.per_key),
            ("team", team, self._settings.for_team(team)),
        ):
            out.extend(_quotas(f"{scope}:{name}", limit, tokens))
        return out

    async def admit(self, key_id: str, team: str, estimated_tokens: int) -> None:
        """Count one request, or raise ``RateLimited`` without counting anything."""
        quotas = self.quotas(key_id, team, estimated_tokens)
        if not quotas:
            return
        try:
            wait, refusing = await self._shared_admit(quotas)
            if refusing is None:
                self.local.consume(quotas)  # keep the local view close, for when Redis goes away
        except SharedStateUnavailable:
            wait, refusing = self.local.admit(quotas)
        if refusing is not None:
            scope = refusing.bucket.partition(":")[0]
            self.refused[scope] += 1
            who = "this API key" if scope == "key" else f"team {team!r}"
            raise RateLimited(
                f"Rate limit exceeded for {who}; retry after {math.ceil(wait)} s.",
                headers={"retry-after": str(max(1, math.ceil(wait)))},
            )

    def charge(self, key_id: str, team: str, tokens: int) -> None:
        """Count ``tokens`` used beyond what was admitted; never blocks the caller."""
        quotas = [q for q in self.quotas(key_id, team, tokens) if q.bucket.endswith(":tpm")]
        if not quotas or tokens <= 0:
            return
        task = asyncio.get_running_loop().create_task(self._consume(quotas))
        self._charges.add(task)
        task.add_done_callback(self._charges.discard)

    async def close(self) -> None:
        if self._charges:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._charges, return_exceptions=True), 2.0)

    async def _consume(self, quotas: list[Quota]) -> None:
        self.local.consume(quotas)
        with contextlib.suppress(SharedStateUnavailable):
            await self._run("consume", quotas)

    async def _shared_admit(self, quotas: list[Quota]) -> tuple[float, Quota | None]:
        admitted, wait_ms, index = await self._run("admit", quotas)
        if int(admitted) == 1:
            return 0.0, None
        return int(wait_ms) / 1000, quotas[int(index) - 1]

    async def _run(self, mode: str, quotas: Sequence[Quota]) -> list[int]:
        keys = [self._shared.key("rl", q.bucket) for q in quotas]
        args: list[object] = [mode]
        for q in quotas:
            args += [q.per_minute, min(q.cost, q.per_minute)]
        result: list[int] = await self._shared.run("gcra", _GCRA, keys, args)
        return result


def _quotas(prefix: str, limit: RateLimit, tokens: int) -> list[Quota]:
    out = []
    if limit.requests_per_minute is not None:
        out.append(Quota(f"{prefix}:rpm", limit.requests_per_minute, 1))
    if limit.tokens_per_minute is not None:
        out.append(Quota(f"{prefix}:tpm", limit.tokens_per_minute, min(max(tokens, 0), limit.tokens_per_minute)))
    return out
