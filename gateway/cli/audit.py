"""``gateway audit verify`` and ``gateway audit query``.

``verify`` exits 0 when the chain is intact (and prints its head: keep it as an
anchor), 1 with one line per problem otherwise, 2 when the database cannot be
read. ``query`` prints matching records as JSON lines (``--format jsonl``),
a table, or their count; no match prints nothing (``count``: 0) and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from gateway.audit import AuditQuery, AuditStore, run_query, verify
from gateway.audit.query import UnknownLevel
from gateway.cli.common import add_config_args, config_from, moment_arg
from gateway.ledger.store import Database, StoreUnavailable

_TABLE = ("seq", "ts", "request_id", "team", "level", "route", "policy_version", "reached", "target", "outcome")


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="audit trail: integrity and search").add_subparsers(
        dest="audit_command", required=True
    )
    check = audit.add_parser("verify", help="check the hash chain: edits, deletions, reordering")
    check.add_argument("--anchor", action="append", default=[], metavar="SEQ:HASH",
                       help="a head printed or logged earlier that must still be in the chain (repeatable)")
    check.add_argument("--format", choices=("text", "json"), default="text")
    add_config_args(check)
    check.set_defaults(handler=_verify)

    query = audit.add_parser("query", help="search the audit trail")
    query.add_argument("--from", dest="since", type=moment_arg(end=False), metavar="D", help="YYYY-MM-DD or ISO time")
    query.add_argument("--to", dest="until", type=moment_arg(end=True), metavar="D", help="inclusive day, or ISO time")
    query.add_argument("--level-at-least", metavar="LEVEL", help="under the policy version that decided each record")
    query.add_argument("--residency", choices=("external", "on_prem", "none"),
                       help="the most exposed residency the content was sent to")
    for name in ("team", "route", "target", "model", "policy-version", "entity", "outcome", "key-id", "request-id"):
        query.add_argument(f"--{name}")
    query.add_argument("--limit", type=int)
    query.add_argument("--format", choices=("jsonl", "table", "count"), default="jsonl")
    query.add_argument("--policy", help="policy whose levels apply to versions the database does not know")
    add_config_args(query)
    query.set_defaults(handler=_query)


def _store(args: argparse.Namespace) -> tuple[Database, AuditStore]:
    db = Database(config_from(args).database_url)
    store = AuditStore(db.engine)
    store.create_schema()
    return db, store


def _verify(args: argparse.Namespace) -> int:
    try:
        anchors = [_anchor(value) for value in args.anchor]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        db, store = _store(args)
        try:
            report = verify(store, anchors)
        finally:
            db.close()
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        sys.stdout.write(orjson.dumps({
            "ok": report.ok, "records": report.records, "head": {"seq": report.head_seq, "hash": report.head_hash},
            "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in report.problems],
        }).decode() + "\n")
    else:
        for problem in report.problems:
            print(problem)
        verdict = "ok" if report.ok else f"FAILED: {len(report.problems)} problem(s)"
        print(f"{verdict}: {report.records} records; head {report.head_seq}:{report.head_hash}")
    return 0 if report.ok else 1


def _query(args: argparse.Namespace) -> int:
    query = AuditQuery(
        since=args.since, until=args.until, level_at_least=args.level_at_least, residency=args.residency,
        team=args.team, route=args.route, target=args.target, model=args.model,
        policy_version=args.policy_version, entity=args.entity, outcome=args.outcome, key_id=args.key_id,
        request_id=args.request_id, limit=args.limit,
    )
    count = 0
    try:
        db, store = _store(args)
        try:
            fallback = _fallback_levels(args)
            if args.format == "table":
                print("\t".join(_TABLE))
            for record in run_query(store, query, fallback):
                count += 1
                if args.format == "jsonl":
                    sys.stdout.write(orjson.dumps(record).decode() + "\n")
                elif args.format == "table":
                    print("\t".join("" if record.get(k) is None else str(record.get(k)) for k in _TABLE))
        finally:
            db.close()
    except UnknownLevel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "count":
        print(count)
    else:
        print(f"{count} record(s)", file=sys.stderr)
    return 0


def _fallback_levels(args: argparse.Namespace) -> list[str] | None:
    from gateway.policy.loader import PolicyError, load_file

    path = args.policy or config_from(args).policy
    try:
        return list(load_file(path).policy.levels)
    except PolicyError:
        return None


def _anchor(value: str) -> tuple[int, str]:
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise ValueError(f"an anchor is SEQ:HASH (64 hex digits), not {value!r}")
    return int(seq), digest.lower()

