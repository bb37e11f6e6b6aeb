"""What one request is charged: its usage priced at the answering target's price,
with the counterfactual on the policy's reference model.

``charge`` is pure: usage and prices in, a ``Charge`` out (the ledger's cost
columns are written from it by ``row.py``). Every amount is quantized to the ledger's ten
decimal places here, once, so that the ``x-gateway-cost-usd`` header, the
budget counters and the stored row all hold the same number and reports add
up to exactly the sum of the rows.

Where the usage came from is part of the record: ``upstream`` (the provider's
own report, what its invoice counts), ``counted`` (the gateway counted the
prompt and what was produced with the model's tokenizer, see ``tokens.py``),
``cache`` (answered from the response cache: nothing was charged) or ``none``.

The usage is that of the attempt that answered. Attempts that failed before
it (an error status, a refused connection, a timeout before the first byte)
come back without a usage report and are not billed by the providers we
speak to, so they add nothing; each one is listed in ``attempt_log``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from adapters.base import Usage
from gateway.policy.model import Target
from gateway.pricing import MILLION, Price, Pricer
from gateway.tokens import TokenCounter

PLACES = Decimal("1e-10")
ZERO = Decimal(0).quantize(PLACES)
UsageSource = Literal["upstream", "counted", "cache", "none"]


def money(amount: Decimal) -> Decimal:
    """``amount`` at the ledger's precision (banker's rounding at 1e-10 USD)."""
    return amount.quantize(PLACES, rounding=ROUND_HALF_EVEN)


def price_source(target: Target, price: Price | None) -> str | None:
    """``policy`` (the target's per-token ``pricing``), ``gpu_hour`` (amortised
    GPU time), ``table`` (litellm's bundled price table), or ``None`` (unpriced)."""
    if price is None:
        return None
    if target.pricing is not None:
        return "gpu_hour" if target.pricing.usd_per_gpu_hour is not None else "policy"
    return "table"


@dataclass(frozen=True, slots=True)
class Charge:
    usage: Usage
    usage_source: UsageSource
    cost: Decimal
    price: Price | None = None
    price_source: str | None = None
    reference_model: str | None = None
    reference_price: Price | None = None
    reference_cost: Decimal | None = None


def charge(
    pricer: Pricer, target: Target, usage: Usage, usage_source: UsageSource, reference_model: str | None
) -> Charge:
    """Price ``usage`` on ``target`` and on the reference model.

    Cached prompt tokens are billed at the cached-input price where the price
    has one (else at the input price). An unpriced target costs zero and
    leaves its price columns empty; an unknown reference model leaves the
    counterfactual empty rather than guessing.
    """
    price = pricer.price(target)
    reference = pricer.reference(reference_model)
    return Charge(
        usage=usage,
        usage_source=usage_source,
        cost=money(price.cost(usage)) if price is not None else ZERO,
        price=price,
        price_source=price_source(target, price),
        reference_model=reference_model if reference is not None else None,
        reference_price=reference,
        reference_cost=money(reference.cost(usage)) if reference is not None else None,
    )


def estimate(price: Price | None, input_tokens: int, output_tokens: int) -> Decimal:
    """An upper-leaning cost estimate before the call: every input token at the
    full input price (no cache discount), ``output_tokens`` at the output price."""
    if price is None:
        return ZERO
    return money((input_tokens * price.input + output_tokens * price.output) / MILLION)


DEFAULT_OUTPUT_TOKENS = 1024
"""Output assumed for a budget estimate when the request sets no ``max_tokens``."""


def estimate_request(
    pricer: Pricer,
    tokens: TokenCounter,
    targets: Sequence[Target],
    messages: Sequence[Mapping[str, Any]],
    max_output_tokens: int | None,
) -> Decimal:
    """What a request may cost before it is sent: its prompt counted with each
    candidate target's tokenizer, ``max_output_tokens`` (else
    ``DEFAULT_OUTPUT_TOKENS``) of output, at the dearest of the candidates."""
    output = max_output_tokens or DEFAULT_OUTPUT_TOKENS
    best = ZERO
    for target in targets:
        price = pricer.price(target)
        if price is not None:
            best = max(best, estimate(price, tokens.count_messages(target.model, messages), output))
    return best
