"""Encryption at rest: cached values are sealed with AES-256-GCM before any store sees them.

A sealed value is ``version (1 byte) | nonce (12 bytes) | ciphertext and tag``.
The nonce is random for every value (96 bits: collisions are negligible far
beyond any cache's lifetime). The associated data is the value's cache key,
so a value copied under another key (a swap inside Redis) fails to open
instead of answering the wrong request.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32
_AAD_PREFIX = b"vaultroute/cache/v1:"


class SealBroken(Exception):
    """A stored value cannot be opened: another key, another process's key, or tampered."""


class Sealer:
    """Seals and opens cache values with one AES-256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the cache encryption key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def seal(self, name: str, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` for storage under the cache key ``name``."""
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext, _AAD_PREFIX + name.encode())

    def open(self, name: str, sealed: bytes) -> bytes:
        """The plaintext sealed under ``name``; ``SealBroken`` if it was not, or was altered."""
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != FORMAT_V1:
            raise SealBroken("unknown format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, _AAD_PREFIX + name.encode())
        except InvalidTag:
            raise SealBroken("authentication failed") from None
