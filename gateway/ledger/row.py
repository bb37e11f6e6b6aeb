"""The ledger's SQL row of one request: the one place a ``RequestRecord`` becomes columns.

Columns a record has no value for (a refused request has no prices) are left
out; ``Database.insert_ledger`` fills them with the columns' defaults.
"""

from __future__ import annotations

from gateway.ledger.charge import Charge
from gateway.ledger.schema import LedgerRow
from gateway.record import RequestRecord


def ledger_row(record: RequestRecord) -> LedgerRow:
    """The ``ledger`` table's columns (``schema.py``) for ``record``."""
    asked, decided = record.asked, record.decided
    row: LedgerRow = {
        "request_id": asked.request_id,
        "ts": asked.ts,
        "api": asked.api,
        "key_id": asked.key_id,
        "team": asked.team,
        "model": asked.model,
        "tier": decided.tier,
        "level": decided.level,
        "entity_types": ",".join(decided.entity_types),
        "classifier_error": decided.classifier_error,
        "route": decided.route,
        "policy_version": decided.policy_version,
        "estimated_input_tokens": asked.estimated_input_tokens,
        "stream": asked.stream,
        "cache_status": record.cache_status,
        "cache_saved_usd": record.cache_saved_usd,
        "attempts": len(record.attempts),
        "attempt_log": record.attempt_log,
        "outcome": record.outcome,
        "status_code": record.status_code,
        "error_code": record.error_code,
        "latency_ms": record.latency_ms,
    }
    if record.target is not None:
        row["target"], row["residency"] = record.target, record.residency
    if record.target_model is not None:
        row["target_model"] = record.target_model
    if record.transform is not None:
        row["transform"] = record.transform
    if record.charge is not None:
        row.update(cost_columns(record.charge))
    return row


def cost_columns(charge: Charge) -> LedgerRow:
    """The ledger columns a charge fills: usage, cost, the prices that made it, the counterfactual."""
    price, reference = charge.price, charge.reference_price
    return {
        "prompt_tokens": charge.usage.prompt_tokens,
        "completion_tokens": charge.usage.completion_tokens,
        "cached_prompt_tokens": charge.usage.cached_prompt_tokens,
        "usage_source": charge.usage_source,
        "cost_usd": charge.cost,
        "price_input_per_m": price.input if price is not None else None,
        "price_output_per_m": price.output if price is not None else None,
        "price_cached_input_per_m": price.cached_input if price is not None else None,
        "price_source": charge.price_source,
        "reference_model": charge.reference_model,
        "reference_price_input_per_m": reference.input if reference is not None else None,
        "reference_price_output_per_m": reference.output if reference is not None else None,
        "reference_cost_usd": charge.reference_cost,
    }
