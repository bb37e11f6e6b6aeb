"""Circuit breakers, one per target: stop sending to an upstream that keeps failing.

States and transitions, the same in Redis and in process:

* **closed**: calls go through. It opens after ``consecutive_failures``
  failures in a row, or when at least ``min_calls`` calls were made in the
  current window of ``window_s`` seconds and ``error_rate`` of them failed.
* **open**: for ``open_s`` seconds the target is excluded from decisions
  (``Facts.unavailable``, so ``policy explain``, ``/readyz`` and ``/metrics``
  show it) and no call is made.
* **half_open**: after that, ``half_open_probes`` calls at a time are let
  through. A success closes the circuit; a failure opens it again for
  ``open_s``. A probe that never reports (its caller was cancelled) frees its
  place after ``open_s``.

What counts as a failure is the caller's choice (``gateway/dispatch.py``:
connection errors, timeouts, 429 and 5xx; not a request the upstream rejected
as invalid, not a client that went away).

With Redis the state is one hash per target, changed only by Lua scripts that
read Redis's clock, so every replica sees and drives the same circuit. Every
outcome is also recorded in process; while Redis is unreachable the
in-process circuits decide, from this replica's own outcomes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.resilience.settings import BreakerSettings
from gateway.resilience.shared import SharedState, SharedStateUnavailable


class CircuitState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_CODES = {0: CircuitState.CLOSED, 1: CircuitState.HALF_OPEN, 2: CircuitState.OPEN}


@dataclass(frozen=True, slots=True)
class CircuitView:
    """What is known of one target's circuit. ``reason`` says why it opened (counts, never content)."""

    state: CircuitState = CircuitState.CLOSED
    retry_in_s: float = 0.0
    reason: str = ""

    def describe(self) -> str:
        if self.state is CircuitState.OPEN:
            return f"circuit open ({self.reason}); half-open in {self.retry_in_s:.0f} s"
        return self.state.value


_TIME = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1]: the circuit. ARGV: probes allowed, probe lease (ms). Returns {allowed, wait_ms}.
_ALLOW = _TIME + """
local ou = tonumber(redis.call('HGET', KEYS[1], 'ou') or '0')
if ou == 0 then return {1, 0} end
if now < ou then return {0, ou - now} end
local pr = tonumber(redis.call('HGET', KEYS[1], 'pr') or '0')
local pl = tonumber(redis.call('HGET', KEYS[1], 'pl') or '0')
if pl < now then pr = 0 end
if pr < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'pr', pr + 1, 'pl', now + tonumber(ARGV[2]))
  return {1, 0}
end
return {0, pl - now}
"""

# KEYS[1]: the circuit. ARGV: ok (1/0), consecutive failures, error rate, min calls, window ms,
# open ms, key ttl ms. Returns the state after recording.
_RECORD = _TIME + """
local h = KEYS[1]
local ok = ARGV[1] == '1'
local open_ms, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local ou = tonumber(redis.call('HGET', h, 'ou') or '0')
if ou > 0 then
  if now < ou then return 'open' end
  if ok then
    redis.call('DEL', h)
    return 'closed'
  end
  redis.call('HSET', h, 'ou', now + open_ms, 'pr', 0, 'r', 'a half-open probe failed')
  redis.call('PEXPIRE', h, ttl)
  return 'open'
end
local ws = tonumber(redis.call('HGET', h, 'ws') or '0')
local wt, wf = 0, 0
if now - ws <= tonumber(ARGV[5]) then
  wt = tonumber(redis.call('HGET', h, 'wt') or '0')
  wf = tonumber(redis.call('HGET', h, 'wf') or '0')
else
  ws = now
end
local c = tonumber(redis.call('HGET', h, 'c') or '0')
wt = wt + 1
if ok then c = 0 else c = c + 1; wf = wf + 1 end
local reason = nil
if not ok then
  if c >= tonumber(ARGV[2]) then
    reason = c .. ' failures in a row'
  elseif wt >= tonumber(ARGV[4]) and wf / wt >= tonumber(ARGV[3]) then
    reason = wf .. ' of ' .. wt .. ' calls failed'
  end
end
if reason then
  redis.call('HSET', h, 'ou', now + open_ms, 'pr', 0, 'r', reason, 'c', 0, 'ws', now, 'wt', 0, 'wf', 0)
  redis.call('PEXPIRE', h, ttl)
  return 'open'
end
redis.call('HSET', h, 'ws', ws, 'wt', wt, 'wf', wf, 'c', c)
redis.call('PEXPIRE', h, ttl)
return 'closed'
"""

# KEYS: circuits. Returns per key: state code (0 closed, 1 half-open, 2 open), ms until half-open, reason.
_STATES = _TIME + """
local out = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'ou', 'r')
  local ou = tonumber(v[1] or '0')
  local code, wait = 0, 0
  if ou > 0 then
    if now < ou then code = 2; wait = ou - now else code = 1 end
  end
  out[#out + 1] = code
  out[#out + 1] = wait
  out[#out + 1] = v[2] or ''
end
return out
"""


@dataclass(slots=True)
class _Circuit:
    """One target's circuit in this process (times from ``clock``, in seconds)."""

    consecutive: int = 0
    window_start: float = 0.0
    window_total: int = 0
    window_failures: int = 0
    open_until: float = 0.0  # 0: closed
    probes: int = 0
    probe_until: float = 0.0
    reason: str = ""

    def view(self, now: float) -> CircuitView:
        if self.open_until == 0:
            return CircuitView()
        if now < self.open_until:
            return CircuitView(CircuitState.OPEN, self.open_until - now, self.reason)
        return CircuitView(CircuitState.HALF_OPEN, 0.0, self.reason)


