"""Cost reports for finance: the ledger grouped and summed exactly (``query``),
rendered as a table, CSV or JSON (``formats``), budget burn (``budgets``), and
the ``/reports`` page with its vendored chart library (``page``, ``static/``).
HTTP routes are in ``routes``; the command is ``gateway report``."""

from gateway.reports.formats import FORMATS, render
from gateway.reports.query import DIMENSIONS, FIGURES, Report, ReportError, ReportQuery, build_report

__all__ = ["DIMENSIONS", "FIGURES", "FORMATS", "Report", "ReportError", "ReportQuery", "build_report", "render"]
