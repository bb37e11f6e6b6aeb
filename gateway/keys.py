"""API keys: created once, shown once, stored only as SHA-256 hashes.

Keys are high-entropy random tokens, so a plain SHA-256 is the right hash
(nothing to brute-force). Lookups are cached for a few seconds per replica;
revocation therefore takes effect everywhere within ``cache_ttl_s``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.config import StaticKey
from gateway.ledger.schema import api_keys
from gateway.ledger.store import Database, StoreUnavailable

# user: the data plane; finance: cost reports; compliance: policy (read, reload);
# monitor: /metrics and readiness details (a scraper's key); admin: everything.
ROLES = ("user", "finance", "compliance", "monitor", "admin")
KEY_PREFIX = "vr-"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id (never the key), team, roles and allowed models."""

    key_id: str
    team: str
    roles: frozenset[str]
    models: frozenset[str] | None = None  # None: every model of the policy

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles)) or "admin" in self.roles


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self, db: Database, static: list[StaticKey] | None = None, cache_ttl_s: float = 5.0) -> None:
        self._db = db
        self._static = {k.sha256: k for k in static or ()}
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def create(
        self, team: str, roles: list[str] | None = None, models: list[str] | None = None, description: str = ""
    ) -> tuple[str, str]:
        """A new key: returns ``(key_id, key)``. The key itself is never stored."""
        roles = roles or ["user"]
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
        if not team:
            raise ValueError("a key needs a team")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "key_" + secrets.token_hex(6)
        row = {
            "id": key_id,
            "sha256": hash_key(key),
            "team": team,
            "roles": ",".join(sorted(set(roles))),
            "models": ",".join(models) if models else None,
            "description": description[:256],
            "created_at": datetime.now(UTC),
        }
        try:
            with self._db.engine.begin() as conn:
                conn.execute(insert(api_keys).values(**row))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot store the key: {type(exc).__name__}") from None
        return key_id, key

    def list(self) -> list[dict[str, object]]:
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).mappings().all()
        return [{str(k): v for k, v in row.items() if k != "sha256"} for row in rows]

    def revoke(self, key_id: str) -> bool:
        with self._db.engine.begin() as conn:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        self._cache.clear()
        return bool(result.rowcount)

    def authenticate(self, key: str) -> Principal | None:
        """The principal for a presented key, or None. Blocking: call off the loop on a miss."""
        digest = hash_key(key)
        static = self._static.get(digest)
        if static is not None:
            return Principal(
                static.id, static.team, frozenset(static.roles), frozenset(static.models) if static.models else None
            )
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._cache_ttl_s:
            return cached[1]
        principal = self._lookup(digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, principal)
        return principal

    def cached(self, key: str) -> tuple[bool, Principal | None]:
        """``(known, principal)`` from the in-process cache only, without I/O."""
        digest = hash_key(key)
        static = self._static.get(digest)
        if static is not None:
            return True, self.authenticate(key)
        cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[0] < self._cache_ttl_s:
            return True, cached[1]
        return False, None

    def _lookup(self, digest: str) -> Principal | None:
        try:
            with self._db.engine.connect() as conn:
                row = conn.execute(
                    select(api_keys).where(api_keys.c.sha256 == digest, api_keys.c.revoked_at.is_(None))
                ).mappings().first()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"key lookup failed: {type(exc).__name__}") from None
        if row is None:
            return None
        models = frozenset(row["models"].split(",")) if row["models"] else None
        return Principal(row["id"], row["team"], frozenset(row["roles"].split(",")), models)
