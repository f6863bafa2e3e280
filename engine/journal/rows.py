"""How records become rows: one batch of records applied in one transaction.

:func:`prepare` runs on the caller's thread when a record is appended: it encodes the record
(so a record that cannot be encoded fails alone, at once) and nothing else.
:func:`apply_batch` runs on the writer's thread inside the batch's transaction: a few reads
(the orders and trade ids the batch touches), then one ``executemany`` per table.

The SQL is in :mod:`engine.journal.statements`.

Where each record goes:

=====================================  ======================================================
record                                 rows
=====================================  ======================================================
``SubmitOrder``                        ``orders`` (status NEW) and ``order_events``; an id
                                       already recorded changes nothing (a repeated
                                       write-ahead is harmless)
``SubmitBracket``                      its entry as a ``SubmitOrder`` in ``orders``; the
                                       bracket whole in ``order_events``
``OrderSubmitted`` / ``Accepted`` /    ``order_events``; the order's status moves forward
``Rejected`` / ``Canceled`` /          (never back: a late ACCEPTED after a fill is kept as
``Expired``                            an event only; a terminal status stays)
``OrderFilled``                        ``fills``, ``order_events``; the order's filled
                                       quantity, exact average price and fees; PARTIALLY_
                                       FILLED or FILLED. A ``trade_id`` already recorded
                                       changes nothing (a fill is recorded once, whoever
                                       sends it)
``ModifyOrder``                        ``order_events``; the order's quantity and prices
                                       become the ones asked (the router records each
                                       modify it sends)
``CancelOrder``,                       ``order_events`` of their order
``OrderStatusReport`` (with an id),
``BracketReleased``, ``BracketReduced`` (the bracket's entry)
``ClosePosition``                      ``order_events`` of each of its orders (before they
                                       are recorded as orders: the close is pending until
                                       then)
``PositionChanged``                    ``position_snapshots``
``AccountChanged``                     ``account_snapshots``
``Signal``, ``TradeIntent``            ``signals``
``SignalsRanked``                      ``rankings`` (replacing a cycle stored twice)
``RiskDenied``                         ``risk_denials``
``CommandRecord`` / ``CommandOutcome`` ``commands`` (first record of an id wins) / its outcome
``AuditRecord``, any other message     ``audit_events``
=====================================  ======================================================

An event for an order the journal never saw (not written ahead) is kept in ``order_events``;
there is no ``orders`` row to update.
"""

from __future__ import annotations

import decimal
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Table

from engine.journal.records import AuditRecord, CommandOutcome, CommandRecord
from engine.journal.statements import (
    COMMAND_OUTCOME,
    INSERT,
    INSERT_COMMAND,
    ORDER_STATE_COLUMNS,
    UPDATE_ORDER,
    UPSERT_RANKING,
    load_orders,
    recorded_trade_ids,
)
from engine.journal.tables import (
    account_snapshots,
    audit_events,
    fills,
    order_events,
    orders,
    position_snapshots,
    risk_denials,
    signals,
)
from engine.messages.account import AccountChanged
from engine.messages.base import Message
from engine.messages.catalogue import encode
from engine.messages.orders import (
    BracketReduced,
    BracketReleased,
    ClosePosition,
    SubmitBracket,
)
from engine.messages.ranking import SignalsRanked
from engine.messages.risk import RiskDenied
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    OrderSubmitted,
    PositionChanged,
    Signal,
    SubmitOrder,
    TradeIntent,
)

_AVERAGE = decimal.Context(prec=28)
"""An average price is a quotient: computed in its own context, whatever the thread's is."""

_RANK = {
    OrderStatus.NEW: 0,
    OrderStatus.SUBMITTED: 1,
    OrderStatus.ACCEPTED: 2,
    OrderStatus.PARTIALLY_FILLED: 3,
    OrderStatus.FILLED: 4,
    OrderStatus.CANCELED: 4,
    OrderStatus.REJECTED: 4,
    OrderStatus.EXPIRED: 4,
}
"""An order's status only moves to a higher rank; the terminal ones share the top."""

_STATUS_OF: dict[type, OrderStatus] = {
    OrderSubmitted: OrderStatus.SUBMITTED,
    OrderAccepted: OrderStatus.ACCEPTED,
    OrderRejected: OrderStatus.REJECTED,
    OrderCanceled: OrderStatus.CANCELED,
    OrderExpired: OrderStatus.EXPIRED,
}


