"""Orders with their exits: what the risk supervisor asks the order router to manage.

A :class:`SubmitBracket` is an entry order and the plan for getting out of it. The router
sends the entry; once (and as far as) it fills, the router places the protective stop and the
target, one-cancels-other and sized to the filled quantity, and manages the exits the venue
does not (trailing stop, time stop, partial targets). Prices are ``Decimal`` on the tick.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.messages.base import Command, Event
from engine.messages.trading import SubmitOrder

TOPIC_ORDERS = "orders"
"""Every order event (submitted, accepted, rejected, filled, canceled, expired)."""
TOPIC_FILLS = "fills"
"""Every fill, also on ``fills:<instrument>``."""


class PartialTarget(msgspec.Struct, frozen=True, kw_only=True):
    price: Decimal
    fraction: float
    """Of the filled quantity, in (0, 1]; rounded down to the lot, the last target takes the
    rest."""


class ExitPlan(msgspec.Struct, frozen=True, kw_only=True):
    """How a position opened by a bracket's entry is closed. ``None``: not used."""

    stop: Decimal | None = None
    """Protective stop price (a stop-market order at the venue), live from the entry's fill."""
    stop_pct: Decimal | None = None
    """Instead of ``stop``: a protective stop this % (in (0, 100)) from the entry's average
    fill price, placed when the entry fills (:func:`engine.orders.exits.percent_stop`: a
    long's rounded down to the tick, a short's up); as more of the entry fills, the stop
    covers the filled quantity at the new average's price."""
    target: Decimal | None = None
    """Take-profit price (a limit order at the venue), one-cancels-other with the stop."""
    partial_targets: list[PartialTarget] = msgspec.field(default_factory=list)
    """Take profit in parts instead of one ``target``."""
    trailing_distance: Decimal | None = None
    """A trailing stop this far behind the best price since entry (managed by the router)."""
    trailing_atr_multiple: float | None = None
    """A trailing stop this many ``atr`` behind the best price since entry."""
    atr: float | None = None
    """The ATR the multiple applies to, in price units (from the signal's features)."""
    time_stop_ns: int | None = None
    """Close at market once the position has been open this long."""


class SubmitBracket(Command, frozen=True, kw_only=True):
    """Enter with ``entry`` and exit by ``exits``; cancel the entry if it has not filled
    within ``entry_timeout_ns`` (what filled by then stays, with its exits)."""

    entry: SubmitOrder
    exits: ExitPlan = msgspec.field(default_factory=ExitPlan)
    entry_timeout_ns: int | None = None


class CancelAllOrders(Command, frozen=True, kw_only=True):
    """Cancel every working order (of ``instrument`` only, if given): the kill switch's first
    step and the square-off's."""

    instrument: str | None = None
    reason: str


class ClosePosition(Command, frozen=True, kw_only=True):
    """Close a position with ``orders``: orders of one instrument and one side (market
    orders, each within the freeze quantity, as the supervisor sized them to the position it
    knows), sent once the instrument's working orders have ended and never beyond the
    position (:mod:`engine.orders.closing`)."""

    orders: list[SubmitOrder]
    reason: str
    only_strategy: str | None = None
    """Cancel only this strategy's working orders (and release only its brackets) before the
    close: a strategy's exit signal leaves the trader's manual orders and other strategies'
    orders alone. ``None``: every working order of the instrument (the square-off, the kill
    switch)."""


class BracketReleased(Event, frozen=True, kw_only=True):
    """The router stopped managing a bracket's exits: a close of its position or a cancel-all
    took over (nothing more is placed or moved for it). Recorded in the journal so that a
    restart does not take the bracket up again (``client_order_id`` is the entry's)."""

    client_order_id: str
    instrument: str
    strategy: str
    reason: str
    exit: str | None = None
    """Only this exit order of the bracket (the user canceled it: the bracket leaves that
    exit to the user, and manages the rest)."""


class BracketReduced(Event, frozen=True, kw_only=True):
    """Other orders (a trader's exit) closed some of a bracket's units: the instrument holds
    fewer than the brackets opened, so the newest brackets give up the difference for good
    (their exits never sell units the position no longer holds, nor units bought later by
    someone else). ``closed_elsewhere`` is the bracket's total so far (a restart takes the
    last one recorded); ``client_order_id`` is the entry's."""

    client_order_id: str
    instrument: str
    strategy: str
    closed_elsewhere: int
