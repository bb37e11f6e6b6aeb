"""The cost report against SQLite and a real PostgreSQL: every grouping adds up to
exactly the sum of the ledger rows, and the savings follow their definitions."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.ledger.store import Database
from gateway.reports import DIMENSIONS, ReportError, ReportQuery, build_report, render
from tests.reports.seed import ledger_rows, scratch_database

START = datetime(2026, 10, 3, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, list[dict[str, Any]]]]:
    """One seeded ledger per database for the module: the tests only read it."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('reports')}/gateway.db"
        else:
            url = stack.enter_context(scratch_database(request.getfixturevalue("postgres_url")))
        db = Database(url)
        stack.callback(db.close)
        db.create_schema()
        rows = ledger_rows(START)
        db.insert_ledger(rows)
        yield db, rows


def _sum(rows: list[dict[str, Any]], field: str) -> Decimal:
    return sum((r[field] for r in rows if r[field] is not None), Decimal(0))


@pytest.mark.parametrize("group_by", [(), *((d,) for d in DIMENSIONS), ("day", "route"), ("team", "residency")])
def test_totals_equal_the_sum_of_the_records(seeded: tuple[Database, list[dict[str, Any]]],
                                              group_by: tuple[str, ...]) -> None:
    db, rows = seeded
    report = build_report(db, ReportQuery(group_by=group_by))
    totals = report.totals.figures
    assert totals["requests"] == len(rows)
    assert totals["cost_usd"] == _sum(rows, "cost_usd")  # exact, not merely to the cent
    assert totals["reference_cost_usd"] == _sum(rows, "reference_cost_usd")
    assert totals["cache_saved_usd"] == _sum(rows, "cache_saved_usd")
    assert totals["prompt_tokens"] == sum(r["prompt_tokens"] for r in rows)
    assert totals["completion_tokens"] == sum(r["completion_tokens"] for r in rows)
    assert sum(row.figures["cost_usd"] for row in report.rows) == totals["cost_usd"]
    if group_by:
        keys = [tuple(row.group[d] for d in group_by) for row in report.rows]
        assert len(keys) == len(set(keys))
        assert keys == sorted(keys, key=lambda k: tuple((v is None, v or "") for v in k))


def test_savings_follow_their_definitions(seeded: tuple[Database, list[dict[str, Any]]]) -> None:
    db, rows = seeded
    totals = build_report(db, ReportQuery()).totals.figures
    priced = [r for r in rows if r["reference_cost_usd"] is not None]
    assert totals["savings_vs_reference_usd"] == _sum(priced, "reference_cost_usd") - _sum(priced, "cost_usd")
    onprem = [r for r in priced if r["residency"] == "on_prem" and r["cache_status"] != "hit"]
    assert totals["onprem_savings_usd"] == _sum(onprem, "reference_cost_usd") - _sum(onprem, "cost_usd")
    assert totals["onprem_savings_usd"] > 0 and totals["cache_hits"] == sum(r["cache_status"] == "hit" for r in rows)
    assert totals["errors"] == sum(r["outcome"] != "ok" for r in rows)


def test_per_group_figures_match_the_rows(seeded: tuple[Database, list[dict[str, Any]]]) -> None:
    db, rows = seeded
    report = build_report(db, ReportQuery(group_by=("day", "team")))
    for row in report.rows:
        mine = [r for r in rows if r["ts"].strftime("%Y-%m-%d") == row.group["day"] and r["team"] == row.group["team"]]
        assert row.figures["requests"] == len(mine)
        assert row.figures["cost_usd"] == _sum(mine, "cost_usd")


def test_the_window_is_from_inclusive_to_exclusive(seeded: tuple[Database, list[dict[str, Any]]]) -> None:
    db, rows = seeded
    query = ReportQuery.parse("2026-10-05", "2026-10-06", "day")  # a day as 'to' includes it
    report = build_report(db, query)
    assert [row.group["day"] for row in report.rows] == ["2026-10-05", "2026-10-06"]
    inside = [r for r in rows if "2026-10-05" <= r["ts"].strftime("%Y-%m-%d") <= "2026-10-06"]
    assert report.totals.figures["cost_usd"] == _sum(inside, "cost_usd")
    assert build_report(db, ReportQuery.parse("2027-01-01", None, "")).rows == ()


def test_formats_carry_the_same_numbers(seeded: tuple[Database, list[dict[str, Any]]]) -> None:
    db, rows = seeded
    report = build_report(db, ReportQuery(group_by=("route",)))
    body = orjson.loads(render(report, "json"))
    assert Decimal(body["totals"]["cost_usd"]) == _sum(rows, "cost_usd")
    assert {r["route"] for r in body["rows"]} == {"default", "premium", "sensitive-stays-on-prem"}
    table = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert table[-1]["route"] == "TOTAL" and Decimal(table[-1]["cost_usd"]) == _sum(rows, "cost_usd")
    assert sum(Decimal(r["cost_usd"]) for r in table[:-1]) == _sum(rows, "cost_usd")
    text = render(report, "table")
    assert "sensitive-stays-on-prem" in text and "TOTAL" in text and f"{_sum(rows, 'cost_usd'):,.4f}" in text


def test_bad_options_are_refused() -> None:
    with pytest.raises(ReportError, match="unknown dimension 'colour'"):
        ReportQuery.parse(None, None, "route,colour")
    with pytest.raises(ReportError, match="not a date"):
        ReportQuery.parse("yesterday", None, None)
    with pytest.raises(ReportError, match="after"):
        ReportQuery.parse("2026-10-05", "2026-10-01", None)


def test_csv_cells_cannot_smuggle_formulas(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/gateway.db")
    db.create_schema()
    db.insert_ledger([{**ledger_rows(START, days=1, per_day=1)[0], "team": "=HYPERLINK(1)"}])
    out = render(build_report(db, ReportQuery(group_by=("team",))), "csv")
    db.close()
    assert "'=HYPERLINK(1)" in out