class Prepared:
    """A record and its JSON, encoded when it was appended."""

    __slots__ = ("entry_json", "json", "record")

    def __init__(self, record: Any, json: bytes, entry_json: bytes | None = None) -> None:
        self.record = record
        self.json = json
        self.entry_json = entry_json
        """A bracket's entry order alone, as the ``orders`` row keeps it."""


def prepare(record: Any) -> Prepared:
    """Encode ``record`` for :func:`apply_batch`.

    Raises ``TypeError`` if it is neither a catalogue message nor a journal record, and what
    ``msgspec.json`` raises if a field cannot be encoded.
    """
    if isinstance(record, Message):
        entry = encode(record.entry) if isinstance(record, SubmitBracket) else None
        return Prepared(record, encode(record), entry)
    if isinstance(record, CommandRecord):
        return Prepared(record, msgspec.json.encode(record.body))
    if isinstance(record, AuditRecord):
        return Prepared(record, msgspec.json.encode(record.detail))
    if isinstance(record, CommandOutcome):
        return Prepared(record, b"")
    raise TypeError(
        "the journal records catalogue messages, CommandRecord, CommandOutcome and "
        f"AuditRecord; got {type(record).__name__}: {record!r:.200}"
    )


def apply_batch(conn: sqlite3.Connection, batch: Sequence[Prepared]) -> None:
    """Write ``batch`` through ``conn`` (the driver's connection), inside the caller's
    transaction, in record order.

    Raises what the driver raises (the caller rolls the transaction back).
    """
    _Batch(conn, batch).write()


