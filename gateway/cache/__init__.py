"""The response cache: exact-match answers that cannot leak across teams, levels or policy versions.

- ``keys``: which requests share an answer (an HMAC over scope, policy version,
  route, targets, level and the canonical request);
- ``seal``: AES-256-GCM encryption of every stored value, bound to its key;
- ``keyring``: the HMAC secret and the AES key, from the environment;
- ``memory`` / ``redis_store``: where sealed values live (``ResponseCache``);
- ``service``: ``AnswerCache``, the stage the request path calls, which bounds
  every store call in time and skips a failing store.

What may be cached at all (the route's ``cache``, its ``max_level``,
determinism, ``Cache-Control``) is decided in ``gateway/serving/path.py`` from the
policy's ``Decision``. See ``docs/cache.md``.
"""

from gateway.cache.answer import CachedAnswer, CachedEmbeddings
from gateway.cache.base import CacheUnavailable, ResponseCache
from gateway.cache.keyring import CacheKeyring, KeyringError
from gateway.cache.keys import cache_key, deterministic, scope_for
from gateway.cache.memory import MemoryCache
from gateway.cache.redis_store import RedisCache
from gateway.cache.seal import SealBroken, Sealer
from gateway.cache.service import AnswerCache, Lookup

__all__ = [
    "AnswerCache",
    "CacheKeyring",
    "CacheUnavailable",
    "CachedAnswer",
    "CachedEmbeddings",
    "KeyringError",
    "Lookup",
    "MemoryCache",
    "RedisCache",
    "ResponseCache",
    "SealBroken",
    "Sealer",
    "cache_key",
    "deterministic",
    "scope_for",
]
