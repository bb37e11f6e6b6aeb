"""``gateway policy replay``: the ledger's recorded facts re-decided under a policy.

Reads the ledger rows and, for what replay cannot know, the text of each policy
version that recorded them (the ``policy_versions`` table): the entity types its
classifier looked for. Never reads or needs prompts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from gateway.cli.common import config_from
from gateway.ledger import store
from gateway.ledger.schema import policy_versions
from gateway.policy.engine import detected_entities
from gateway.policy.loader import LoadedPolicy, PolicyError, load_text
from gateway.policy.replay import RecordedFacts, render_table, replay

LoadValid = Callable[[str, frozenset[str] | None], LoadedPolicy | None]


def replay_command(
    args: argparse.Namespace, *, load_valid: LoadValid, known: Callable[[], frozenset[str] | None]
) -> int:
    """Print what ``args.policy`` would change; ``load_valid`` prints the policy's errors if it has any."""
    loaded = load_valid(args.policy, known())
    if loaded is None:
        return 1
    database_url = _database_url(args)
    try:
        looked_for = recorded_detections(database_url)
        facts = recorded_facts(database_url, args.since, args.until)
        report = replay(loaded.policy, facts, looked_for=looked_for.get)
    except Exception as exc:  # noqa: BLE001 - the store's errors are reported in one line
        print(f"error: cannot read the ledger: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        body = {"policy": {"file": loaded.path, "version": loaded.version}, **report.to_json()}
        print(json.dumps(body, indent=2))
    else:
        print(render_table(report, f"Replay under {loaded.path} (version {loaded.version})"))
    return 0


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    return config_from(args).database_url


def recorded_detections(database_url: str) -> dict[str, frozenset[str]]:
    """Each recorded policy version -> the entity types the classifier looked for under it,
    from the texts the database keeps (``policy_versions``); a version whose text is not
    valid under this gateway is left out (unknown)."""
    db = store.Database(database_url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(select(policy_versions.c.version, policy_versions.c.source)).all()
    finally:
        db.close()
    out: dict[str, frozenset[str]] = {}
    for version, source in rows:
        try:
            recorded = load_text(source, f"<policy {version}>")
        except PolicyError:
            continue
        out[str(version)] = detected_entities(recorded.policy)
    return out


def recorded_facts(database_url: str, since: datetime | None, until: datetime | None) -> Iterator[Any]:
    """The ledger's recorded facts: ``gateway.ledger.store.iter_facts`` where it exists, else its rows."""
    iter_facts = getattr(store, "iter_facts", None)
    if iter_facts is not None:
        yield from iter_facts(database_url, since, until)
        return
    db = store.Database(database_url)
    try:
        for row in db.ledger_rows(since, until):
            yield RecordedFacts.from_row(row)
    finally:
        db.close()