class _Batch:
    def __init__(self, conn: sqlite3.Connection, batch: Sequence[Prepared]) -> None:
        self.conn = conn
        self.orders = load_orders(conn, _order_ids(batch))
        self.seen_trades = recorded_trade_ids(
            conn, [p.record.trade_id for p in batch if isinstance(p.record, OrderFilled)]
        )
        self.new_orders: list[str] = []
        self.changed_orders: set[str] = set()
        self.rows: dict[Table, list[dict[str, Any]]] = {}
        self.ranking_rows: list[dict[str, Any]] = []
        self.command_rows: list[dict[str, Any]] = []
        self.outcomes: list[dict[str, Any]] = []
        for prepared in batch:
            _handler(type(prepared.record))(self, prepared)

    def write(self) -> None:
        conn = self.conn
        if self.new_orders:
            conn.executemany(INSERT[orders], [self.orders[key] for key in self.new_orders])
        changed = self.changed_orders.difference(self.new_orders)
        if changed:
            updates = [_order_update(self.orders[key]) for key in sorted(changed)]
            conn.executemany(UPDATE_ORDER, updates)
        for table, rows in self.rows.items():
            conn.executemany(INSERT[table], rows)
        if self.ranking_rows:
            conn.executemany(UPSERT_RANKING, self.ranking_rows)
        if self.command_rows:
            conn.executemany(INSERT_COMMAND, self.command_rows)
        if self.outcomes:  # after the inserts: an outcome may follow its command in a batch
            conn.executemany(COMMAND_OUTCOME, self.outcomes)

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)

    def event(self, client_order_id: str, prepared: Prepared) -> None:
        message: Message = prepared.record
        self.add(
            order_events,
            {
                "client_order_id": client_order_id,
                "kind": type(message).__name__,
                "ts_event": message.ts_event,
                "ts_init": message.ts_init,
                "event": prepared.json,
            },
        )

    def order(self, key: str) -> dict[str, Any] | None:
        row = self.orders.get(key)
        if row is not None:
            self.changed_orders.add(key)
        return row

    # -- one method per kind of record --------------------------------------------------

    def submit_order(self, prepared: Prepared) -> None:
        order: SubmitOrder = prepared.record
        if self._new_order(order, prepared.json):
            self.event(order.client_order_id, prepared)

    def submit_bracket(self, prepared: Prepared) -> None:
        bracket: SubmitBracket = prepared.record
        assert prepared.entry_json is not None
        if self._new_order(bracket.entry, prepared.entry_json):
            self.event(bracket.entry.client_order_id, prepared)

    def _new_order(self, order: SubmitOrder, command: bytes) -> bool:
        key = order.client_order_id
        if key in self.orders:
            return False
        self.orders[key] = {
            "client_order_id": key,
            "instrument": order.instrument,
            "strategy": order.strategy,
            "correlation_id": order.correlation_id,
            "side": order.side.value,
            "order_type": order.order_type.value,
            "time_in_force": order.time_in_force.value,
            "quantity": order.quantity,
            "price": _text(order.price),
            "trigger_price": _text(order.trigger_price),
            "status": OrderStatus.NEW.value,
            "filled_qty": 0,
            "filled_notional": "0",
            "avg_price": None,
            "fees": "0",
            "venue_order_id": None,
            "reason": None,
            "ts_created": order.ts_event,
            "ts_updated": order.ts_event,
            "command": command,
        }
        self.new_orders.append(key)
        return True

    def order_event(self, prepared: Prepared) -> None:
        event = prepared.record
        self.event(event.client_order_id, prepared)
        row = self.order(event.client_order_id)
        if row is None:
            return
        _advance(row, _STATUS_OF[type(event)])
        row["ts_updated"] = max(row["ts_updated"], event.ts_event)
        venue_order_id = getattr(event, "venue_order_id", None)
        if venue_order_id:
            row["venue_order_id"] = venue_order_id
        reason = getattr(event, "reason", "")
        if reason:
            row["reason"] = reason

    def order_filled(self, prepared: Prepared) -> None:
        fill: OrderFilled = prepared.record
        if fill.trade_id in self.seen_trades:
            return
        self.seen_trades.add(fill.trade_id)
        self.add(
            fills,
            {
                "trade_id": fill.trade_id,
                "client_order_id": fill.client_order_id,
                "venue_order_id": fill.venue_order_id,
                "instrument": fill.instrument,
                "strategy": fill.strategy,
                "side": fill.side.value,
                "last_qty": fill.last_qty,
                "last_price": str(fill.last_price),
                "fee": str(fill.fee),
                "currency": fill.currency,
                "correlation_id": fill.correlation_id,
                "ts_event": fill.ts_event,
                "ts_init": fill.ts_init,
                "fill": prepared.json,
            },
        )
        self.event(fill.client_order_id, prepared)
        row = self.order(fill.client_order_id)
        if row is None:
            return
        filled = row["filled_qty"] + fill.last_qty
        notional = Decimal(row["filled_notional"]) + fill.last_qty * fill.last_price
        row["filled_qty"] = filled
        row["filled_notional"] = str(notional)
        row["avg_price"] = str(_AVERAGE.divide(notional, Decimal(filled)))
        row["fees"] = str(Decimal(row["fees"]) + fill.fee)
        row["ts_updated"] = max(row["ts_updated"], fill.ts_event)
        if not row["venue_order_id"]:
            row["venue_order_id"] = fill.venue_order_id
        # A modify recorded as asked may have reached the venue after the order filled: the
        # venue's fills prove the quantity it held.
        row["quantity"] = max(row["quantity"], filled)
        full = filled >= row["quantity"]
        _advance(row, OrderStatus.FILLED if full else OrderStatus.PARTIALLY_FILLED)

    def order_command(self, prepared: Prepared) -> None:
        self.event(prepared.record.client_order_id, prepared)

    def modify_order(self, prepared: Prepared) -> None:
        modify: ModifyOrder = prepared.record
        self.event(modify.client_order_id, prepared)
        row = self.order(modify.client_order_id)
        if row is None:
            return
        if modify.quantity is not None:
            row["quantity"] = modify.quantity
        if modify.price is not None:
            row["price"] = _text(modify.price)
        if modify.trigger_price is not None:
            row["trigger_price"] = _text(modify.trigger_price)

    def close_position(self, prepared: Prepared) -> None:
        close: ClosePosition = prepared.record
        for order in close.orders:
            self.event(order.client_order_id, prepared)

    def status_report(self, prepared: Prepared) -> None:
        report: OrderStatusReport = prepared.record
        if report.client_order_id is None:
            self.audit(prepared)
        else:
            self.event(report.client_order_id, prepared)

    def position(self, prepared: Prepared) -> None:
        p: PositionChanged = prepared.record
        self.add(
            position_snapshots,
            {
                "instrument": p.instrument,
                "strategy": p.strategy,
                "quantity": p.quantity,
                "avg_price": str(p.avg_price),
                "realized_pnl": str(p.realized_pnl),
                "currency": p.currency,
                "ts_event": p.ts_event,
                "snapshot": prepared.json,
            },
        )

    def account(self, prepared: Prepared) -> None:
        a: AccountChanged = prepared.record
        self.add(
            account_snapshots,
            {
                "currency": a.currency,
                "cash": str(a.cash),
                "equity": str(a.equity),
                "realized_pnl": str(a.realized_pnl),
                "unrealized_pnl": str(a.unrealized_pnl),
                "fees": str(a.fees),
                "open_positions": a.open_positions,
                "ts_event": a.ts_event,
                "snapshot": prepared.json,
            },
        )

    def signal(self, prepared: Prepared) -> None:
        s: Signal | TradeIntent = prepared.record
        self.add(
            signals,
            {
                "kind": type(s).__name__,
                "strategy": s.strategy,
                "instrument": s.instrument,
                "side": s.side.value,
                "strength": s.strength,
                "correlation_id": s.correlation_id,
                "ts_event": s.ts_event,
                "signal": prepared.json,
            },
        )

    def ranking(self, prepared: Prepared) -> None:
        ranked: SignalsRanked = prepared.record
        self.ranking_rows.append(
            {
                "ts_event": ranked.ts_event,
                "bar_close": ranked.bar_close,
                "candidates": len(ranked.candidates),
                "picked": sum(1 for c in ranked.candidates if c.picked),
                "ranking": prepared.json,
            }
        )

    def denial(self, prepared: Prepared) -> None:
        d: RiskDenied = prepared.record
        self.add(
            risk_denials,
            {
                "code": d.code.value,
                "instrument": d.instrument,
                "strategy": d.strategy,
                "message": d.message,
                "correlation_id": d.correlation_id,
                "ts_event": d.ts_event,
                "denial": prepared.json,
            },
        )

    def command(self, prepared: Prepared) -> None:
        c: CommandRecord = prepared.record
        self.command_rows.append(
            {
                "command_id": c.command_id,
                "kind": c.kind,
                "who": c.who,
                "body": prepared.json,
                "ts_event": c.ts_event,
                "outcome": None,
                "ts_outcome": None,
            }
        )

    def outcome(self, prepared: Prepared) -> None:
        o: CommandOutcome = prepared.record
        self.outcomes.append(
            {"key": o.command_id, "new_outcome": o.outcome, "new_ts_outcome": o.ts_event}
        )

    def audit(self, prepared: Prepared) -> None:
        record = prepared.record
        if isinstance(record, AuditRecord):
            kind, message = record.kind, record.message
        else:  # a catalogue message: its type and, if it has one, its reason
            kind, message = type(record).__name__, str(getattr(record, "reason", ""))
        self.add(
            audit_events,
            {
                "kind": kind,
                "message": message,
                "detail": prepared.json,
                "ts_event": record.ts_event,
            },
        )


