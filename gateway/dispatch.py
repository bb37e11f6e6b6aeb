"""Calling targets: fallbacks along a route, with the invariant checked at every attempt.

``TargetChain`` is itself an adapter (pydantic-ai's ``FallbackModel`` idea):
it tries the decision's targets in order and records each attempt. Before any
attempt it checks the invariant again, against the policy that made the
decision: a target never receives a request above its ``max_level``, whatever
failed before. A violation here means a bug upstream of the guard, so it is
logged at CRITICAL and the target is skipped, never called.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from adapters.base import Adapter, Chunk, Completion, ModelCall
from gateway.errors import GatewayError, NoTargetAvailable, StreamInterrupted, UpstreamError
from gateway.policy.engine import permitted
from gateway.policy.model import Policy

log = logging.getLogger("gateway.dispatch")


@dataclass(slots=True)
class Attempt:
    """One try at one target, for the ledger and the audit trail."""

    target: str
    residency: str
    outcome: str  # ok | error | timeout | refused_by_invariant | interrupted
    error_code: str | None = None
    latency_ms: float = 0.0

    def summary(self) -> str:
        return f"{self.target}:{self.outcome}" + (f":{self.error_code}" if self.error_code else "")


class TargetChain(Adapter):
    """Tries ``targets`` in order for one request at ``level``."""

    def __init__(
        self, policy: Policy, level: str, targets: Sequence[str], adapters: Mapping[str, Adapter]
    ) -> None:
        self._policy = policy
        self._level = level
        self._targets = list(targets)
        self._adapters = adapters
        self.attempts: list[Attempt] = []
        self.answered_by: str | None = None

    @property
    def failed_attempts(self) -> int:
        return sum(1 for a in self.attempts if a.outcome not in ("ok", "refused_by_invariant"))

    def _allowed(self, name: str) -> bool:
        target = self._policy.targets[name]
        if permitted(self._policy, target, self._level) and name in self._adapters:
            return True
        log.critical(
            "invariant guard refused target %s for level %s (max_level %s)",
            name,
            self._level,
            self._policy.max_level_of(target),
        )
        self.attempts.append(Attempt(name, target.residency, "refused_by_invariant"))
        return False

    def _failed(self, name: str, error: GatewayError, started: float) -> None:
        outcome = "timeout" if error.code == "upstream_timeout" else "error"
        self.attempts.append(
            Attempt(name, self._policy.targets[name].residency, outcome, error.code, _ms(started))
        )
        log.warning("target %s failed: %s", name, error.code)

    async def complete(self, call: ModelCall) -> Completion:
        last: GatewayError | None = None
        for name in self._targets:
            if not self._allowed(name):
                continue
            started = time.perf_counter()
            try:
                completion = await self._adapters[name].complete(call)
            except UpstreamError as error:
                self._failed(name, error, started)
                last = error
                continue
            self.attempts.append(Attempt(name, self._policy.targets[name].residency, "ok", None, _ms(started)))
            self.answered_by = name
            return completion
        raise last or NoTargetAvailable("No target that may receive this request is available.")

    async def stream(self, call: ModelCall) -> AsyncIterator[Chunk]:
        """Falls back only before the first chunk; after it, a failure ends the stream."""
        last: GatewayError | None = None
        for name in self._targets:
            if not self._allowed(name):
                continue
            started = time.perf_counter()
            upstream = self._adapters[name].stream(call)
            try:
                first = await anext(upstream)
            except StopAsyncIteration:
                first = Chunk(finish_reason="stop")
            except UpstreamError as error:
                self._failed(name, error, started)
                await upstream.aclose()  # type: ignore[attr-defined]
                last = error
                continue
            self.answered_by = name
            attempt = Attempt(name, self._policy.targets[name].residency, "ok")
            self.attempts.append(attempt)
            try:
                yield first
                async for chunk in upstream:
                    yield chunk
            except UpstreamError as error:
                attempt.outcome, attempt.error_code = "interrupted", error.code
                raise StreamInterrupted("The upstream failed while streaming the answer.") from None
            finally:
                attempt.latency_ms = _ms(started)
                await upstream.aclose()  # type: ignore[attr-defined]
            return
        raise last or NoTargetAvailable("No target that may receive this request is available.")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
