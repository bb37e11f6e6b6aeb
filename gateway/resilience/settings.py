"""Operator settings for failure handling: the ``resilience:`` section of the configuration.

Validated once at load time, like the rest of ``gateway/config.py`` (unknown
keys are errors). Every field has a default that is safe for one replica on one
machine; ``docs/resilience.md`` explains each of them. Per-target timeouts and
the per-target in-flight bound live with the target in the policy
(``connect_timeout_s``, ``first_token_timeout_s``, ``timeout_s``,
``max_in_flight``), because they describe that upstream.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySettings(_Strict):
    """Retries of one target before the route's next target is tried."""

    max_attempts: int = Field(default=2, ge=1, le=10, description="Attempts per target, the first included.")
    backoff_initial_s: float = Field(default=0.2, ge=0, le=60, description="First backoff; doubles each retry.")
    backoff_max_s: float = Field(default=2.0, ge=0, le=300, description="Longest backoff between two attempts.")
    jitter_s: float = Field(default=0.2, ge=0, le=60, description="Random extra wait, 0 to this, added to a backoff.")
    retry_after_cap_s: float = Field(
        default=5.0, ge=0, le=300,
        description="Honour an upstream's Retry-After up to this; a longer one moves on to the next target.",
    )
    budget_ratio: float = Field(
        default=0.2, ge=0, le=10, description="Retries allowed per first attempt to a target, over the window."
    )
    budget_window_s: float = Field(default=10.0, gt=0, le=3600, description="Window of the retry budget.")
    budget_min_retries: int = Field(
        default=3, ge=0, description="Retries always allowed per window, so a quiet target can still retry."
    )


class BreakerSettings(_Strict):
    """Circuit breakers, one per target (shared through Redis when configured)."""

    consecutive_failures: int = Field(default=5, ge=1, description="Open after this many failures in a row.")
    error_rate: float = Field(default=0.5, gt=0, le=1, description="Or open when this share of calls fails...")
    min_calls: int = Field(default=20, ge=1, description="...over at least this many calls...")
    window_s: float = Field(default=30.0, gt=0, le=3600, description="...in a window of this many seconds.")
    open_s: float = Field(default=15.0, gt=0, le=3600, description="Seconds open before half-open probes.")
    half_open_probes: int = Field(default=1, ge=1, description="Calls let through at once while half-open.")


class RateLimit(_Strict):
    """Requests and tokens per minute; ``None`` means no limit."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)


class RateLimits(_Strict):
    """Per API key and per team; ``teams`` overrides ``per_team`` for the teams it names."""

    per_key: RateLimit = Field(default_factory=RateLimit)
    per_team: RateLimit = Field(default_factory=RateLimit)
    teams: dict[str, RateLimit] = Field(default_factory=dict)

    def for_team(self, team: str) -> RateLimit:
        return self.teams.get(team, self.per_team)


class BackpressureSettings(_Strict):
    """Bounded in-flight requests per target, per replica."""

    max_in_flight: int = Field(
        default=256, ge=1, description="Per target, unless the target sets its own 'max_in_flight'."
    )
    queue_wait_s: float = Field(
        default=2.0, ge=0, le=600, description="How long a request waits for a free place before 503."
    )


class ResilienceSettings(_Strict):
    """The ``resilience:`` section of the operator configuration."""

    retries: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    backpressure: BackpressureSettings = Field(default_factory=BackpressureSettings)
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, le=3600, description="On SIGTERM, seconds in-flight requests get to finish."
    )
    redis_prefix: str = Field(
        default="vaultroute:", min_length=1, max_length=64, description="Prefix of the keys kept in Redis."
    )
    redis_retry_s: float = Field(
        default=1.0, gt=0, le=300, description="After Redis fails, seconds before it is tried again."
    )
