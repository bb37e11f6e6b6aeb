"""Helpers shared by the command-line modules."""

from __future__ import annotations

import argparse
import sys

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
