"""A month of plausible ledger rows, deterministic, for report and page tests."""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway.ledger.charge import money

ROUTES = {
    "sensitive-stays-on-prem": ("onprem-llama", "on_prem", "confidential"),
    "premium": ("gpt-4o", "external", "internal"),
    "default": ("local-small", "on_prem", "internal"),
}
TEAMS = ("payments", "research", "risk", "contractors", "treasury")
PRICES = {  # USD per million tokens: input, output
    "onprem-llama": (Decimal("0.05"), Decimal("0.10")),
    "gpt-4o": (Decimal("2.5"), Decimal("10")),
    "local-small": (Decimal("0.8680555556"), Decimal("0.8680555556")),
}
REFERENCE = (Decimal("2.5"), Decimal("10"))


def ledger_rows(start: datetime, days: int = 20, per_day: int = 30, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for day in range(days):
        for i in range(per_day):
            route = rnd.choice(list(ROUTES))
            target, residency, level = ROUTES[route]
            team = rnd.choices(TEAMS, weights=(5, 4, 3, 1, 2))[0]
            prompt, completion = rnd.randint(20, 4000), rnd.randint(5, 900)
            cached = rnd.choice((0, 0, 0, prompt // 2)) if target == "gpt-4o" else 0
            price_in, price_out = PRICES[target]
            full = money((prompt * price_in + completion * price_out) / 1_000_000)
            fresh = money(((prompt - cached) * price_in + cached * price_in / 2 + completion * price_out) / 1_000_000)
            reference = money((prompt * REFERENCE[0] + completion * REFERENCE[1]) / 1_000_000)
            failed = rnd.random() < 0.03
            hit = route == "premium" and not failed and rnd.random() < 0.1
            rows.append(
                {
                    "request_id": f"seed-{seed}-{day:02d}-{i:03d}",
                    "ts": start + timedelta(days=day, minutes=i * 37 % 1440),
                    "key_id": f"key_{team}",
                    "team": team,
                    "model": "bank-premium" if route == "premium" else "bank-standard",
                    "level": level,
                    "entity_types": "",
                    "route": route,
                    "target": None if failed else target,
                    "residency": None if failed else residency,
                    "policy_version": "seeded",
                    "estimated_input_tokens": prompt,
                    "prompt_tokens": 0 if failed else prompt,
                    "completion_tokens": 0 if failed else completion,
                    "cached_prompt_tokens": 0 if failed or hit else cached,
                    "cost_usd": Decimal(0) if failed or hit else fresh,
                    "reference_cost_usd": None if failed or hit else reference,
                    "cache_saved_usd": full if hit else None,
                    "price_input_per_m": None if failed or hit else price_in,
                    "price_output_per_m": None if failed or hit else price_out,
                    "usage_source": "cache" if hit else "upstream",
                    "cache_status": "hit" if hit else ("miss" if route == "premium" else "skip"),
                    "outcome": "no_target_available" if failed else "ok",
                    "status_code": 503 if failed else 200,
                    "latency_ms": 100.0,
                    "attempts": 0 if hit else 1,
                    "attempt_log": "",
                    "stream": bool(i % 2),
                }
            )
    return rows


@contextlib.contextmanager
def scratch_database(postgres_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for as long as the block runs (any fixture scope)."""
    import psycopg

    name = f"gw_reports_{secrets.token_hex(4)}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
