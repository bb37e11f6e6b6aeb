"""``gateway models prepare``: convert and cache the local open models once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.cli.common import add_config_args, config_from


def register(sub: Any) -> None:
    models = sub.add_parser("models", help="local open models").add_subparsers(dest="models_command", required=True)
    prepare = models.add_parser("prepare", help="convert and cache the local models the policy uses")
    prepare.add_argument("specs", nargs="*", help="model names or paths (default: the policy's transformers targets)")
    prepare.add_argument("--policy", help="policy file (default: from the configuration)")
    add_config_args(prepare)
    prepare.set_defaults(handler=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    from adapters.local_models import LocalModelError, prepare
    from gateway.policy.loader import PolicyError, load_file

    config = config_from(args)
    specs = list(args.specs)
    if not specs:
        try:
            policy = load_file(args.policy or config.policy).policy
        except PolicyError as exc:
            print(exc, file=sys.stderr)
            return 1
        specs = sorted({t.model for t in policy.targets.values() if t.kind == "transformers"})
    for spec in specs:
        try:
            path = prepare(spec, config.model_cache)
        except LocalModelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{spec}: ready at {path}")
    return 0
