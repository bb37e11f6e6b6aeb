"""Searching the audit trail.

"Requests at confidential or above that reached an external target in Q3":
``AuditQuery(level_at_least="confidential", residency="external", since=..., until=...)``.

``level_at_least`` is resolved under the policy version that decided each
record: the ``policy_versions`` table keeps each version's text, so a level
list changed later does not change the answer for old records. Records of a
version the table does not know use ``fallback_levels`` (the policy in force).

``residency`` matches ``reached``: the most exposed residency the request's
content was sent to (``external`` if any attempt, even a failed one, went to
an external target; ``none`` when nothing was sent: denials, cache hits,
``no_target_available``). ``target`` matches any attempted target.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.audit.schema import audit_log
from gateway.audit.store import AuditStore


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters, all optional, combined with AND. ``until`` is exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    level_at_least: str | None = None
    residency: str | None = None  # external | on_prem | none
    team: str | None = None
    route: str | None = None
    target: str | None = None
    model: str | None = None
    policy_version: str | None = None
    entity: str | None = None
    outcome: str | None = None
    key_id: str | None = None
    request_id: str | None = None
    limit: int | None = None


class UnknownLevel(ValueError):
    """``level_at_least`` names a level no known policy version has."""


def run_query(
    store: AuditStore, query: AuditQuery, fallback_levels: Sequence[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Matching records in chain order: each record's body plus its ``hash``."""
    where: list[Any] = []
    c = audit_log.c
    for value, column in ((query.team, c.team), (query.route, c.route), (query.residency, c.reached),
                          (query.policy_version, c.policy_version), (query.outcome, c.outcome),
                          (query.request_id, c.request_id)):
        if value is not None:
            where.append(column == value)
    if query.since is not None:
        where.append(c.ts >= query.since)
    if query.until is not None:
        where.append(c.ts < query.until)
    if query.level_at_least is not None:
        where.append(_level_condition(store, query.level_at_least, fallback_levels))
    found = 0
    for record in store.records(where):
        body = orjson.loads(record.body)
        if not _matches(body, query):
            continue
        yield {**body, "hash": record.hash}
        found += 1
        if query.limit is not None and found >= query.limit:
            return


def _matches(body: dict[str, Any], query: AuditQuery) -> bool:
    if query.model is not None and body.get("model") != query.model:
        return False
    if query.key_id is not None and body.get("key_id") != query.key_id:
        return False
    if query.entity is not None and query.entity not in body.get("entity_types", ()):
        return False
    return query.target is None or any(a.get("target") == query.target for a in body.get("attempts", ()))


def _level_condition(store: AuditStore, level: str, fallback: Sequence[str] | None) -> Any:
    versions = policy_levels(store)
    c = audit_log.c
    clauses = [
        and_(c.policy_version == version, c.level.in_(levels[levels.index(level):]))
        for version, levels in versions.items()
        if level in levels
    ]
    if fallback is not None and level in fallback:
        unknown = c.policy_version.not_in(list(versions)) if versions else c.policy_version.is_not(None)
        clauses.append(and_(unknown, c.level.in_(list(fallback[list(fallback).index(level):]))))
    if not clauses:
        raise UnknownLevel(f"no known policy version has the level {level!r}")
    return or_(*clauses)


def policy_levels(store: AuditStore) -> dict[str, list[str]]:
    """Each recorded policy version's ordered levels, from the ``policy_versions`` table."""
    from gateway.ledger.schema import policy_versions
    from gateway.policy.loader import PolicyError, parse

    out: dict[str, list[str]] = {}
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(policy_versions.c.version, policy_versions.c.source)).all()
    except SQLAlchemyError:
        return out  # no such table yet: only the fallback applies
    for version, source in rows:
        try:
            data, _ = parse(source)
        except PolicyError:
            continue
        levels = data.get("levels") if isinstance(data, dict) else None
        if isinstance(levels, list) and all(isinstance(level, str) for level in levels):
            out[str(version)] = levels
    return out