@dataclass(slots=True)
class LocalCircuits:
    """The state machine in process: used without Redis, and as the fallback while Redis is down."""

    settings: BreakerSettings
    clock: Callable[[], float] = time.monotonic
    _circuits: dict[str, _Circuit] = field(default_factory=dict)

    def allow(self, target: str) -> bool:
        now = self.clock()
        c = self._circuits.get(target)
        if c is None or c.open_until == 0:
            return True
        if now < c.open_until:
            return False
        if c.probe_until < now:
            c.probes = 0
        if c.probes < self.settings.half_open_probes:
            c.probes += 1
            c.probe_until = now + self.settings.open_s
            return True
        return False

    def record(self, target: str, ok: bool) -> CircuitState:
        s, now = self.settings, self.clock()
        c = self._circuits.setdefault(target, _Circuit())
        if c.open_until > 0:
            if now < c.open_until:
                return CircuitState.OPEN
            if ok:
                self._circuits[target] = _Circuit()
                return CircuitState.CLOSED
            c.open_until, c.probes, c.reason = now + s.open_s, 0, "a half-open probe failed"
            return CircuitState.OPEN
        if now - c.window_start > s.window_s:
            c.window_start, c.window_total, c.window_failures = now, 0, 0
        c.window_total += 1
        if ok:
            c.consecutive = 0
            return CircuitState.CLOSED
        c.consecutive += 1
        c.window_failures += 1
        reason = ""
        if c.consecutive >= s.consecutive_failures:
            reason = f"{c.consecutive} failures in a row"
        elif c.window_total >= s.min_calls and c.window_failures / c.window_total >= s.error_rate:
            reason = f"{c.window_failures} of {c.window_total} calls failed"
        if reason:
            self._circuits[target] = _Circuit(open_until=now + s.open_s, reason=reason, window_start=now)
            return CircuitState.OPEN
        return CircuitState.CLOSED

    def view(self, target: str) -> CircuitView:
        c = self._circuits.get(target)
        return c.view(self.clock()) if c is not None else CircuitView()


class Breakers:
    """The circuits of all targets: in Redis when it answers, else in this process."""

    def __init__(
        self, settings: BreakerSettings, shared: SharedState, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._shared = shared
        self.local = LocalCircuits(settings, clock)
        self._last: dict[str, CircuitView] = {}
        self._recording: set[asyncio.Task[CircuitState]] = set()
        self.opened = 0

    def record_soon(self, target: str, ok: bool) -> None:
        """``record`` without waiting for Redis: for a success, which the caller's answer must not
        wait on. This process's circuit is updated at once; the shared one a moment later."""
        if not self._shared.configured:
            self.local.record(target, ok)
            return
        task = asyncio.get_running_loop().create_task(self.record(target, ok))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def close(self) -> None:
        """Let outcomes still being recorded reach Redis (each call is time-bounded)."""
        if self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    async def allow(self, target: str) -> bool:
        """Whether a call to ``target`` may go now; in half-open, this takes a probe's place."""
        if not self._shared.configured:
            return self.local.allow(target)
        s = self.settings
        try:
            allowed, _ = await self._shared.run(
                "breaker_allow", _ALLOW, [self._key(target)], [s.half_open_probes, int(s.open_s * 1000)]
            )
            return int(allowed) == 1
        except SharedStateUnavailable:
            return self.local.allow(target)

    async def record(self, target: str, ok: bool) -> CircuitState:
        """Record the outcome of one call; returns the circuit's state after it."""
        local = self.local.record(target, ok)
        s = self.settings
        if not self._shared.configured:
            state = local
        else:
            ttl_ms = int((max(s.window_s, s.open_s) * 4 + 60) * 1000)
            args = [1 if ok else 0, s.consecutive_failures, s.error_rate, s.min_calls,
                    int(s.window_s * 1000), int(s.open_s * 1000), ttl_ms]
            try:
                raw = await self._shared.run("breaker_record", _RECORD, [self._key(target)], args)
                state = CircuitState(raw.decode() if isinstance(raw, bytes) else str(raw))
            except SharedStateUnavailable:
                state = local
        if state is CircuitState.OPEN and self._last.get(target, CircuitView()).state is not CircuitState.OPEN:
            self.opened += 1
        if state is not CircuitState.HALF_OPEN:
            self._last[target] = CircuitView(state, self.settings.open_s if state is CircuitState.OPEN else 0.0)
        return state

    async def states(self, targets: Iterable[str]) -> dict[str, CircuitView]:
        """Every named target's circuit, as Redis (or, without it, this process) sees it now."""
        names = list(targets)
        if not names:
            return {}
        if not self._shared.configured:  # in process only: no round trip to try first
            views = {name: self.local.view(name) for name in names}
            self._last.update(views)
            return views
        try:
            flat = await self._shared.run("breaker_states", _STATES, [self._key(n) for n in names], [])
            views = {
                name: CircuitView(_CODES[int(flat[3 * i])], int(flat[3 * i + 1]) / 1000, _text(flat[3 * i + 2]))
                for i, name in enumerate(names)
            }
        except SharedStateUnavailable:
            views = {name: self.local.view(name) for name in names}
        self._last.update(views)
        return views

    async def unavailable(self, targets: Iterable[str]) -> dict[str, str]:
        """Targets whose circuit is open, with why: for ``Facts.unavailable``."""
        return {
            name: view.describe()
            for name, view in (await self.states(targets)).items()
            if view.state is CircuitState.OPEN
        }

    def last_known(self) -> dict[str, CircuitView]:
        """The latest views seen, without I/O (for ``/metrics``)."""
        return dict(self._last)

    def _key(self, target: str) -> str:
        return self._shared.key("breaker", target)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
