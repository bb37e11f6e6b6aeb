"""The cache's key material, from the environment only.

- ``GATEWAY_CACHE_SECRET``: the HMAC secret behind key names; at least 32
  characters (``python -c "import secrets; print(secrets.token_urlsafe(48))"``).
- ``GATEWAY_CACHE_KEY``: the AES-256-GCM key for values, base64 of exactly
  32 bytes (``openssl rand -base64 32``).

Set both or neither. With neither, each process draws random ones at start:
the cache still works and still leaks nothing, but it is private to that
process (replicas sharing Redis do not share answers, and a restart orphans
what was stored until its TTL ends). Replicas that should share the cache
must all have the same two values. One set without the other is refused: it
would make replicas overwrite each other's entries with values the others
cannot open.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.cache.seal import KEY_BYTES
from gateway.config import ConfigError

SECRET_ENV = "GATEWAY_CACHE_SECRET"
KEY_ENV = "GATEWAY_CACHE_KEY"
MIN_SECRET_CHARS = 32


class KeyringError(ConfigError):
    """The cache's key material is set but unusable; the message names the variable, never its value."""


@dataclass(frozen=True, slots=True, repr=False)
class CacheKeyring:
    """``secret`` keys the HMAC of cache keys; ``aes_key`` seals values.
    ``ephemeral``: both were drawn at random for this process."""

    secret: bytes
    aes_key: bytes
    ephemeral: bool

    def __repr__(self) -> str:  # never print key material
        return f"CacheKeyring(ephemeral={self.ephemeral})"

    @classmethod
    def random(cls) -> CacheKeyring:
        return cls(secrets.token_bytes(32), secrets.token_bytes(KEY_BYTES), ephemeral=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CacheKeyring:
        secret, key = environ.get(SECRET_ENV, ""), environ.get(KEY_ENV, "")
        if not secret and not key:
            return cls.random()
        if not secret or not key:
            missing = SECRET_ENV if not secret else KEY_ENV
            raise KeyringError(
                f"{missing} is not set but {KEY_ENV if missing == SECRET_ENV else SECRET_ENV} is: "
                "set both (the same values on every replica) or neither (a per-process cache)"
            )
        if len(secret) < MIN_SECRET_CHARS:
            raise KeyringError(f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters")
        try:
            aes_key = base64.b64decode(key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{KEY_ENV} is not valid base64 (generate one: openssl rand -base64 32)") from None
        if len(aes_key) != KEY_BYTES:
            raise KeyringError(f"{KEY_ENV} must decode to exactly {KEY_BYTES} bytes (openssl rand -base64 32)")
        return cls(secret.encode(), aes_key, ephemeral=False)
