"""The crash suite's three records, read as plain rows for :mod:`bench.crash_invariants`.

* the journal: the engine's SQLite file (``troupe.db`` in the data directory), tables
  ``orders``, ``fills`` and ``audit_events``;
* the paper broker's book: its own SQLite file (``paper_broker.db``), tables ``paper_orders``,
  ``paper_fills``, ``paper_positions`` and ``paper_account`` (``adapters/paper/store.py``);
* the API's JSON (``GET positions``, ``orders``, ``fills``).

Both files are opened read-only with the standard library's ``sqlite3`` (never the engine's
readers), while the engine runs or after it was killed; the WAL is read as SQLite reads it.
Money is read from its decimal strings exactly.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.crash_invariants import OPEN_STATUSES, Book, Fill, Order, netted

__all__ = [
    "AuditFacts",
    "JournalAtStop",
    "api_book",
    "audit_facts",
    "broker_book",
    "journal_at_stop",
    "journal_book",
    "last_closes",
]

BUSY_TIMEOUT_S = 10.0


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the SQLite file ``path`` (which must exist)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such database")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    with closing(connection):
        yield connection


def _has_table(connection: sqlite3.Connection, table: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return row is not None


def broker_book(path: Path) -> Book:
    """The paper broker's book: every order it was sent (by its own sequence), every
    execution, its positions and cash. An empty book when its tables are not there yet."""
    with read_only(path) as db:
        if not _has_table(db, "paper_orders"):
            return Book("broker")
        orders = _orders(
            db,
            "SELECT client_order_id, instrument, side, quantity, status, filled_qty, "
            "ts_created, seq, venue_order_id FROM paper_orders ORDER BY seq",
        )
        fills = _fills(
            db,
            "SELECT trade_id, client_order_id, instrument, side, quantity, price, fee, "
            "ts_event FROM paper_fills ORDER BY trade_id",
        )
        positions = {
            row[0]: int(row[1])
            for row in db.execute("SELECT instrument, quantity FROM paper_positions")
        }
        account = db.execute("SELECT cash FROM paper_account").fetchone()
    return Book(
        "broker",
        orders=orders,
        fills=fills,
        positions={i: q for i, q in positions.items() if q != 0},
        cash=None if account is None else Decimal(account[0]),
    )


def journal_book(path: Path, starting_cash: Decimal) -> Book:
    """The journal's orders and fills, with the positions and cash its fills net to from
    ``starting_cash`` (the paper broker's starting cash)."""
    with read_only(path) as db:
        return _journal_book(db, starting_cash)


def _journal_book(db: sqlite3.Connection, starting_cash: Decimal) -> Book:
    if not _has_table(db, "orders"):
        return Book("journal", cash=starting_cash)
    orders = _orders(
        db,
        # The journal has no sequence of its own: the creation time stands for it.
        "SELECT client_order_id, instrument, side, quantity, status, filled_qty, "
        "ts_created, ts_created, venue_order_id FROM orders ORDER BY ts_created",
    )
    fills = _fills(
        db,
        "SELECT trade_id, client_order_id, instrument, side, last_qty, last_price, "
        "fee, ts_event FROM fills ORDER BY id",
    )
    positions, cash = netted(fills, starting_cash)
    return Book(
        "journal",
        orders=orders,
        fills=fills,
        positions={i: q for i, q in positions.items() if q != 0},
        cash=cash,
    )


class AuditFacts:
    """What the journal's ``audit_events`` say about restarts and the trading state."""

    def __init__(self, reconciliations: Sequence[int], states: Sequence[tuple[int, str, bool]]):
        self.reconciliations = list(reconciliations)
        """``ts_event`` of every ``ReconciliationReport``, in order."""
        self.states = list(states)
        """``(ts_event, state, persists)`` of every ``TradingStateChanged``, in order."""

    def first_reconciliation_since(self, ns: int) -> int | None:
        return next((ts for ts in self.reconciliations if ts >= ns), None)

    def state(self) -> str:
        """The last persisting trading state (``ACTIVE`` when none was ever recorded)."""
        kept = [state for _, state, persists in self.states if persists]
        return kept[-1] if kept else "ACTIVE"


def _closes_taken(db: sqlite3.Connection) -> frozenset[str]:
    if not _has_table(db, "order_events"):
        return frozenset()
    rows = db.execute(
        "SELECT DISTINCT client_order_id FROM order_events WHERE kind = 'ClosePosition'"
    )
    return frozenset(str(row[0]) for row in rows)


def audit_facts(path: Path) -> AuditFacts:
    """The reconciliation reports and trading-state changes in the journal at ``path``."""
    with read_only(path) as db:
        return _audit_facts(db)


def _audit_facts(db: sqlite3.Connection) -> AuditFacts:
    if not _has_table(db, "audit_events"):
        return AuditFacts([], [])
    rows = db.execute(
        "SELECT kind, ts_event, detail FROM audit_events WHERE kind IN "
        "('ReconciliationReport', 'TradingStateChanged') ORDER BY id"
    ).fetchall()
    reconciliations: list[int] = []
    states: list[tuple[int, str, bool]] = []
    for kind, ts_event, detail in rows:
        if kind == "ReconciliationReport":
            reconciliations.append(int(ts_event))
            continue
        body: dict[str, Any] = json.loads(detail)
        states.append((int(ts_event), str(body.get("state")), bool(body.get("persists", True))))
    return AuditFacts(reconciliations, states)


@dataclass(frozen=True, slots=True)
class JournalAtStop:
    """What the suite reads from the journal once a process is stopped."""

    book: Book
    facts: AuditFacts
    closes_taken: frozenset[str]
    """Client order ids of the orders of every ``ClosePosition`` the journal recorded: a
    close the router took (an exit signal, a square-off, the kill switch) that a restart
    sends if the process died before it went."""


def journal_at_stop(path: Path, starting_cash: Decimal) -> JournalAtStop:
    """:func:`journal_book`, :func:`audit_facts` and the closes taken of the journal at
    ``path``, through one connection."""
    with read_only(path) as db:
        return JournalAtStop(_journal_book(db, starting_cash), _audit_facts(db), _closes_taken(db))


def last_closes(path: Path) -> dict[str, float]:
    """The latest stored bar close per instrument (the candle store, in the journal's file)."""
    with read_only(path) as db:
        if not _has_table(db, "candles"):
            return {}
        rows = db.execute(
            "SELECT c.instrument, c.close FROM candles c JOIN (SELECT instrument, "
            "MAX(ts_event) AS ts FROM candles GROUP BY instrument) m ON c.instrument = "
            "m.instrument AND c.ts_event = m.ts"
        ).fetchall()
    return {str(instrument): float(close) for instrument, close in rows if close}


def api_book(positions: Mapping[str, Any]) -> Book:
    """The ledger's view from ``GET positions``: signed positions and cash."""
    rows = positions.get("positions") or []
    account = positions.get("account") or {}
    held = {str(row["instrument"]): int(row["quantity"]) for row in rows}
    cash = account.get("cash")
    return Book(
        "api",
        positions={i: q for i, q in held.items() if q != 0},
        cash=None if cash is None else Decimal(str(cash)),
    )


def open_ids(book: Book) -> frozenset[str]:
    """The ids of ``book``'s orders that may still fill."""
    return frozenset(o.client_order_id for o in book.orders.values() if o.status in OPEN_STATUSES)


def _orders(db: sqlite3.Connection, query: str) -> dict[str, Order]:
    """Orders by client order id from ``query``'s rows: id, instrument, side, quantity,
    status, filled quantity, created (ns), sequence, venue order id."""
    return {
        row[0]: Order(
            client_order_id=row[0],
            instrument=row[1],
            side=row[2],
            quantity=row[3],
            status=row[4],
            filled_qty=row[5],
            created_ns=row[6],
            seq=row[7],
            venue_order_id=row[8],
        )
        for row in db.execute(query)
    }


def _fills(db: sqlite3.Connection, query: str) -> list[Fill]:
    """Fills from ``query``'s rows: trade id, order id, instrument, side, quantity, price,
    fee, time (ns)."""
    return [
        Fill(
            trade_id=row[0],
            client_order_id=row[1],
            instrument=row[2],
            side=row[3],
            quantity=row[4],
            price=Decimal(row[5]),
            fee=Decimal(row[6]),
            ts_ns=row[7],
        )
        for row in db.execute(query)
    ]
