"""One request's generation parameters, read from OpenAI's and validated once."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import UpstreamRejected


def bad_request(message: str) -> UpstreamRejected:
    """A request the local model cannot serve: the client's error, not worth another attempt anywhere."""
    return UpstreamRejected(f"The model refused the request: {message}.")


@dataclass(frozen=True, slots=True)
class SamplingDefaults:
    """What the model's ``generation_config`` asks for when a request does not say."""

    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0

    @classmethod
    def from_generation_config(cls, config: Any) -> SamplingDefaults:
        if not getattr(config, "do_sample", False):
            return cls()
        return cls(
            temperature=float(getattr(config, "temperature", None) or 1.0),
            top_p=float(getattr(config, "top_p", None) or 1.0),
        )


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """One request's generation parameters, validated."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], *, default_max: int, limit: int, defaults: SamplingDefaults
    ) -> GenerationOptions:
        """Read OpenAI parameters; raise a non-retryable ``UpstreamError`` on bad values."""
        requested = params.get("max_completion_tokens")
        if requested is None:
            requested = params.get("max_tokens")
        max_new = default_max if requested is None else requested
        if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
            raise bad_request("max_tokens must be a positive integer")

        temperature = params.get("temperature")
        temperature = defaults.temperature if temperature is None else temperature
        top_p = params.get("top_p")
        top_p = defaults.top_p if top_p is None else top_p
        if not _is_number(temperature) or temperature < 0:
            raise bad_request("temperature must be a number >= 0")
        if not _is_number(top_p) or not 0 < top_p <= 1:
            raise bad_request("top_p must be a number in (0, 1]")

        seed = params.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise bad_request("seed must be an integer")
        if params.get("n") not in (None, 1):
            raise bad_request("the local model returns one choice: n must be 1")

        stop = params.get("stop")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if not all(isinstance(s, str) for s in stops):
            raise bad_request("stop must be a string or a list of strings")
        return cls(
            max_new_tokens=min(max_new, limit),
            temperature=float(temperature),
            top_p=float(top_p),
            seed=seed,
            stop=tuple(s for s in stops if s),
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
