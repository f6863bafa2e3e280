"""The SQL the journal's writer runs, compiled once from the Core tables.

The statements are SQLAlchemy Core, compiled for SQLite with named parameters and run on the
driver's own connection (``sqlite3``): SQLAlchemy's per-execution work (cache keys, parameter
processing, result set-up) cost four times the SQL itself on a one-record transaction, and
that transaction is what every order waits for before it is sent (:mod:`engine.journal.writer`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.expression import ClauseElement

from engine.journal.tables import (
    account_snapshots,
    audit_events,
    commands,
    fills,
    order_events,
    orders,
    position_snapshots,
    risk_denials,
    signals,
)
from engine.store.schema import rankings

_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: far below SQLite's bound on variables."""

ORDER_STATE_COLUMNS = (
    "quantity",
    "price",
    "trigger_price",
    "status",
    "filled_qty",
    "filled_notional",
    "avg_price",
    "fees",
    "venue_order_id",
    "reason",
    "ts_updated",
)

_DIALECT = sqlite.dialect(paramstyle="named")


def _sql(statement: ClauseElement) -> str:
    return str(statement.compile(dialect=_DIALECT))


def _insert_sql(table: Table) -> str:
    # Every column but the autoincrement id, as a named parameter.
    values: dict[str, Any] = {c.name: bindparam(c.name) for c in table.columns if c.name != "id"}
    return _sql(insert(table).values(values))


INSERT: dict[Table, str] = {
    table: _insert_sql(table)
    for table in (
        orders,
        order_events,
        fills,
        position_snapshots,
        account_snapshots,
        signals,
        risk_denials,
        audit_events,
    )
}
UPDATE_ORDER = _sql(
    update(orders)
    .where(orders.c.client_order_id == bindparam("key"))
    .values({name: bindparam(f"new_{name}") for name in ORDER_STATE_COLUMNS})
)
_insert_ranking = sqlite_insert(rankings).values(
    {c.name: bindparam(c.name) for c in rankings.columns}
)
UPSERT_RANKING = _sql(
    _insert_ranking.on_conflict_do_update(
        index_elements=[rankings.c.ts_event],
        set_={
            c.name: _insert_ranking.excluded[c.name] for c in rankings.columns if not c.primary_key
        },
    )
)
INSERT_COMMAND = _sql(
    sqlite_insert(commands)
    .values({c.name: bindparam(c.name) for c in commands.columns if c.name != "id"})
    .on_conflict_do_nothing(index_elements=[commands.c.command_id])
)
COMMAND_OUTCOME = _sql(
    update(commands)
    .where(commands.c.command_id == bindparam("key"))
    .values(outcome=bindparam("new_outcome"), ts_outcome=bindparam("new_ts_outcome"))
)
_ORDER_COLUMNS = ", ".join(c.name for c in orders.columns)


def _chunks(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(keys), _IN_CHUNK):
        yield keys[start : start + _IN_CHUNK]


def load_orders(conn: sqlite3.Connection, keys: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(keys)):
        marks = ", ".join("?" * len(chunk))
        cursor = conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id IN ({marks})", chunk
        )
        names = [column[0] for column in cursor.description]
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            found[row["client_order_id"]] = row
    return found


def recorded_trade_ids(conn: sqlite3.Connection, trade_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(set(trade_ids))):
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT trade_id FROM fills WHERE trade_id IN ({marks})"
        found.update(trade_id for (trade_id,) in conn.execute(query, chunk))
    return found
