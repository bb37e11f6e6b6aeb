"""``gateway serve``: run the HTTP server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from gateway.cli.common import add_config_args, config_from
from gateway.config import load_config
from gateway.logs import configure_logging
from gateway.workermetrics import METRICS_DIR_ENV, prepare

_OVERRIDES_ENV = "GATEWAY_SERVE_OVERRIDES"


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the gateway")
    add_config_args(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--policy", help="policy file (or GATEWAY_POLICY)")
    serve.add_argument("--dev-key", action="store_true", help="create and print a development API key")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import ensure_dev_key
    from gateway.httpserver import front_door
    from gateway.keys import KeyStore
    from gateway.ledger.store import Database

    overrides = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "policy": args.policy,
        "dev_key": True if args.dev_key else None,
    }
    config = config_from(args, **overrides)
    from gateway.cli.preflight import StartupError, preflight

    try:
        preflight(config, os.environ)  # one line and exit 1, before any worker or model starts
    except StartupError as exc:
        print(f"gateway serve: {exc}", file=sys.stderr)
        return 1
    configure_logging(config.telemetry.log_level)  # JSON lines; see gateway/logs.py for what is withheld
    if config.dev_key:
        db = Database(config.database_url)
        db.create_schema()
        key = ensure_dev_key(config, KeyStore(db))
        db.close()
        print(f"\n  Development API key (all roles): {key}\n  Endpoint: http://{config.host}:{config.port}/v1\n",
              flush=True)
    if config.workers > 1:  # one scrape answers for every worker (gateway/workermetrics.py)
        os.environ[METRICS_DIR_ENV] = str(Path(config.var_dir) / "worker-metrics")
        prepare(os.environ[METRICS_DIR_ENV])
    # Workers rebuild the config from the environment: pass the command line on.
    os.environ[_OVERRIDES_ENV] = orjson.dumps(
        {"config": args.config, **{k: v for k, v in overrides.items() if v is not None},
         "database_url": args.database_url}
    ).decode()
    uvicorn.run(
        "gateway.cli.serve:app_from_environment",
        factory=True,
        host=config.host,
        port=config.port,
        workers=config.workers,
        log_level=config.telemetry.log_level.lower(),
        log_config=None,  # keep the JSON handler (uvicorn would install its own)
        access_log=False,  # raw paths may carry anything: gateway.access logs route templates instead
        loop="uvloop",
        http=front_door(config.limits),  # httptools, with header and body limits
        timeout_graceful_shutdown=config.resilience.shutdown_grace_s,  # SIGTERM: in-flight requests finish
    )
    return 0


def app_from_environment() -> Any:
    from gateway.app import create_app

    raw = orjson.loads(os.environ.get(_OVERRIDES_ENV, "{}"))
    path = raw.pop("config", None)
    config = load_config(path, overrides={k: v for k, v in raw.items() if v is not None})
    # Worker processes start with no logging set up; info lines are written in batches.
    configure_logging(config.telemetry.log_level, batched=True)
    return create_app(config)
