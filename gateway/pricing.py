"""What a request cost, and what it would have cost on the reference model.

Prices come from the target's ``pricing`` in the policy, else from litellm's
bundled (offline) price table. GPU-hour pricing is amortised over the target's
configured throughput. The prices used are returned with the cost so the ledger
stores them: a later price change never rewrites history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from adapters.base import Usage
from gateway.policy.model import Pricing, Target

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)

PriceLookup = Callable[[str], tuple[float, float, float | None] | None]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None

    def cost(self, usage: Usage) -> Decimal:
        cached = min(usage.cached_prompt_tokens, usage.prompt_tokens)
        cached_rate = self.cached_input if self.cached_input is not None else self.input
        fresh = usage.prompt_tokens - cached
        total = fresh * self.input + cached * cached_rate + usage.completion_tokens * self.output
        return total / MILLION


@lru_cache(maxsize=1024)
def from_pricing(pricing: Pricing) -> Price:
    """The prices of a policy's ``pricing`` block (worked out once per block: policies are frozen)."""
    if pricing.usd_per_gpu_hour is not None and pricing.tokens_per_second is not None:
        per_token = Decimal(str(pricing.usd_per_gpu_hour)) / (Decimal(str(pricing.tokens_per_second)) * 3600)
        return Price(per_token * MILLION, per_token * MILLION)
    return Price(
        Decimal(str(pricing.usd_per_million_input or 0)),
        Decimal(str(pricing.usd_per_million_output or 0)),
        Decimal(str(pricing.usd_per_million_cached_input))
        if pricing.usd_per_million_cached_input is not None
        else None,
    )


class Pricer:
    """Looks prices up once per model and caches them for the process."""

    def __init__(self, lookup: PriceLookup | None = None) -> None:
        self._lookup = lookup or _litellm_lookup
        self._table = lru_cache(maxsize=1024)(self._from_table)

    def _from_table(self, model: str) -> Price | None:
        found = self._lookup(model)
        if found is None:
            return None
        per_in, per_out, per_cached = found
        return Price(
            Decimal(str(per_in)) * MILLION,
            Decimal(str(per_out)) * MILLION,
            Decimal(str(per_cached)) * MILLION if per_cached is not None else None,
        )

    def price(self, target: Target) -> Price | None:
        if target.pricing is not None:
            return from_pricing(target.pricing)
        if target.kind == "litellm":
            return self._table(target.model)
        return None

    def reference(self, model: str | None) -> Price | None:
        return self._table(model) if model else None


def _litellm_lookup(model: str) -> tuple[float, float, float | None] | None:
    from adapters.litellm_client import price_per_token

    return price_per_token(model)
