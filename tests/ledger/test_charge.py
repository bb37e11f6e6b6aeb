"""Pricing one request's usage: cached tokens at their own rate, the counterfactual,
the prices kept with the charge, amounts at the ledger's precision."""

from __future__ import annotations

from decimal import Decimal

from adapters.base import Usage
from gateway.ledger.charge import charge, estimate, estimate_request, money
from gateway.ledger.row import cost_columns
from gateway.policy.model import Pricing, Target
from gateway.pricing import Price, Pricer
from gateway.tokens import TokenCounter

TABLE = {
    "openai/gpt-4o": (2.5e-06, 1e-05, 1.25e-06),
    "openai/gpt-4o-mini": (1.5e-07, 6e-07, 7.5e-08),
}


def pricer() -> Pricer:
    return Pricer(lambda model: TABLE.get(model))


def closed(model: str = "openai/gpt-4o-mini", pricing: Pricing | None = None) -> Target:
    return Target(kind="litellm", model=model, residency="external", pricing=pricing)


def test_cached_prompt_tokens_are_priced_at_the_cached_rate() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=600)
    charged = charge(pricer(), closed(), usage, "upstream", None)
    # 400 fresh x 0.15 + 600 cached x 0.075 + 200 x 0.60, per million
    assert charged.cost == Decimal("0.0002250000")
    row = cost_columns(charged)
    assert row["price_input_per_m"] == Decimal("0.15") and row["price_cached_input_per_m"] == Decimal("0.075")
    assert row["price_source"] == "table" and row["usage_source"] == "upstream"


def test_the_counterfactual_is_priced_on_the_reference_model() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    onprem = Target(kind="openai_compatible", model="llama", residency="on_prem", api_base="http://x/v1",
                    pricing=Pricing(usd_per_gpu_hour=2.5, tokens_per_second=800))
    charged = charge(pricer(), onprem, usage, "counted", "openai/gpt-4o")
    assert charged.price_source == "gpu_hour"
    assert charged.cost == money(Decimal("2.5") / (800 * 3600) * 2000)
    assert charged.reference_cost == Decimal("0.0125000000")
    assert cost_columns(charged)["reference_model"] == "openai/gpt-4o"
    assert cost_columns(charged)["reference_price_output_per_m"] == Decimal("10.0")


def test_unpriced_target_and_unknown_reference() -> None:
    local = Target(kind="transformers", model="smollm2-135m-instruct", residency="on_prem")
    charged = charge(pricer(), local, Usage(prompt_tokens=5, completion_tokens=5), "upstream", "no/such-model")
    assert charged.cost == 0 and charged.price is None and charged.price_source is None
    assert charged.reference_cost is None and charged.reference_model is None


def test_amounts_are_kept_at_ten_places() -> None:
    price = Price(Decimal(1) / 3, Decimal(1) / 3)
    assert estimate(price, 1, 1) == Decimal("0.0000006667")
    assert money(Decimal("0.00000000005")) == Decimal("0E-10")  # half to even


def test_estimate_takes_the_dearest_candidate_and_max_tokens() -> None:
    messages = [{"role": "user", "content": "Hello"}]
    targets = [closed("openai/gpt-4o-mini"), closed("openai/gpt-4o")]
    tokens = TokenCounter()
    # 8 prompt tokens (o200k) at 2.50 + 100 output at 10.00 per million
    assert estimate_request(pricer(), tokens, targets, messages, 100) == Decimal("0.0010200000")
    assert estimate_request(pricer(), tokens, targets[:1], messages, None) > 0
