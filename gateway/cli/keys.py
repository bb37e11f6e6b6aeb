"""``gateway keys create|list|revoke``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from gateway.cli.common import add_config_args, config_from
from gateway.keys import ROLES, KeyStore
from gateway.ledger.store import Database, StoreUnavailable


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create a key; it is printed once and stored only as a hash")
    create.add_argument("--team", required=True)
    create.add_argument("--role", action="append", choices=ROLES, dest="roles", help="repeatable; default user")
    create.add_argument("--models", nargs="+", help="virtual models the key may use (default: all)")
    create.add_argument("--description", default="")
    add_config_args(create)
    create.set_defaults(handler=_create)
    listing = keys.add_parser("list", help="list keys (never the keys themselves)")
    add_config_args(listing)
    listing.set_defaults(handler=_list)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")
    add_config_args(revoke)
    revoke.set_defaults(handler=_revoke)


def _store(args: argparse.Namespace) -> KeyStore:
    db = Database(config_from(args).database_url)
    db.create_schema()
    return KeyStore(db)


def _create(args: argparse.Namespace) -> int:
    try:
        key_id, key = _store(args).create(args.team, args.roles, args.models, args.description)
    except (ValueError, StoreUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"id:   {key_id}\nkey:  {key}\nteam: {args.team}\nStore the key now: it cannot be shown again.")
    return 0


def _list(args: argparse.Namespace) -> int:
    for row in _store(args).list():
        sys.stdout.write(orjson.dumps(row, default=str).decode() + "\n")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    if _store(args).revoke(args.id):
        print(f"revoked {args.id}")
        return 0
    print(f"error: no active key with id {args.id}", file=sys.stderr)
    return 1
