"""``gateway report``: the cost report from the ledger, as a table, CSV or JSON.

    gateway report [--from D] [--to D] [--by route,team,...] [--format table|csv|json]

``--from`` is inclusive, ``--to`` exclusive, except that a day given as
``--to`` includes that day (``--from 2026-10-01 --to 2026-10-31`` is October).
Times are UTC unless they carry an offset. Exit 0 with the report on stdout;
1 when the ledger cannot be read; 2 for bad options.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.cli.common import add_config_args, config_from
from gateway.ledger.store import Database, StoreUnavailable
from gateway.reports import DIMENSIONS, FORMATS, ReportError, ReportQuery, build_report, render


def register(sub: Any) -> None:
    report = sub.add_parser(
        "report",
        help="cost report from the ledger",
        description="Cost report: totals, tokens, requests, cache and on-prem savings, grouped as asked.",
    )
    report.add_argument("--from", dest="start", metavar="D", help="start day or ISO time (inclusive, UTC)")
    report.add_argument("--to", dest="end", metavar="D", help="end day (included) or ISO time (exclusive)")
    report.add_argument("--by", default="", metavar="DIMS", help=f"comma-separated: {','.join(DIMENSIONS)}")
    report.add_argument("--format", choices=FORMATS, default="table")
    add_config_args(report)
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    try:
        query = ReportQuery.parse(args.start, args.end, args.by)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = Database(config_from(args).database_url)
    try:
        db.create_schema()
        report = build_report(db, query)
    except StoreUnavailable as exc:
        print(f"error: cannot read the ledger: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    sys.stdout.write(render(report, args.format))
    return 0
