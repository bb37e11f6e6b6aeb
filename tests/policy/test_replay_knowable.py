"""``replay`` says what the ledger cannot tell: entity types the recording policy never looked for.

The classifier looks only for the types its policy uses, so the ledger records
no finding of any other type. A new policy that maps such a type cannot be
judged from the ledger: replay counts those requests as not knowable instead of
reporting "Level changes: none".
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.policy import main
from gateway.ledger.store import Database
from gateway.policy.engine import detected_entities
from gateway.policy.replay import RecordedFacts, render_table, replay
from tests.policy.conftest import BASE, make_policy, policy_text

OLD = make_policy()  # looks for CREDIT_CARD, EMAIL_ADDRESS, PERSON, LOCATION


def mapped(**levels: str) -> dict[str, Any]:
    """The base classification with more entity types mapped."""
    return {**BASE["classification"], "entities": {**BASE["classification"]["entities"], **levels}}


WITH_PHONES = mapped(PHONE_NUMBER="restricted")


def record(**kw: Any) -> RecordedFacts:
    fields: dict[str, Any] = {
        "model": "standard", "team": "ops", "entity_types": "", "classifier_error": False,
        "estimated_input_tokens": 10, "tokens_in": 10, "tokens_out": 5, "cost_usd": Decimal(0),
        "route": "default", "target": "onprem", "residency": "on_prem", "level": "internal",
        "policy_version": OLD.version,
    }  # fmt: skip
    return RecordedFacts(**{**fields, **kw})


def looked_for(version: str) -> frozenset[str] | None:
    return detected_entities(OLD.policy) if version == OLD.version else None


def test_a_type_the_recording_policy_did_not_look_for_is_not_knowable() -> None:
    new = make_policy(classification=WITH_PHONES)
    report = replay(new.policy, [record(), record(entity_types="PERSON", level="confidential")], looked_for=looked_for)
    assert report.level_changes == Counter()  # nothing recorded says otherwise...
    assert report.not_knowable == Counter({"PHONE_NUMBER": 2})  # ...but the ledger cannot know
    table = render_table(report, "Replay")
    assert "Level changes:\n  none among the recorded entity types; see 'Not knowable from the ledger'" in table
    assert "Not knowable from the ledger" in table and "PHONE_NUMBER         2" in table
    assert report.to_json()["not_knowable"] == {
        "assessed": True, "entity_types": {"PHONE_NUMBER": 2}, "unknown_policy_versions": {},
        "pseudonymizable_by_route": {},
    }  # fmt: skip


def test_a_new_mapping_of_a_recorded_type_is_knowable() -> None:
    new = make_policy(classification=mapped(PERSON="restricted"))
    report = replay(new.policy, [record(entity_types="PERSON", level="confidential")], looked_for=looked_for)
    assert report.level_changes == Counter({("confidential", "restricted"): 1})
    assert report.not_knowable == Counter()
    assert "Not knowable" not in render_table(report, "Replay")


def test_a_recording_policy_the_database_does_not_keep_makes_every_type_unknowable() -> None:
    new = make_policy()
    report = replay(new.policy, [record(policy_version="gone")], looked_for=looked_for)
    assert report.unknown_versions == Counter({"gone": 1})
    assert report.not_knowable == Counter(dict.fromkeys(detected_entities(new.policy), 1))
    assert "the database does not keep: gone (1 requests)" in render_table(report, "Replay")


def test_without_the_recording_policies_the_table_says_it_did_not_assess() -> None:
    report = replay(make_policy(classification=WITH_PHONES).policy, [record()])
    assert "Not knowable from the ledger: not assessed" in render_table(report, "Replay")


def test_cli_reads_the_recording_policy_from_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    db = Database(url)
    db.create_schema()
    db.record_policy_version(OLD.version, OLD.policy.name, OLD.source, datetime(2025, 3, 1, tzinfo=UTC))
    row = {
        "ts": datetime(2025, 3, 1, 12, tzinfo=UTC), "key_id": "k", "team": "ops", "model": "standard",
        "tier": "standard", "level": "internal", "entity_types": "", "route": "default", "target": "onprem",
        "residency": "on_prem", "policy_version": OLD.version, "estimated_input_tokens": 3, "prompt_tokens": 10,
        "completion_tokens": 5, "cost_usd": Decimal(0), "cache_status": "miss", "outcome": "ok", "status_code": 200,
    }  # fmt: skip
    db.insert_ledger([{**row, "request_id": str(i)} for i in range(3)])
    db.close()
    new = tmp_path / "new.yaml"
    new.write_text(policy_text(classification=WITH_PHONES), encoding="utf-8")
    args = ["policy", "replay", "--policy", str(new), "--database-url", url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 recorded requests, 0 would be decided differently" in out
    assert "Level changes:\n  none among the recorded entity types" in out
    assert "PHONE_NUMBER         3  whether they held one, and so their level and route, is not knowable" in out
    assert main([*args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["not_knowable"]["entity_types"] == {"PHONE_NUMBER": 3}
