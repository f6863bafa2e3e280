"""The router's book after a process restart, rebuilt from what the journal recorded.

Pure: :class:`RouterRebuild` is what the journal holds (read by
:meth:`engine.journal.reader.JournalReader.router_rebuild`), :func:`restore_book` turns it
into the router's :class:`~engine.orders.order.TrackedOrder` s and
:class:`~engine.orders.bracket.Bracket` s. The router then asks the venue about every order
that was not ended (:mod:`actors.order_router_recovery`).

What is restored, scenario → outcome:

==============================================  ============================================
the journal holds                               restored as
==============================================  ============================================
an order not ended (NEW, SUBMITTED, ACCEPTED,   a live order, its recorded fills counted (by
PARTIALLY_FILLED)                               trade id); NEW becomes SUBMITTED: it may have
                                                left, so it is asked about, never sent as new
a bracket (its ``SubmitBracket``) with an       the bracket, told its entry's fills, then each
order not ended, or a position its fills have   exit order (``<entry>:<role>[.n]``) in turn:
not closed                                      its fills, and its end if it ended. Who
                                                canceled an exit is in the journal: the router
                                                (a ``CancelOrder`` recorded: the end was
                                                planned, units still open get a new order),
                                                the user (a ``BracketReleased`` of that exit:
                                                never placed again), else the venue (a target
                                                given up, a stop lost: closed at market, as
                                                the running router does)
an exit whose trailing trigger moved            the recorded (first) trigger until the venue
                                                reports the one it holds
                                                (:meth:`Bracket.confirm_leg`)
a bracket the router released (its             restored released: its orders still open are
``BracketReleased``: a close or a cancel-all    asked about, nothing is placed or moved for
took over) with an order not ended              it; released with every order ended, it is
                                                not restored at all
a bracket some of whose units other orders     restored with those units given up
closed (``BracketReduced``)                     (:attr:`Bracket.closed_elsewhere`)
a ``ClosePosition`` recorded whose orders were  restored as waiting: its instrument's orders
never recorded (the close waited for the        (of its strategy) are canceled again, then
cancels it had sent)                            its orders go, never beyond the position
an order of a bracket that is not restored, or  not restored (ended, nothing to manage)
an ended plain order
==============================================  ============================================

Why the release is a journal record of its own: the order that closes a released bracket's
position is the close's (``<signal>:exit``), not one of the bracket's, so the bracket's own
legs say "entry filled, exits canceled, position open"; without the record a restart took
the bracket up again and placed its stop and target a second time, on a flat position.

Times: a restored bracket's entry timeout counts from its ``SubmitBracket``'s ``ts_event``, its
time stop from its first entry fill's ``ts_event`` (the venue's execution time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from engine.instruments.instrument import Instrument
from engine.journal.views import JournaledOrder
from engine.messages.orders import ClosePosition, SubmitBracket
from engine.messages.trading import OrderFilled, OrderSide
from engine.orders.bracket import Bracket
from engine.orders.ids import parse_exit_id
from engine.orders.order import TrackedOrder
from engine.orders.state import TERMINAL

__all__ = ["RestoredBook", "RouterRebuild", "restore_book", "signed"]


@dataclass(frozen=True)
class RouterRebuild:
    """What the journal holds of the router's book (oldest first everywhere)."""

    orders: list[JournaledOrder] = field(default_factory=list)
    """Every order not ended, and every order (ended or not) of each bracket in
    :attr:`brackets`."""
    brackets: list[SubmitBracket] = field(default_factory=list)
    """The brackets still to manage: an order not ended, or a position not closed."""
    fills: list[OrderFilled] = field(default_factory=list)
    """The recorded fills of :attr:`orders`."""
    positions: dict[str, int] = field(default_factory=dict)
    """Signed units per instrument, netted over every fill recorded (what the ledger's replay
    nets); flat instruments left out."""
    released: set[str] = field(default_factory=set)
    """Entry ids of the brackets in :attr:`brackets` the router had released (a close or a
    cancel-all took over: a ``BracketReleased`` was recorded)."""
    released_exits: set[str] = field(default_factory=set)
    """Exit orders in :attr:`orders` the user canceled: the bracket left them to the user."""
    closed_elsewhere: dict[str, int] = field(default_factory=dict)
    """Per bracket in :attr:`brackets`, the units other orders closed (its last
    ``BracketReduced``)."""
    cancels_asked: set[str] = field(default_factory=set)
    """Orders in :attr:`orders` the router asked to cancel (a ``CancelOrder`` recorded): an
    exit that ended CANCELED without one was canceled by the venue."""
    closes: list[ClosePosition] = field(default_factory=list)
    """Closes the router took and had not sent yet (no order of theirs went further than the
    ``ClosePosition`` record), oldest first."""


