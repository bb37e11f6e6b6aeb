"""One audit record: the facts of one decision, masked, and how it is chained.

A record holds the request id, the decision time, the key id (never the key),
the team, the virtual model, the level, the entity *types* found (never their
values), the classifier error if any, the route, the policy version, the
outcome, the cache result, the target that answered and every target
attempted with its residency and outcome; and, when the answering target
received the request pseudonymised, ``transform`` (the entity types replaced
and how many values, never the values).

Chaining: the stored ``body`` is the canonical JSON (sorted keys, no spaces)
of the record's facts plus its sequence number ``seq`` and ``prev``, the hash
of the record before it (``GENESIS`` for the first). The record's ``hash`` is
the SHA-256 of ``body``. Changing any fact, removing a record or moving one
breaks a hash or a link that ``verify`` checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.record import RequestRecord

GENESIS = "0" * 64
# Attempt outcomes that mean nothing was sent to the target. Any other outcome
# (including one added later) counts as the content having reached it: an
# unknown outcome errs towards reporting exposure, never towards hiding it.
NOT_SENT = frozenset({"refused_by_invariant", "skipped", "breaker_open", "not_sent"})


@dataclass(frozen=True, slots=True)
class AttemptFact:
    """One try at one target: where it was (residency) and how it ended."""

    target: str
    residency: str
    outcome: str
    error_code: str | None = None

    @property
    def sent(self) -> bool:
        return self.outcome not in NOT_SENT

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "residency": self.residency, "outcome": self.outcome,
                "error_code": self.error_code}


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """The facts of one decision; see the module docstring."""

    request_id: str
    ts: datetime
    key_id: str
    team: str
    model: str
    level: str
    policy_version: str
    outcome: str
    status_code: int
    entity_types: tuple[str, ...] = ()
    classifier_error: str | None = None
    route: str | None = None
    cache: str = "skip"
    target: str | None = None
    residency: str | None = None
    attempts: tuple[AttemptFact, ...] = ()
    transform: str | None = None
    api: str = "chat"  # which API was called: chat, embeddings, responses, messages

    @property
    def reached(self) -> str:
        """The most exposed residency the content was sent to: ``external``, ``on_prem`` or ``none``."""
        sent = {a.residency for a in self.attempts if a.sent}
        if "external" in sent:
            return "external"
        return "on_prem" if sent else "none"

    @classmethod
    def from_request(cls, record: RequestRecord) -> AuditRecord:
        """The audit facts of one request's record (``gateway/record.py``)."""
        asked, decided = record.asked, record.decided
        ts = asked.ts
        return cls(
            request_id=asked.request_id,
            ts=ts if ts.tzinfo else ts.replace(tzinfo=UTC),
            key_id=asked.key_id,
            team=asked.team,
            model=asked.model,
            level=decided.level,
            policy_version=decided.policy_version,
            outcome=record.outcome,
            status_code=record.status_code,
            entity_types=tuple(sorted(decided.entity_types)),
            classifier_error=decided.classifier_error,
            route=decided.route,
            cache=record.cache_status,
            target=record.target,
            residency=record.residency,
            transform=record.transform,
            api=asked.api,
            attempts=tuple(AttemptFact(a.target, a.residency, a.outcome, a.error_code) for a in record.attempts),
        )

    def facts(self) -> dict[str, Any]:
        """The record's facts; ``transform`` only when one ran and ``api`` only when it is not ``chat``
        (records without them keep their old shape)."""
        facts = {
            "request_id": self.request_id,
            "ts": iso(self.ts),
            "key_id": self.key_id,
            "team": self.team,
            "model": self.model,
            "level": self.level,
            "entity_types": list(self.entity_types),
            "classifier_error": self.classifier_error,
            "route": self.route,
            "policy_version": self.policy_version,
            "outcome": self.outcome,
            "status_code": self.status_code,
            "cache": self.cache,
            "target": self.target,
            "residency": self.residency,
            "attempts": [a.as_dict() for a in self.attempts],
            "reached": self.reached,
        }
        if self.transform is not None:
            facts["transform"] = self.transform
        if self.api != "chat":
            facts["api"] = self.api
        return facts

    def body(self, seq: int, prev: str, writer: str) -> bytes:
        """The canonical bytes that are stored and hashed."""
        return canonical({**self.facts(), "seq": seq, "prev": prev, "writer": writer})


def canonical(data: Mapping[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def iso(moment: datetime) -> str:
    """UTC, microseconds: the one textual form of a record's time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