_HANDLERS: dict[type, Callable[[_Batch, Prepared], None]] = {
    SubmitOrder: _Batch.submit_order,
    SubmitBracket: _Batch.submit_bracket,
    OrderFilled: _Batch.order_filled,
    CancelOrder: _Batch.order_command,
    ModifyOrder: _Batch.modify_order,
    BracketReleased: _Batch.order_command,
    BracketReduced: _Batch.order_command,
    ClosePosition: _Batch.close_position,
    OrderStatusReport: _Batch.status_report,
    PositionChanged: _Batch.position,
    AccountChanged: _Batch.account,
    Signal: _Batch.signal,
    TradeIntent: _Batch.signal,
    SignalsRanked: _Batch.ranking,
    RiskDenied: _Batch.denial,
    CommandRecord: _Batch.command,
    CommandOutcome: _Batch.outcome,
    **dict.fromkeys(_STATUS_OF, _Batch.order_event),
}


def _handler(kind: type) -> Callable[[_Batch, Prepared], None]:
    return _HANDLERS.get(kind, _Batch.audit)


def _order_ids(batch: Iterable[Prepared]) -> set[str]:
    ids: set[str] = set()
    for prepared in batch:
        record = prepared.record
        if isinstance(record, SubmitBracket):
            ids.add(record.entry.client_order_id)
        elif type(record) in _HANDLERS and getattr(record, "client_order_id", None) is not None:
            ids.add(record.client_order_id)
    return ids


def _order_update(row: dict[str, Any]) -> dict[str, Any]:
    values = {f"new_{name}": row[name] for name in ORDER_STATE_COLUMNS}
    values["key"] = row["client_order_id"]
    return values


def _advance(row: dict[str, Any], status: OrderStatus) -> None:
    if _RANK[status] > _RANK[OrderStatus(row["status"])]:
        row["status"] = status.value


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
