"""A ``Report`` as a table for people, CSV for spreadsheets, or JSON for programs.

CSV and JSON carry every money figure exactly (ten decimal places, as the
ledger stores them); the table rounds to four places (hundredths of a cent)
for reading. CSV ends with a ``TOTAL`` row; its columns are the grouping
dimensions, then ``FIGURES`` in their order.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Final

import orjson

from gateway.reports.query import FIGURES, Report, ReportRow

FORMATS: Final = ("table", "csv", "json")
TOTAL: Final = "TOTAL"
_TABLE_FIGURES: Final = (
    ("requests", "requests"),
    ("errors", "errors"),
    ("prompt_tokens", "tokens in"),
    ("completion_tokens", "tokens out"),
    ("cached_prompt_tokens", "cached in"),
    ("cost_usd", "cost USD"),
    ("reference_cost_usd", "reference USD"),
    ("savings_vs_reference_usd", "saved vs ref USD"),
    ("onprem_savings_usd", "on-prem saved USD"),
    ("cache_hits", "cache hits"),
    ("cache_saved_usd", "cache saved USD"),
)


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "csv":
        return render_csv(report)
    return render_table(report)


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    dims = list(report.query.group_by)
    writer.writerow([*dims, *FIGURES])
    for row in report.rows:
        writer.writerow([_csv_cell(row.group[d]) for d in dims] + [_plain(row.figures[f]) for f in FIGURES])
    first = [TOTAL] + [""] * (len(dims) - 1) if dims else []
    writer.writerow(first + [_plain(report.totals.figures[f]) for f in FIGURES])
    return out.getvalue()


def render_table(report: Report) -> str:
    dims = list(report.query.group_by)
    header = [*dims, *(label for _, label in _TABLE_FIGURES)]
    body = [_table_cells(row, dims) for row in report.rows]
    total_cells = _table_cells(report.totals, dims)
    if dims:
        total_cells[0] = TOTAL
    widths = [max(len(cell) for cell in column) for column in zip(header, *body, total_cells, strict=True)]
    numeric = [False] * len(dims) + [True] * len(_TABLE_FIGURES)

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [f"Cost report, {_window(report)} (UTC), USD", line(header), rule, *(line(r) for r in body)]
    if body:
        lines.append(rule)
    lines.append(line(total_cells))
    return "\n".join(lines) + "\n"


def _window(report: Report) -> str:
    """``2026-10-01 to 2026-10-31``: whole days as people say them (the end included)."""
    start, end = report.query.start, report.query.end

    def moment(value: datetime, *, end: bool) -> str:
        if value.time() == time(0) and value.tzinfo is not None:
            return (value - timedelta(days=1) if end else value).date().isoformat()
        return value.isoformat(timespec="minutes")

    first = moment(start, end=False) if start else "the first record"
    last = moment(end, end=True) if end else "now"
    return f"{first} to {last}"


def _table_cells(row: ReportRow, dims: list[str]) -> list[str]:
    cells = [row.group.get(d) or "-" for d in dims]
    for name, _ in _TABLE_FIGURES:
        value = row.figures[name]
        cells.append(f"{value:,.4f}" if isinstance(value, Decimal) else f"{value:,}")
    return cells


def _plain(value: int | Decimal) -> str:
    """Fixed-point, never an exponent (``0.0000000000``, not ``0E-10``)."""
    return f"{value:f}" if isinstance(value, Decimal) else str(value)


def _csv_cell(value: str | None) -> str:
    """Spreadsheet-safe text: a cell that starts like a formula is quoted with a
    leading apostrophe, so opening the export in Excel never runs anything."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
