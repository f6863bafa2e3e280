"""The risk supervisor's day after a restart, replayed from the journal's order records.

Pure bookkeeping over what :meth:`engine.journal.reader.JournalReader.order_records_since`
returns (order commands, events and fills recorded since the start of the trading day, in the
order recorded), applied to a fresh :class:`~engine.risk.exposure.Exposure` and
:class:`~engine.risk.day.TradingDay` as the supervisor would have applied them live:

==============================================  ============================================
record                                          effect
==============================================  ============================================
``SubmitBracket``                               an entry: counted as a trade today, working
                                                (valued at its limit or trigger, else 0)
                                                with its protective stop
``SubmitOrder``, an exit of a replayed          nothing (the supervisor does not track a
bracket (``<entry>:stop`` ...)                  bracket's exits)
``SubmitOrder`` of the supervisor itself        an exit, working
(flatten, square-off), or on the other side
of the replayed position and within it
``SubmitOrder``, any other                      an entry (a manual order): counted, working
``OrderFilled``                                 the working order shrinks (once per trade
                                                id); the day's net position moves
``OrderRejected``                               the order stops working; an entry rejected
                                                unfilled no longer counts
``OrderCanceled`` / ``OrderExpired``            the order stops working
the fills, as round trips (flat to flat per     each closed trade's net P&L, in the order
instrument, :mod:`engine.journal.trades`)       they closed, feeds the losing streak (and
                                                a cooldown that started at its close)
==============================================  ============================================

Limits: positions are not replayed here (the ledger announces them at start, and the
supervisor follows ``positions``); a position carried from an earlier day counts as flat at the
day's start for the round trips; the streak counts today's trades only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from engine.journal.trades import round_trips
from engine.messages.orders import SubmitBracket
from engine.messages.trading import (
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSide,
    SubmitOrder,
)
from engine.orders.ids import parse_exit_id
from engine.risk.day import TradingDay
from engine.risk.exposure import Exposure, WorkingOrder
from engine.risk.orders import RISK_STRATEGY

__all__ = ["ReplayedDay", "replay_day"]

_ZERO = Decimal(0)


@dataclass
class ReplayedDay:
    """What a replay found."""

    records: int = 0
    entries: int = 0
    """Entries counted as trades today (after rejections)."""
    closed_trades: int = 0
    brackets: list[SubmitBracket] = field(default_factory=list)
    """The day's brackets, oldest first (the decisions the supervisor made)."""


def replay_day(records: Iterable[object], exposure: Exposure, day: TradingDay) -> ReplayedDay:
    """Apply ``records`` to ``exposure`` and ``day`` (module doc); what was found."""
    found = ReplayedDay()
    entries: set[str] = set()
    net: dict[str, int] = {}
    fills: list[OrderFilled] = []
    trade_ids: set[str] = set()
    for record in records:
        found.records += 1
        if isinstance(record, SubmitBracket):
            entry = record.entry
            if entry.client_order_id in entries:
                continue
            entries.add(entry.client_order_id)
            found.brackets.append(record)
            stop = record.exits.stop
            if stop is not None:
                exposure.stops[entry.instrument] = stop
            _track(exposure, entry, stop, is_exit=False)
            day.count_entry()
        elif isinstance(record, SubmitOrder):
            parsed = parse_exit_id(record.client_order_id)
            if parsed is not None and parsed[0] in entries:
                continue
            if record.client_order_id in exposure.working:
                continue
            is_exit = record.strategy == RISK_STRATEGY or _reduces(record, net, exposure)
            _track(exposure, record, None, is_exit=is_exit)
            if not is_exit:
                day.count_entry()
        elif isinstance(record, OrderFilled):
            if record.trade_id in trade_ids:
                continue
            trade_ids.add(record.trade_id)
            fills.append(record)
            exposure.fill(record.client_order_id, record.trade_id, record.last_qty)
            signed = record.last_qty if record.side is OrderSide.BUY else -record.last_qty
            net[record.instrument] = net.get(record.instrument, 0) + signed
        elif isinstance(record, OrderRejected):
            order = exposure.finish(record.client_order_id)
            if order is not None and not order.is_exit and not order.trade_ids:
                day.uncount_entry()
        elif isinstance(record, (OrderCanceled, OrderExpired)):
            exposure.finish(record.client_order_id)
    closed = [t for t in round_trips(fills) if t.ts_close is not None and t.net_pnl is not None]
    closed.sort(key=lambda trip: trip.ts_close or 0)
    for trip in closed:
        assert trip.net_pnl is not None and trip.ts_close is not None
        day.close_trade(trip.net_pnl, trip.ts_close)
    found.closed_trades = len(closed)
    found.entries = day.trades_today
    working_entries = {o.instrument for o in exposure.working.values() if not o.is_exit}
    for instrument in list(exposure.stops):
        if not net.get(instrument) and instrument not in working_entries:
            del exposure.stops[instrument]
    return found


def _reduces(order: SubmitOrder, net: dict[str, int], exposure: Exposure) -> bool:
    held = net.get(order.instrument, 0)
    if held == 0 or (order.side is OrderSide.SELL) != (held > 0):
        return False
    return order.quantity <= abs(held) - exposure.working_exit_quantity(order.instrument)


def _track(exposure: Exposure, order: SubmitOrder, stop: Decimal | None, *, is_exit: bool) -> None:
    price = order.price if order.price is not None else order.trigger_price
    exposure.add_working(
        WorkingOrder(
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            side=order.side,
            remaining=order.quantity,
            price=price if price is not None else _ZERO,
            stop=stop,
            is_exit=is_exit,
            strategy=order.strategy,
        )
    )
