"""Key material from the environment: both, or neither; never echoed."""

from __future__ import annotations

import base64
import os

import pytest

from gateway.cache import CacheKeyring, KeyringError
from gateway.config import ConfigError

SECRET = "x" * 40
AES = base64.b64encode(os.urandom(32)).decode()


def test_both_set() -> None:
    ring = CacheKeyring.from_env({"GATEWAY_CACHE_SECRET": SECRET, "GATEWAY_CACHE_KEY": AES})
    assert not ring.ephemeral
    assert ring.secret == SECRET.encode() and ring.aes_key == base64.b64decode(AES)
    assert SECRET not in repr(ring) and AES not in repr(ring)


def test_neither_set_gives_random_per_process_material() -> None:
    one, two = CacheKeyring.from_env({}), CacheKeyring.from_env({})
    assert one.ephemeral and two.ephemeral
    assert one.secret != two.secret and one.aes_key != two.aes_key and len(one.aes_key) == 32


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GATEWAY_CACHE_SECRET": SECRET}, "GATEWAY_CACHE_KEY is not set"),
        ({"GATEWAY_CACHE_KEY": AES}, "GATEWAY_CACHE_SECRET is not set"),
        ({"GATEWAY_CACHE_SECRET": "short-secret", "GATEWAY_CACHE_KEY": AES}, "at least 32 characters"),
        ({"GATEWAY_CACHE_SECRET": SECRET, "GATEWAY_CACHE_KEY": "not base64!!"}, "not valid base64"),
        ({"GATEWAY_CACHE_SECRET": SECRET, "GATEWAY_CACHE_KEY": base64.b64encode(b"k" * 16).decode()}, "32 bytes"),
    ],
)
def test_unusable_material_is_refused_without_echoing_it(environ: dict[str, str], message: str) -> None:
    with pytest.raises(KeyringError, match=message) as caught:
        CacheKeyring.from_env(environ)
    assert isinstance(caught.value, ConfigError)
    for value in environ.values():
        assert value not in str(caught.value)
