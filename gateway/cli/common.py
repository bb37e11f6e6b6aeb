"""Helpers shared by the command-line modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gateway.config import Config, ConfigError, load_config


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="operator configuration file (or GATEWAY_CONFIG)")
    parser.add_argument("--database-url", help="database for keys and the ledger (or DATABASE_URL)")


def config_from(args: argparse.Namespace, **overrides: object) -> Config:
    try:
        return load_config(
            getattr(args, "config", None),
            overrides={"database_url": getattr(args, "database_url", None), **overrides},
        )
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def moment_arg(*, end: bool) -> Callable[[str], datetime]:
    """An argparse type for ``--from``/``--to``: a day (``--to`` includes it) or an ISO time, UTC unless it says."""

    def parse(value: str) -> datetime:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if end and len(value) == len("YYYY-MM-DD"):
            moment += timedelta(days=1)
        return moment

    return parse
