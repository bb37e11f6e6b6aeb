"""The cost report: the ledger grouped by any of its dimensions, summed exactly.

One SQL ``GROUP BY`` over the ledger, so a year of traffic is summed by the
database, not in Python; money is summed exactly on both databases (see
``gateway.ledger.store.money_sum``). ``Report.totals`` is the sum of its rows,
and every money figure is a ``Decimal`` with the ledger's ten places.

Dimensions: ``route``, ``team``, ``key`` (the API key's id), ``target``,
``model`` (the virtual model the client asked for), ``level``, ``residency``,
``day`` and ``month`` (UTC). A window is ``[start, end)``.

Where it is read from: on PostgreSQL, a report whose window starts and ends at
UTC midnights (days, as the page and ``gateway report`` ask) and that is not
grouped by ``key`` reads the daily rollup ``ledger_daily`` (migration 0003,
kept exact by a trigger): a month of a busy ledger is a few thousand rollup
rows instead of millions of ledger rows (``docs/capacity.md``). Anything
else reads the ledger. Both give the same figures (``tests/ledger/test_rollup.py``). Rows come sorted
by their group values (byte order, the same on both databases; empty last).

Figures per group:

``requests``, ``errors`` (outcome other than ``ok``), ``cache_hits``;
``prompt_tokens``, ``completion_tokens``, ``cached_prompt_tokens``;
``cost_usd``: what was charged;
``reference_cost_usd``: what the same usage would have cost on the policy's
``reference_model`` (rows that have one);
``savings_vs_reference_usd``: ``reference_cost_usd`` less the cost of those
same rows: what the gateway saved against sending everything to the reference
model (cache hits included, at their zero cost);
``onprem_savings_usd``: the part of it earned by answering on-prem (rows with
residency ``on_prem`` that were not cache hits);
``cache_saved_usd``: what the cache hits would have cost at the target that
made the cached answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.ledger.schema import ledger, ledger_daily
from gateway.ledger.store import Database, StoreUnavailable, money_sum, money_value

DIMENSIONS: Final = ("route", "team", "key", "target", "model", "level", "residency", "day", "month")
COUNTS: Final = ("requests", "errors", "cache_hits", "prompt_tokens", "completion_tokens", "cached_prompt_tokens")
MONEY: Final = (
    "cost_usd",
    "reference_cost_usd",
    "savings_vs_reference_usd",
    "onprem_savings_usd",
    "cache_saved_usd",
)
FIGURES: Final = COUNTS + MONEY


class ReportError(ValueError):
    """A report option is not valid; the message says which and why."""


def parse_moment(value: str, *, end: bool) -> datetime:
    """``--from``/``--to`` and ``from=``/``to=``: a day or an ISO time, UTC unless it
    says otherwise. A day given as the end includes that whole day."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReportError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(value) == len("YYYY-MM-DD"):
        moment += timedelta(days=1)
    return moment.astimezone(UTC)


