"""The crash suite's invariants: pure functions over the rows of three independent records.

The crash suite (:mod:`bench.crash`) kills a paper session again and again and restarts it on
the same data directory; these functions judge what each incarnation left behind. They take
plain rows (:class:`Order`, :class:`Fill`, :class:`Book`) that :mod:`bench.crash_books` reads
from the journal's SQLite file and the paper broker's with ``sqlite3``, and from the API's JSON,
never through the engine's own readers, so a defect in those cannot hide one in the writers.
Each function returns the violations it found (none: the invariant holds), each naming the ids
and figures needed to find it again; the suite adds the round and the seed.

The table: each invariant, the kind of its violations, and how it is checked (here, and in
:mod:`bench.crash_restarts` for 4 to 7, over one incarnation's orders; when each check runs
is the table of :mod:`bench.crash_rounds`).

==  ================================  ==========================================================
#   invariant (violation kinds)       how it is checked
==  ================================  ==========================================================
1   no fill lost or doubled           :func:`fills_agree`: with the engine down after a kill,
    (``fill_lost``,                   every journal fill is at the broker (same trade id,
    ``fill_unknown_to_broker``,       order, side, units, price); once the restart has
    ``fill_differs``,                 reconciled, every execution the broker held at the kill
    ``fill_doubled``,                 is in the journal; after a SIGTERM, both ways.
    ``filled_qty_mismatch``)          :func:`fills_once`: a trade id twice in one record, an
                                      order whose fills add up to more than its units, or
                                      (after a clean stop) to other units than its own count
2   positions and cash agree          :func:`books_agree`: per instrument, the broker's
    (``position_mismatch``,           position, the journal's fills netted (:func:`netted`)
    ``cash_mismatch``)                and the API's; the broker's cash, the journal's (starting
                                      cash, less buys, plus sells, less fees) and the API's
3   no order or trade id duplicated   :func:`ids_unique`: client and venue order ids and trade
    (``duplicate_order_id``,          ids within each record, and in the API's lists
    ``duplicate_trade_id``)
4   no order placed that the engine   ``judge_life``: each order the broker received after a
    before the crash would not have   restart is classified by its id (:func:`parse_order_id`)
    placed                            and the books at the kill. Allowed: a new decision and
    (``exit_of_closed_bracket``,      its bracket's exits; an order open in the journal or the
    ``unexplained_order``)            API at the kill (asked again, same id); an exit of a
                                      bracket still open at the kill (:func:`bracket_open`).
                                      An exit of a bracket closed before the kill, and anything
                                      else, are violations
5   no position opened by a restart   :func:`no_short`: the broker's fills in time order never
    (``short_position``,              take an instrument short (the session is long-only);
    ``position_opened_by_restart``)   ``judge_life``: a fill of an order the restart placed by
                                      itself never takes a position further from flat
6   HALTED or REDUCING kept           ``judge_life``: the journal's last persisting
    (``state_lost``,                  ``TradingStateChanged`` at the kill is what ``GET state``
    ``entry_while_held``)             says once the restart is ready, and no entry reaches the
                                      broker before the suite's ``resume``
7   no entry before reconciliation    ``judge_life``: no entry reaches the broker (its
    (``entry_before_reconciliation``,  ``ts_created`` there) before the process's first
    ``no_reconciliation``)            ``ReconciliationReport`` in the journal
==  ================================  ==========================================================

The process itself may break the run: ``not_ready`` (``GET health`` not 200 in time),
``engine_exited`` (it ended by itself), ``shutdown_hung`` (SIGTERM did not end it in time,
then it was killed), ``shutdown_failed`` (SIGTERM ended it with another code than 0),
``no_reconciliation``, and ``unreadable_book`` (a file could not be read after a stop).

An *entry* is an order that is no exit by its id (not ``<entry>:stop|target|trail|time|flat``,
``<signal>:exit``, ``flatten:``/``square-off:``) and that takes its instrument's position,
as the broker's fills before its creation left it, further from flat. Times are ns since the
epoch, UTC, every one from the same machine's clock. Statuses and sides are the engine's enum
values as text (``"ACCEPTED"``, ``"BUY"``).
"""

from __future__ import annotations

import enum
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.orders.ids import parse_exit_id

