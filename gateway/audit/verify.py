"""Checking the audit chain: edits, deletions and reordering are all reported.

For each stored record, in ``seq`` order, ``verify`` checks that:

- ``seq`` follows the previous one (a gap: records were removed);
- the SHA-256 of ``body`` is the stored ``hash`` (the body was edited);
- ``body`` names the same ``seq`` (a record was moved);
- ``body.prev`` is the previous record's hash (a record before it was removed,
  edited together with its hash, or the order changed);
- the indexed columns equal the body's facts (a column was edited to mislead
  queries).

Then the head: its ``seq`` and ``hash`` must be the last record's (records were
removed from the end, or the head was rewritten). Each ``anchor`` (a
``(seq, hash)`` logged earlier by the writer or printed by a previous
``verify``) must still be in the chain: that catches a chain rewritten
consistently by someone with write access to the whole database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.audit.record import GENESIS, digest, iso
from gateway.audit.schema import INDEXED
from gateway.audit.store import AuditStore, StoredRecord


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int | None
    kind: str  # missing | edited | moved | broken_link | column_edited | unreadable | head | anchor
    detail: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "chain"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(slots=True)
class VerifyReport:
    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(store: AuditStore, anchors: Iterable[tuple[int, str]] = ()) -> VerifyReport:
    """Check the whole chain; see the module docstring. Raises ``StoreUnavailable`` if unreadable."""
    report = VerifyReport()
    wanted = dict(anchors)
    seen_anchors: set[int] = set()
    expected_seq, prev = 1, GENESIS
    for record in store.records():
        report.records += 1
        problems = report.problems
        if record.seq > expected_seq:
            problems.append(Problem(record.seq, "missing", f"records {expected_seq}..{record.seq - 1} are missing"))
        body = _parse(record)
        if digest(record.body.encode()) != record.hash:
            problems.append(Problem(record.seq, "edited", "the record's content does not match its hash"))
        if body is None:
            problems.append(Problem(record.seq, "unreadable", "the record's body is not a JSON object"))
        else:
            if body.get("seq") != record.seq:
                problems.append(Problem(record.seq, "moved", f"the record says it is seq {body.get('seq')}"))
            if body.get("prev") != prev:
                problems.append(Problem(record.seq, "broken_link",
                                        "the previous record's hash does not match: a record before it was "
                                        "removed, edited or moved"))
            problems.extend(_column_problems(record, body))
        if record.seq in wanted:
            seen_anchors.add(record.seq)
            if wanted[record.seq] != record.hash:
                problems.append(Problem(record.seq, "anchor", "the anchored hash is not this record's hash"))
        expected_seq, prev = record.seq + 1, record.hash
    head = store.head()
    if head is None:
        report.problems.append(Problem(None, "head", "the chain's head row is missing"))
    else:
        report.head_seq, report.head_hash = head.seq, head.hash
        if head.seq != expected_seq - 1 or head.hash != prev:
            report.problems.append(Problem(
                None, "head", f"the head says seq {head.seq}, the last record is seq {expected_seq - 1}: "
                              "records were removed from the end, or the head was rewritten"))
    for seq in sorted(set(wanted) - seen_anchors):
        report.problems.append(Problem(seq, "anchor", "an anchored record is no longer in the chain"))
    return report


def _parse(record: StoredRecord) -> dict[str, Any] | None:
    try:
        body = orjson.loads(record.body)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _column_problems(record: StoredRecord, body: dict[str, Any]) -> list[Problem]:
    problems = []
    for column, key in INDEXED:
        if record.columns.get(column) != body.get(key):
            problems.append(Problem(record.seq, "column_edited", f"column {column!r} differs from the record"))
    ts = record.columns.get("ts")
    if isinstance(ts, datetime):
        ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        if iso(ts) != body.get("ts"):
            problems.append(Problem(record.seq, "column_edited", "column 'ts' differs from the record"))
    return problems