def parse_group_by(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``route,day`` or ``["route", "day"]`` -> ``("route", "day")``; unknown names refused."""
    names = value.split(",") if isinstance(value, str) else list(value or ())
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in DIMENSIONS:
            raise ReportError(f"unknown dimension {name!r}; choose from {', '.join(DIMENSIONS)}")
        if name not in out:
            out.append(name)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    start: datetime | None = None
    end: datetime | None = None
    group_by: tuple[str, ...] = ()

    @classmethod
    def parse(cls, start: str | None, end: str | None, group_by: str | Sequence[str] | None) -> ReportQuery:
        query = cls(
            parse_moment(start, end=False) if start else None,
            parse_moment(end, end=True) if end else None,
            parse_group_by(group_by),
        )
        if query.start is not None and query.end is not None and query.end <= query.start:
            raise ReportError("'to' must be after 'from'")
        return query


@dataclass(frozen=True, slots=True)
class ReportRow:
    group: Mapping[str, str | None]
    figures: Mapping[str, int | Decimal]

    def to_json(self) -> dict[str, Any]:
        """Money as strings (exact decimals), counts as integers."""
        return {**self.group, **{k: f"{v:f}" if isinstance(v, Decimal) else v for k, v in self.figures.items()}}


@dataclass(frozen=True, slots=True)
class Report:
    query: ReportQuery
    rows: tuple[ReportRow, ...]
    totals: ReportRow = field(default_factory=lambda: ReportRow({}, _zero()))

    def to_json(self) -> dict[str, Any]:
        q = self.query
        return {
            "object": "cost_report",
            "currency": "USD",
            "from": q.start.isoformat() if q.start else None,
            "to": q.end.isoformat() if q.end else None,
            "group_by": list(q.group_by),
            "rows": [row.to_json() for row in self.rows],
            "totals": self.totals.to_json(),
        }


def build_report(db: Database, query: ReportQuery, *, source: Literal["auto", "ledger"] = "auto") -> Report:
    """Run ``query`` against the ledger, or its daily rollup when that answers it (see the module
    docstring; ``source="ledger"`` never uses the rollup). Raises ``StoreUnavailable``."""
    dialect = db.dialect
    if source == "auto" and dialect == "postgresql" and _rollup_answers(query):
        dims = [_rollup_dimension(name).label(name) for name in query.group_by]
        figures = _rollup_figures()
        conditions = []
        if query.start is not None:
            conditions.append(ledger_daily.c.day >= query.start.date())
        if query.end is not None:
            conditions.append(ledger_daily.c.day < query.end.date())
    else:
        dims = [_dimension(name, dialect).label(name) for name in query.group_by]
        figures = _figures(dialect)
        conditions = []
        if query.start is not None:
            conditions.append(ledger.c.ts >= query.start)
        if query.end is not None:
            conditions.append(ledger.c.ts < query.end)
    statement = select(*dims, *(expr.label(name) for name, expr in figures.items()))
    if conditions:
        statement = statement.where(and_(*conditions))
    if dims:
        statement = statement.group_by(*dims)
    try:
        with db.engine.connect() as conn:
            raw = [dict(r._mapping) for r in conn.execute(statement)]
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"ledger read failed: {type(exc).__name__}") from None
    rows = tuple(
        sorted(
            (_row(r, query.group_by, dialect) for r in raw if int(r["requests"] or 0) > 0),
            key=lambda row: tuple((value is None, value or "") for value in row.group.values()),
        )
    )
    totals = _zero()
    for row in rows:
        for name, value in row.figures.items():
            totals[name] += value
    return Report(query, rows, ReportRow({}, totals))


def _zero() -> dict[str, int | Decimal]:
    return {name: 0 for name in COUNTS} | {name: money_value(None, "postgresql") for name in MONEY}


def _rollup_answers(query: ReportQuery) -> bool:
    whole_days = all(m is None or m == m.replace(hour=0, minute=0, second=0, microsecond=0)
                     for m in (query.start, query.end))  # fmt: skip
    return whole_days and "key" not in query.group_by


def _rollup_dimension(name: str) -> ColumnElement[Any]:
    d = ledger_daily.c
    if name in ("day", "month"):
        return func.to_char(d.day, "YYYY-MM-DD" if name == "day" else "YYYY-MM")
    if name in ("route", "target", "residency"):
        return func.nullif(d[name], "")  # the rollup keeps '' where the ledger has NULL
    return d[name]


def _rollup_figures() -> dict[str, ColumnElement[Any]]:
    """The same labels as ``_figures``, summed from the rollup's sums."""
    d = ledger_daily.c
    columns = {name: d[name] for name in COUNTS} | {
        "cost_usd": d.cost_usd, "reference_cost_usd": d.reference_cost_usd,
        "_cost_with_reference": d.cost_with_reference_usd, "_onprem_reference": d.onprem_reference_usd,
        "_onprem_cost": d.onprem_cost_usd, "cache_saved_usd": d.cache_saved_usd,
    }  # fmt: skip
    return {name: func.coalesce(func.sum(column), 0) for name, column in columns.items()}


def _dimension(name: str, dialect: str) -> ColumnElement[Any]:
    if name in ("day", "month"):
        if dialect == "postgresql":
            return func.to_char(func.timezone("UTC", ledger.c.ts), "YYYY-MM-DD" if name == "day" else "YYYY-MM")
        return func.strftime("%Y-%m-%d" if name == "day" else "%Y-%m", ledger.c.ts)
    return ledger.c.key_id if name == "key" else ledger.c[name]


def _figures(dialect: str) -> dict[str, ColumnElement[Any]]:
    c = ledger.c
    has_reference = c.reference_cost_usd.is_not(None)
    onprem = and_(has_reference, c.residency == "on_prem", c.cache_status != "hit")

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def money_if(condition: ColumnElement[bool], column: Any) -> ColumnElement[Any]:
        return money_sum(case((condition, column), else_=literal(None)), dialect)

    return {
        "requests": func.count(),
        "errors": count_if(c.outcome != "ok"),
        "cache_hits": count_if(c.cache_status == "hit"),
        "prompt_tokens": func.coalesce(func.sum(c.prompt_tokens), 0),
        "completion_tokens": func.coalesce(func.sum(c.completion_tokens), 0),
        "cached_prompt_tokens": func.coalesce(func.sum(c.cached_prompt_tokens), 0),
        "cost_usd": money_sum(c.cost_usd, dialect),
        "reference_cost_usd": money_sum(c.reference_cost_usd, dialect),
        "_cost_with_reference": money_if(has_reference, c.cost_usd),
        "_onprem_reference": money_if(onprem, c.reference_cost_usd),
        "_onprem_cost": money_if(onprem, c.cost_usd),
        "cache_saved_usd": money_sum(c.cache_saved_usd, dialect),
    }


def _row(raw: Mapping[str, Any], group_by: Sequence[str], dialect: str) -> ReportRow:
    def usd(name: str) -> Decimal:
        return money_value(raw[name], dialect)

    figures: dict[str, int | Decimal] = {name: int(raw[name] or 0) for name in COUNTS}
    figures["cost_usd"] = usd("cost_usd")
    figures["reference_cost_usd"] = usd("reference_cost_usd")
    figures["savings_vs_reference_usd"] = usd("reference_cost_usd") - usd("_cost_with_reference")
    figures["onprem_savings_usd"] = usd("_onprem_reference") - usd("_onprem_cost")
    figures["cache_saved_usd"] = usd("cache_saved_usd")
    group = {name: (None if raw[name] is None else str(raw[name])) for name in group_by}
    return ReportRow(group, figures)
