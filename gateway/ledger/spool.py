"""The ledger's journal: every queued row on local disk until the database has it.

``LedgerSpool(directory)`` is the ledger's ``gateway.evidence.Journal``:
``<var_dir>/ledger-spool/ledger-<pid>-<random>.jsonl``, one JSON line per row.
How rows get there and leave is ``gateway/evidence/``'s; what is here is the
row's line: exact decimals (as text) and times (ISO 8601) survive the trip.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import DateTime, Numeric

from gateway.evidence.journal import Journal
from gateway.ledger.schema import LedgerRow, ledger

Row = LedgerRow

_DATETIME = frozenset(c.name for c in ledger.columns if isinstance(c.type, DateTime))
_DECIMAL = frozenset(c.name for c in ledger.columns if isinstance(c.type, Numeric))


class RowCodec:
    """A ledger row as one JSON line."""

    def encode(self, item: Row) -> bytes:
        return orjson.dumps(item if type(item) is dict else dict(item), default=_encode)

    def decode(self, line: bytes) -> Row:
        row: dict[str, Any] = orjson.loads(line)
        for name in _DATETIME.intersection(row):
            if isinstance(row[name], str):
                row[name] = datetime.fromisoformat(row[name])
        for name in _DECIMAL.intersection(row):
            if row[name] is not None:
                row[name] = Decimal(str(row[name]))
        return cast(LedgerRow, row)


class LedgerSpool(Journal[Row]):
    """The ledger's journal in ``directory``."""

    def __init__(self, directory: Path | str) -> None:
        super().__init__(directory, "ledger", RowCodec())


def _encode(value: Any) -> Any:
    return str(value)  # Decimal, and anything else a row may carry: never refuse to journal a row
