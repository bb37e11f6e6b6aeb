"""Values at rest: AES-GCM, a fresh nonce each time, bound to their key."""

from __future__ import annotations

import os

import pytest

from gateway.cache import SealBroken, Sealer

KEY = os.urandom(32)
TEXT = b'{"content": "The answer is 42"}'


def test_round_trip_and_nothing_in_clear() -> None:
    sealer = Sealer(KEY)
    sealed = sealer.seal("k1", TEXT)
    assert sealer.open("k1", sealed) == TEXT
    assert b"answer" not in sealed and b"42" not in sealed


def test_each_seal_uses_a_fresh_nonce() -> None:
    sealer = Sealer(KEY)
    assert sealer.seal("k1", TEXT) != sealer.seal("k1", TEXT)


def test_a_value_moved_to_another_key_does_not_open() -> None:
    sealer = Sealer(KEY)
    with pytest.raises(SealBroken):
        sealer.open("k2", sealer.seal("k1", TEXT))


def test_tampered_truncated_or_foreign_values_do_not_open() -> None:
    sealer = Sealer(KEY)
    sealed = bytearray(sealer.seal("k1", TEXT))
    sealed[-1] ^= 1
    for bad in (bytes(sealed), b"", b"\x01short", b"\x02" + bytes(sealed[1:]), TEXT):
        with pytest.raises(SealBroken):
            sealer.open("k1", bad)
    with pytest.raises(SealBroken):
        Sealer(os.urandom(32)).open("k1", sealer.seal("k1", TEXT))


def test_the_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        Sealer(b"short")