@dataclass
class RestoredBook:
    """:func:`restore_book`'s result, in the order the journal recorded them."""

    orders: dict[str, TrackedOrder]
    brackets: dict[str, Bracket]
    live: list[str]
    """Client order ids of the restored orders not ended: to ask the venue about."""
    alerts: list[str]
    """What did not fit (an exit the plan has no place for); the router logs them."""


InstrumentLookup = Callable[[str], Instrument | None]


def signed(fill: OrderFilled) -> int:
    """The fill's units, > 0 for a buy."""
    return fill.last_qty if fill.side is OrderSide.BUY else -fill.last_qty


def restore_book(
    rebuild: RouterRebuild,
    *,
    lot_size: Callable[[str], int],
    tick_size: Callable[[str], Decimal],
) -> RestoredBook:
    """Rebuild the router's orders and brackets from ``rebuild`` (module doc).

    ``lot_size`` and ``tick_size`` give an instrument's (the bracket's targets are rounded to
    the lot, its trailing stop to the tick). A bracket whose plan the router would refuse
    today is not restored: its orders are, as plain orders, and an alert says so.
    """
    fills: dict[str, list[OrderFilled]] = defaultdict(list)
    for fill in rebuild.fills:
        fills[fill.client_order_id].append(fill)
    journaled = {o.client_order_id: o for o in rebuild.orders}
    alerts: list[str] = []
    brackets: dict[str, Bracket] = {}
    for command in rebuild.brackets:
        entry = command.entry
        try:
            brackets[entry.client_order_id] = Bracket(
                command,
                command.ts_event,
                lot_size=lot_size(entry.instrument),
                tick_size=tick_size(entry.instrument),
            )
        except ValueError as exc:
            alerts.append(f"bracket {entry.client_order_id} not restored: {exc}")

    orders: dict[str, TrackedOrder] = {}
    for record in rebuild.orders:
        client_order_id = record.client_order_id
        bracket_id, role = _membership(client_order_id, brackets)
        orders[client_order_id] = TrackedOrder.restored(
            record.order,
            record.status,
            [(f.trade_id, f.last_qty, f.last_price) for f in fills[client_order_id]],
            venue_order_id=record.venue_order_id,
            reason=record.reason or "",
            created_ns=record.ts_created,
            updated_ns=record.ts_updated,
            bracket=bracket_id,
            role=role,
        )

    for entry_id, bracket in brackets.items():
        if entry_id in rebuild.released:
            bracket.release()  # before its legs are told: their ends are not its business
        bracket.closed_elsewhere = rebuild.closed_elsewhere.get(entry_id, 0)
        _restore_bracket(bracket, orders, journaled, fills, rebuild)
        alerts.extend(bracket.alerts)
        bracket.alerts.clear()
    live = [cid for cid, order in orders.items() if order.live]
    return RestoredBook(orders=orders, brackets=brackets, live=live, alerts=alerts)


def _membership(client_order_id: str, brackets: dict[str, Bracket]) -> tuple[str | None, str]:
    if client_order_id in brackets:
        return client_order_id, "entry"
    parsed = parse_exit_id(client_order_id)
    if parsed is not None and parsed[0] in brackets:
        return parsed[0], parsed[1]
    return None, "order"


def _restore_bracket(
    bracket: Bracket,
    orders: dict[str, TrackedOrder],
    journaled: dict[str, JournaledOrder],
    fills: dict[str, list[OrderFilled]],
    rebuild: RouterRebuild,
) -> None:
    entry_id = bracket.entry_id
    for fill in fills.get(entry_id, []):
        bracket.entry_fill(fill.last_qty, fill.last_price, fill.ts_event)
    legs = [
        (parsed[1], parsed[2], cid)
        for cid, order in orders.items()
        if order.bracket == entry_id
        and cid != entry_id
        and (parsed := parse_exit_id(cid)) is not None
    ]
    for role, _nth, cid in sorted(legs, key=lambda leg: (leg[0], leg[1])):
        order = orders[cid]
        record = journaled[cid].order
        if not bracket.restore_leg(
            cid,
            role,
            quantity=order.quantity,
            trigger=record.trigger_price,
            price=record.price,
        ):
            order.bracket, order.role = None, "order"
            continue
        if order.filled_qty:
            bracket.leg_fill(cid, order.filled_qty)
        if cid in rebuild.released_exits:
            bracket.cancel_sent(cid)  # the user's: never placed again
        elif cid in rebuild.cancels_asked:
            bracket.cancel_asked(cid)  # the bracket's own: its end is as planned
        if order.status in TERMINAL:
            bracket.leg_ended(cid, order.status, order.reason)
    entry = orders.get(entry_id)
    if entry is None or entry.status in TERMINAL:
        bracket.entry_ended()
