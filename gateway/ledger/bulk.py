"""Many rows into one table at once, at the database driver's speed.

``Connection.execute(insert(table), rows)`` re-derives, for every row, which
parameters it binds and how each value is converted; for the ledger and the
audit trail, whose rows all have every column, that bookkeeping costs more
than the database's own work. ``BulkInsert`` compiles the statement once per
dialect and keeps each column's conversion (SQLAlchemy's own bind
processors, so values are stored exactly as ``execute`` would store them);
``insert`` then only converts values and hands the rows to the driver's
``executemany``. Errors are SQLAlchemy's, as with ``execute``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert


class BulkInsert:
    """``INSERT INTO table`` of complete rows (every column present), compiled once."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._compiled: dict[str, tuple[str, bool, list[tuple[str, Callable[[Any], Any] | None]]]] = {}

    def _for(self, connection: Connection) -> tuple[str, bool, list[tuple[str, Callable[[Any], Any] | None]]]:
        dialect = connection.dialect
        key = f"{dialect.name}+{dialect.driver}:{dialect.paramstyle}"
        found = self._compiled.get(key)
        if found is None:
            compiled = insert(self._table).compile(dialect=dialect)
            processors = compiled._bind_processors
            names = list(compiled.positiontup or compiled.binds)
            found = (compiled.string, bool(compiled.positional), [(name, processors.get(name)) for name in names])
            self._compiled[key] = found
        return found

    def insert(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        sql, positional, columns = self._for(connection)
        params: list[Any]
        if positional:
            params = [
                tuple(
                    row[name] if convert is None or row[name] is None else convert(row[name])
                    for name, convert in columns
                )
                for row in rows
            ]
        else:
            params = [
                {
                    name: row[name] if convert is None or row[name] is None else convert(row[name])
                    for name, convert in columns
                }
                for row in rows
            ]
        connection.exec_driver_sql(sql, params)
