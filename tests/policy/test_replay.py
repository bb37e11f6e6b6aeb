"""``replay``: recorded facts re-decided under a new policy, counted and priced."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.policy import main
from gateway.policy.replay import RecordedFacts, render_table, replay
from tests.policy.conftest import BASE, make_policy, policy_text

PRICED_TARGETS = {
    "onprem": {**BASE["targets"]["onprem"], "pricing": {"usd_per_million_input": 1, "usd_per_million_output": 2}},
    "external": BASE["targets"]["external"],  # no pricing
}


def record(**kw: Any) -> RecordedFacts:
    fields: dict[str, Any] = {
        "model": "premium",
        "team": "ops",
        "entity_types": "",
        "classifier_error": False,
        "estimated_input_tokens": 10,
        "tokens_in": 1_000_000,
        "tokens_out": 500_000,
        "cost_usd": Decimal("3"),
        "route": "premium",
        "target": "external",
        "residency": "external",
        "level": "internal",
    }
    return RecordedFacts(**{**fields, **kw})


SENSITIVE = {
    "entity_types": "PERSON,EMAIL_ADDRESS",
    "route": "sensitive",
    "target": "onprem",
    "residency": "on_prem",
    "level": "confidential",
    "cost_usd": Decimal("1"),
}


def test_the_same_policy_changes_nothing() -> None:
    loaded = make_policy()
    report = replay(loaded.policy, [record(), record(**SENSITIVE)])
    assert (report.requests, report.changed) == (2, 0)
    assert not (report.route_changes or report.level_changes or report.residency_changes or report.target_changes)


def test_route_residency_and_cost_changes() -> None:
    new = make_policy(
        targets=PRICED_TARGETS,
        routes=[
            {"name": "no-contractors", "when": {"team": "contractors"}, "deny": "No."},
            *BASE["routes"][:1],
            {"name": "all-on-prem", "targets": ["onprem"]},
        ],
    )
    records = [record(), record(), record(**SENSITIVE), record(team="contractors")]
    report = replay(new.policy, records)
    assert report.requests == 4 and report.changed == 3
    assert report.route_changes == Counter({("premium", "all-on-prem"): 2, ("premium", "no-contractors"): 1})
    assert report.residency_changes == Counter({("external", "on_prem"): 2, ("external", "(none)"): 1})
    assert report.target_changes == Counter({("external", "onprem"): 2, ("external", "(none)"): 1})
    assert report.denied == Counter({"no-contractors": 1}) and report.newly_denied == 1
    # on-prem: 1M in at $1/M + 0.5M out at $2/M = $2 each, three requests; the denied one costs nothing
    assert report.new_cost_usd == Decimal(6) and report.priced_requests == 4
    assert report.recorded_cost_usd == Decimal(10)
    assert report.cost_difference_usd == Decimal(-4)
    assert report.unpriced == Counter()


def test_unknown_pricing_is_said_not_guessed() -> None:
    report = replay(make_policy().policy, [record(), record(**SENSITIVE)])
    assert report.unpriced == Counter({"external": 1, "onprem": 1})
    assert report.priced_requests == 0 and report.new_cost_usd == 0
    table = render_table(report, "title")
    assert "unknown pricing, left out: external (1 requests), onprem (1 requests)" in table


def test_levels_follow_the_new_entity_mapping_and_on_error() -> None:
    classification = {**BASE["classification"], "entities": {"PERSON": "restricted"}, "on_error": "confidential"}
    new = make_policy(classification=classification)
    report = replay(new.policy, [record(**SENSITIVE), record(classifier_error=True, level="restricted")])
    assert report.level_changes == Counter({("confidential", "restricted"): 1, ("restricted", "confidential"): 1})


def test_models_missing_from_the_new_policy_are_counted() -> None:
    report = replay(make_policy().policy, [record(model="retired")])
    assert report.unknown_model == Counter({"retired": 1}) and report.changed == 1


def test_requests_denied_before_are_not_newly_denied() -> None:
    new = make_policy(routes=[{"name": "no", "deny": "No."}])
    old = record(route="no", target=None, residency=None, outcome="policy_denied")
    report = replay(new.policy, [old])
    assert report.changed == 0 and report.newly_denied == 0 and report.denied == Counter({"no": 1})


def test_json_and_table() -> None:
    new = make_policy(targets=PRICED_TARGETS, routes=[{"name": "all-on-prem", "targets": ["onprem"]}])
    report = replay(new.policy, [record()])
    data = report.to_json()
    assert data["route_changes"] == [{"from": "premium", "to": "all-on-prem", "requests": 1}]
    assert data["cost_usd"]["difference"] == "-1.000000"
    json.dumps(data)
    table = render_table(report, "Replay")
    assert "premium -> all-on-prem" in table and "difference:" in table and "-1.000000" in table


def test_from_a_ledger_row() -> None:
    row = {
        "request_id": "r1", "ts": datetime.now(UTC), "model": "premium", "team": "ops", "level": "internal",
        "entity_types": "PERSON", "classifier_error": "timeout", "route": "premium", "target": "external",
        "residency": "external", "estimated_input_tokens": 12, "prompt_tokens": 10, "completion_tokens": 5,
        "cached_prompt_tokens": 2, "cost_usd": Decimal("0.5"), "outcome": "ok",
    }  # fmt: skip
    recorded = RecordedFacts.from_row(row)
    assert recorded.classifier_error is True and recorded.tokens_in == 10 and recorded.cached_tokens_in == 2
    facts = recorded.facts()
    assert facts.entity_types == frozenset({"PERSON"}) and facts.classifier_error


def test_cli_replays_the_ledger_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = pytest.importorskip("gateway.ledger.store")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    db = store.Database(url)
    db.create_schema()
    base_row = {
        "ts": datetime(2025, 3, 1, 12, tzinfo=UTC), "key_id": "k", "team": "ops", "model": "premium",
        "tier": "premium", "level": "internal", "entity_types": "", "route": "premium", "target": "external",
        "residency": "external", "policy_version": "v1", "estimated_input_tokens": 3, "prompt_tokens": 1000,
        "completion_tokens": 100, "cost_usd": Decimal("0.01"), "cache_status": "miss", "outcome": "ok",
        "status_code": 200,
    }  # fmt: skip
    db.insert_ledger(
        [
            {**base_row, "request_id": "a"},
            {**base_row, "request_id": "b", "ts": datetime(2025, 4, 2, tzinfo=UTC)},
        ]
    )
    db.close()
    new = tmp_path / "new.yaml"
    new.write_text(policy_text(targets=PRICED_TARGETS, routes=[{"name": "all", "targets": ["onprem"]}]))
    args = ["policy", "replay", "--policy", str(new), "--database-url", url, "--format", "json"]
    assert main([*args, "--from", "2025-03-01", "--to", "2025-03-31"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["requests"] == 1
    assert data["route_changes"] == [{"from": "premium", "to": "all", "requests": 1}]
    assert main(args[:-2]) == 0
    assert "2 recorded requests, 2 would be decided differently" in capsys.readouterr().out
