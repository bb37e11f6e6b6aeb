"""The ledger row of a request's record (``gateway/ledger/row.py``): every column from one typed record,
in one place; and the audit trail's facts from the same record."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.base import Usage
from gateway.audit.record import AuditRecord
from gateway.dispatch import Attempt
from gateway.ledger.charge import charge
from gateway.ledger.row import ledger_row
from gateway.ledger.schema import LedgerRow, ledger
from gateway.ledger.store import Database
from gateway.policy.model import Target
from gateway.pricing import Pricer
from gateway.record import Asked, Decided, RecordDraft, RequestRecord

ASKED = Asked("req-1", datetime(2026, 3, 1, 12, tzinfo=UTC), "chat", "key_1", "payments", "bank-premium", True, 12)
DECIDED = Decided("confidential", "v1", tier="premium", entity_types=("EMAIL_ADDRESS", "PERSON"), route="premium")


def _answered() -> RequestRecord:
    target = Target(kind="litellm", model="openai/gpt-4o", residency="external", max_level="confidential")
    charged = charge(Pricer(lambda _: (2.5e-06, 1e-05, 1.25e-06)), target, Usage(100, 20, 40), "upstream", "ref")
    draft = RecordDraft(ASKED, DECIDED, started=0.0, cache_status="miss")
    draft.attempts = (Attempt("onprem", "on_prem", "error", "upstream_error", 3.0), Attempt("gpt", "external", "ok"))
    draft.target, draft.residency, draft.target_model, draft.charge = "gpt", "external", "openai/gpt-4o", charged
    draft.transform = "pseudonymize:PERSON=1"
    return draft.finish("ok", 200)


def test_the_typed_row_names_exactly_the_table_s_columns() -> None:
    assert LedgerRow.__optional_keys__ | LedgerRow.__required_keys__ == {c.name for c in ledger.columns}


def test_an_answered_request_fills_every_column_but_the_cache_saving() -> None:
    row = ledger_row(_answered())
    assert set(row) <= {c.name for c in ledger.columns}
    assert {c.name for c in ledger.columns} - set(row) == set()
    assert row["entity_types"] == "EMAIL_ADDRESS,PERSON" and row["attempts"] == 2
    assert row["attempt_log"] == "onprem:error:upstream_error gpt:ok"
    assert row["prompt_tokens"] == 100 and row["cost_usd"] > 0 and row["cache_saved_usd"] is None
    assert row["reference_model"] == "ref" and row["reference_cost_usd"] > 0


def test_a_refused_request_leaves_the_price_columns_to_their_defaults(tmp_path: Path) -> None:
    refused = RecordDraft(ASKED, DECIDED, started=0.0).finish("policy_denied", 403, "policy_denied")
    row = ledger_row(refused)
    assert "cost_usd" not in row and "target" not in row and row["error_code"] == "policy_denied"
    db = Database(f"sqlite:///{tmp_path}/ledger.db")
    db.create_schema()
    db.insert_ledger([row, ledger_row(_answered()) | {"request_id": "req-2"}])
    stored = {r["request_id"]: r for r in db.ledger_rows()}
    assert stored["req-1"]["cost_usd"] == 0 and stored["req-1"]["target"] is None
    assert (
        stored["req-2"]["cost_usd"] == _answered().cost_usd and stored["req-2"]["transform"] == "pseudonymize:PERSON=1"
    )
    db.close()


def test_the_audit_record_reads_the_same_record() -> None:
    record = _answered()
    audit = AuditRecord.from_request(record)
    assert (audit.request_id, audit.level, audit.route, audit.cache) == ("req-1", "confidential", "premium", "miss")
    assert audit.reached == "external" and audit.transform == "pseudonymize:PERSON=1"
    assert [a.outcome for a in audit.attempts] == ["error", "ok"]
    assert record.charge is not None and record.cost_usd == record.charge.cost > Decimal(0)


def test_a_misspelt_field_is_an_error_not_a_gap() -> None:
    draft = RecordDraft(ASKED, DECIDED, started=0.0)
    with pytest.raises(AttributeError):
        draft.targte = "gpt"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        draft.finish("ok", 200).cache_status = "hit"  # type: ignore[misc]