__all__ = [
    "HELD_STATES",
    "OPEN_STATUSES",
    "Book",
    "Fill",
    "Order",
    "OrderId",
    "OrderKind",
    "Violation",
    "books_agree",
    "bracket_open",
    "fills_agree",
    "fills_once",
    "ids_unique",
    "in_time_order",
    "netted",
    "no_short",
    "parse_order_id",
    "position_before",
    "signed",
]

OPEN_STATUSES = frozenset({"NEW", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED"})
"""Statuses of an order that may still fill."""
HELD_STATES = frozenset({"HALTED", "REDUCING"})
"""Trading states that must survive a restart until a person resumes."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant: its kind (``fill_lost``, ``exit_of_closed_bracket``...), a line
    saying what broke, and the ids and figures involved. ``round`` is the suite's round (the
    incarnation killed at its end), -1 until the suite stamps it."""

    kind: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    round: int = -1


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution as a record holds it."""

    trade_id: str
    client_order_id: str
    instrument: str
    side: str
    quantity: int
    price: Decimal
    fee: Decimal
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Order:
    """One order as a record holds it; ``seq`` orders a record's orders as they were made
    (the broker's own sequence; the journal's creation time)."""

    client_order_id: str
    instrument: str
    side: str
    quantity: int
    status: str
    filled_qty: int
    created_ns: int
    seq: int = 0
    venue_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Book:
    """What one record (``broker``, ``journal`` or ``api``) says: orders by client id, fills
    in the record's order, signed positions (> 0 long) by instrument, cash (``None``: not
    known to this record)."""

    source: str
    orders: Mapping[str, Order] = field(default_factory=dict)
    fills: Sequence[Fill] = ()
    positions: Mapping[str, int] = field(default_factory=dict)
    cash: Decimal | None = None


# -- order ids -----------------------------------------------------------------------------


class OrderKind(enum.Enum):
    """What an order is, read from its client order id (``engine/orders/ids.py`` and
    ``engine/risk/orders.py`` document the shapes; a bracket exit's is read with
    :func:`~engine.orders.ids.parse_exit_id`, the others here)."""

    ENTRY = "entry"
    """``<strategy>:<instrument>:<decision ns>:<seq>:entry``."""
    SIGNAL_EXIT = "signal_exit"
    """``<strategy>:<instrument>:<decision ns>:<seq>:exit`` (``:exit:2`` past the freeze)."""
    BRACKET_EXIT = "bracket_exit"
    """``<entry id>:stop|trail|target|target2|time|flat`` (``.n`` for the n-th of a role)."""
    FLATTEN = "flatten"
    """``flatten:<ns>:<instrument>`` or ``square-off:<ns>:<instrument>`` (``:2``...)."""
    MANUAL = "manual"
    """The suite's own ``POST orders``, by its id prefix."""
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class OrderId:
    kind: OrderKind
    decision_ns: int | None = None
    """When the decision behind it was made; ``None`` for manual orders and bracket exits."""
    entry_id: str | None = None
    """A bracket exit's entry."""
    role: str | None = None
    """A bracket exit's role with its number: ``stop.2``."""


_SIGNAL_ORDER = re.compile(r"^.+:(?P<ns>-?[0-9]+):[0-9]+:(?P<what>entry|exit)(?::[0-9]+)?$")
_FLATTEN = re.compile(r"^(?:flatten|square-off):(?P<ns>-?[0-9]+):.+$")


def parse_order_id(client_order_id: str, manual_prefix: str) -> OrderId:
    """Read what an order is from its id; ``manual_prefix`` starts the suite's manual ids."""
    exit_id = parse_exit_id(client_order_id)
    if exit_id is not None:
        entry_id = exit_id[0]
        # The role as the id spells it, with its ``.n``: ``stop.2``.
        role = client_order_id[len(entry_id) + 1 :]
        return OrderId(OrderKind.BRACKET_EXIT, entry_id=entry_id, role=role)
    if manual_prefix and client_order_id.startswith(manual_prefix):
        return OrderId(OrderKind.MANUAL)
    signal = _SIGNAL_ORDER.match(client_order_id)
    if signal is not None:
        kind = OrderKind.ENTRY if signal.group("what") == "entry" else OrderKind.SIGNAL_EXIT
        return OrderId(kind, decision_ns=int(signal.group("ns")))
    flatten = _FLATTEN.match(client_order_id)
    if flatten is not None:
        return OrderId(OrderKind.FLATTEN, decision_ns=int(flatten.group("ns")))
    return OrderId(OrderKind.OTHER)


# -- positions ----------------------------------------------------------------------------


def signed(fill: Fill) -> int:
    """A fill's units, > 0 for a buy."""
    return fill.quantity if fill.side == "BUY" else -fill.quantity


def in_time_order(fills: Iterable[Fill]) -> list[Fill]:
    """``fills`` by time, then trade id (the broker's sequence)."""
    return sorted(fills, key=lambda f: (f.ts_ns, f.trade_id))


def netted(fills: Iterable[Fill], starting_cash: Decimal) -> tuple[dict[str, int], Decimal]:
    """The signed position per instrument and the cash that ``fills`` leave from
    ``starting_cash``: buys cost their notional, sells bring it, every fee is paid."""
    positions: dict[str, int] = defaultdict(int)
    cash = starting_cash
    for fill in fills:
        notional = fill.quantity * fill.price
        positions[fill.instrument] += signed(fill)
        cash += (-notional if fill.side == "BUY" else notional) - fill.fee
    return dict(positions), cash


def position_before(fills: Sequence[Fill], instrument: str, ns: int) -> int:
    """The signed position of ``instrument`` that ``fills`` made before ``ns``."""
    return sum(signed(f) for f in fills if f.instrument == instrument and f.ts_ns < ns)


def bracket_open(entry_id: str, fills: Sequence[Fill], manual_prefix: str = "") -> bool:
    """Whether the bracket of ``entry_id`` still held a position after ``fills`` (one
    instrument's or all, any order): its entry filled, its own exits had not filled as many
    units, and the instrument's position did not come back to flat (or past it) after the
    entry's last fill. A close of the whole position (an exit signal, the kill switch, a
    manual sell) closes every bracket on it."""
    entry_fills = [f for f in fills if f.client_order_id == entry_id]
    if not entry_fills:
        return False
    entered = sum(f.quantity for f in entry_fills)
    exited = sum(
        f.quantity
        for f in fills
        if (parsed := parse_order_id(f.client_order_id, manual_prefix)).kind
        is OrderKind.BRACKET_EXIT
        and parsed.entry_id == entry_id
    )
    if exited >= entered:
        return False
    instrument = entry_fills[0].instrument
    long = entry_fills[0].side == "BUY"
    last = max((f.ts_ns, f.trade_id) for f in entry_fills)
    position = 0
    for fill in in_time_order(f for f in fills if f.instrument == instrument):
        position += signed(fill)
        if (fill.ts_ns, fill.trade_id) > last and (position <= 0 if long else position >= 0):
            return False
    return True


def no_short(
    fills: Sequence[Fill], placed_by_restart: Mapping[str, int] | None = None
) -> list[Violation]:
    """The broker's ``fills`` in time order never take an instrument's position below 0
    (long-only). Each dip below 0 is one ``short_position``, naming the fill that took it
    there; ``placed_by_restart`` (order id -> the round whose restart placed it) says whether
    a restart placed that order."""
    placed_by_restart = placed_by_restart or {}
    found: list[Violation] = []
    positions: dict[str, int] = defaultdict(int)
    for fill in in_time_order(fills):
        before = positions[fill.instrument]
        after = before + signed(fill)
        positions[fill.instrument] = after
        if after < 0 <= before:
            restart_round = placed_by_restart.get(fill.client_order_id)
            found.append(
                Violation(
                    "short_position",
                    f"{fill.instrument} went from {before} to {after} with {fill.trade_id} of "
                    f"{fill.client_order_id}",
                    {
                        "instrument": fill.instrument,
                        "position_before": before,
                        "position_after": after,
                        "trade_id": fill.trade_id,
                        "client_order_id": fill.client_order_id,
                        "ts_ns": fill.ts_ns,
                        "placed_by_restart_of_round": restart_round,
                    },
                )
            )
    return found


# -- fills, books and ids -----------------------------------------------------------------


def _essence(fill: Fill) -> tuple[str, str, str, int, Decimal]:
    return (fill.client_order_id, fill.instrument, fill.side, fill.quantity, fill.price)


def fills_agree(
    held: Sequence[Fill], holder: Sequence[Fill], *, kind: str, holder_name: str
) -> list[Violation]:
    """Every fill of ``held`` is in ``holder`` (by trade id) with the same order, instrument,
    side, units and price. A missing one is a ``kind`` violation (``fill_lost`` for broker
    executions missing from the journal, ``fill_unknown_to_broker`` the other way); one that
    differs is ``fill_differs``."""
    by_id = {f.trade_id: f for f in holder}
    found: list[Violation] = []
    for fill in held:
        other = by_id.get(fill.trade_id)
        if other is None:
            found.append(
                Violation(
                    kind,
                    f"trade {fill.trade_id} ({fill.client_order_id}, {fill.side} "
                    f"{fill.quantity} {fill.instrument} at {fill.price}) is not in the "
                    f"{holder_name}",
                    {
                        "trade_id": fill.trade_id,
                        "client_order_id": fill.client_order_id,
                        "instrument": fill.instrument,
                        "side": fill.side,
                        "quantity": fill.quantity,
                        "price": str(fill.price),
                        "ts_ns": fill.ts_ns,
                    },
                )
            )
        elif _essence(other) != _essence(fill):
            found.append(
                Violation(
                    "fill_differs",
                    f"trade {fill.trade_id} differs in the {holder_name}",
                    {"trade_id": fill.trade_id, "one": repr(fill), "other": repr(other)},
                )
            )
    return found


def fills_once(book: Book) -> list[Violation]:
    """Within one record: each trade id once; each order's fills add up to no more than its
    units (``fill_doubled``) and to its own filled count (``filled_qty_mismatch``)."""
    found: list[Violation] = []
    for trade_id, count in Counter(f.trade_id for f in book.fills).items():
        if count > 1:
            found.append(
                Violation(
                    "fill_doubled",
                    f"trade {trade_id} is {count} times in the {book.source}",
                    {"source": book.source, "trade_id": trade_id, "count": count},
                )
            )
    filled: dict[str, int] = defaultdict(int)
    for fill in book.fills:
        filled[fill.client_order_id] += fill.quantity
    for order_id, units in sorted(filled.items()):
        order = book.orders.get(order_id)
        if order is None:
            continue
        if units > order.quantity:
            found.append(
                Violation(
                    "fill_doubled",
                    f"{book.source}: {order_id} has fills for {units} units, ordered "
                    f"{order.quantity}",
                    {
                        "source": book.source,
                        "client_order_id": order_id,
                        "filled_by_fills": units,
                        "quantity": order.quantity,
                    },
                )
            )
        elif units != order.filled_qty:
            found.append(
                Violation(
                    "filled_qty_mismatch",
                    f"{book.source}: {order_id} says {order.filled_qty} units filled, its "
                    f"fills add up to {units}",
                    {
                        "source": book.source,
                        "client_order_id": order_id,
                        "filled_qty": order.filled_qty,
                        "filled_by_fills": units,
                    },
                )
            )
    return found


def books_agree(books: Sequence[Book]) -> list[Violation]:
    """Every instrument's position, and the cash, are the same in each of ``books`` (cash
    only where a book knows it; a missing instrument is flat)."""
    found: list[Violation] = []
    instruments = sorted({i for book in books for i in book.positions})
    for instrument in instruments:
        figures = {book.source: book.positions.get(instrument, 0) for book in books}
        if len(set(figures.values())) > 1:
            found.append(
                Violation(
                    "position_mismatch",
                    f"{instrument}: "
                    + ", ".join(f"{source} {qty}" for source, qty in figures.items()),
                    {"instrument": instrument, **figures},
                )
            )
    cash = {book.source: book.cash for book in books if book.cash is not None}
    if len(set(cash.values())) > 1:
        found.append(
            Violation(
                "cash_mismatch",
                "cash: " + ", ".join(f"{source} {value}" for source, value in cash.items()),
                {source: str(value) for source, value in cash.items()},
            )
        )
    return found


def ids_unique(source: str, ids: Mapping[str, Sequence[str]]) -> list[Violation]:
    """In ``source``, each list of ``ids`` (by what they are: ``client_order_id``,
    ``venue_order_id``, ``trade_id``) holds every id once."""
    found: list[Violation] = []
    for what, values in ids.items():
        for value, count in sorted(Counter(values).items()):
            if count > 1:
                kind = "duplicate_trade_id" if what == "trade_id" else "duplicate_order_id"
                found.append(
                    Violation(
                        kind,
                        f"{source}: {what} {value} appears {count} times",
                        {"source": source, "what": what, "id": value, "count": count},
                    )
                )
    return found
