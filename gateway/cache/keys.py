"""Cache keys: which requests may share an answer, decided by an HMAC.

Two requests share a cached answer only when every input below is equal:

- the scope: ``team:<team>`` by default; ``org`` only when the route says
  ``scope: organisation`` and the request is at the policy's lowest level
  (policy validation refuses ``organisation`` with a higher ``max_level``;
  ``scope_for`` applies the rule again at run time);
- the policy version (a reload with any change starts a fresh cache);
- the route, its configured target list and the request's level;
- the canonical request: the virtual model, the messages, and every parameter
  that can change the answer (``temperature``, ``seed``, ``max_tokens``,
  ``tools``, ``response_format``...). ``user`` is left out: it names the
  caller, it does not change the answer. ``stream`` is left out: a streamed
  and a plain request share an answer.

The key is ``HMAC-SHA256(secret, canonical JSON)`` in hex: without the secret
nobody can test whether a given prompt is cached, and the key name reveals
nothing of the request, the team or the route.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

KEY_FORMAT = "vaultroute-cache-key/1"
IGNORED_PARAMS = frozenset({"user"})


def deterministic(params: Mapping[str, Any]) -> bool:
    """Whether the same request should give the same answer.

    True for ``temperature: 0`` or any ``seed``. An absent temperature is
    OpenAI's default, 1: not deterministic.
    """
    temperature = params.get("temperature", 1.0)
    return temperature == 0 or params.get("seed") is not None


def scope_for(
    scope: Literal["team", "organisation"], *, team: str, level: str, lowest_level: str
) -> str:
    """The sharing scope of a request: its team, unless the route widens it for the lowest level."""
    if scope == "organisation" and level == lowest_level:
        return "org"
    return f"team:{team}"


def cache_key(
    secret: bytes,
    *,
    scope: str,
    policy_version: str,
    route: str,
    targets: Sequence[str],
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    level: str = "",
) -> str:
    """The opaque cache key (64 hex digits) of a request; see the module docstring."""
    if not secret:
        raise ValueError("the cache key needs a secret")
    canonical = orjson.dumps(
        {
            "format": KEY_FORMAT,
            "scope": scope,
            "policy": policy_version,
            "route": route,
            "targets": list(targets),
            "level": level,
            "model": model,
            "messages": list(messages),
            "params": {k: v for k, v in params.items() if k not in IGNORED_PARAMS and v is not None},
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return hmac.new(secret, canonical, hashlib.sha256).hexdigest()
