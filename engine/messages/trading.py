"""The trading vocabulary: signals, intents, order commands, order events and venue reports.

Naming follows NautilusTrader: commands are imperative (:class:`SubmitOrder`), events past
tense (:class:`OrderFilled`), venue data are reports (:class:`OrderStatusReport`).

Units, everywhere in this module:

* quantities are ``int`` units of the instrument (shares, contracts or lots as the instrument
  counts them), positive unless a field says *signed*;
* order prices and money are ``decimal.Decimal`` (encoded as JSON strings, so no precision is
  lost on the wire); prices are in the instrument's quote currency per unit, money in the
  currency named by a ``currency`` field (ISO 4217 code, ``"INR"``, ``"USD"``);
* times are ``int`` ns since the epoch, UTC;
* ``instrument`` is the engine's instrument id, for example ``"NSE:RELIANCE"``;
* ``client_order_id`` is the engine's deterministic order id (DESIGN §5); ``venue_order_id``
  is the broker's.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import msgspec

from engine.messages.base import Command, Event, Report


class OrderSide(enum.Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    """Becomes a market order once the market trades at ``trigger_price``."""
    STOP_LIMIT = "STOP_LIMIT"
    """Becomes a limit order at ``price`` once the market trades at ``trigger_price``."""


class TimeInForce(enum.Enum):
    DAY = "DAY"
    """Expires at the end of the exchange session."""
    IOC = "IOC"
    """Immediate or cancel: what does not fill at once is canceled."""
    GTC = "GTC"
    """Good till canceled."""


class OrderStatus(enum.Enum):
    NEW = "NEW"
    """Created by the engine, not yet sent."""
    SUBMITTED = "SUBMITTED"
    """Sent to the venue, no answer yet."""
    ACCEPTED = "ACCEPTED"
    """Working at the venue."""
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class LiquiditySide(enum.Enum):
    """Whether a fill added liquidity (maker) or took it (taker); fees often differ."""

    MAKER = "MAKER"
    TAKER = "TAKER"
    NO_LIQUIDITY_SIDE = "NO_LIQUIDITY_SIDE"
    """The venue did not say (usual for Indian brokers)."""


_PRICED_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_TRIGGERED_TYPES = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})


# --- Decisions -------------------------------------------------------------------------------


class _TradeIdea(Event, frozen=True, kw_only=True):
    """Fields a :class:`Signal` and a :class:`TradeIntent` share. Not a message on its own."""

    strategy: str
    """Name of the strategy that produced the idea."""
    instrument: str
    side: OrderSide
    strength: float
    """Conviction in ``[0, 1]`` as the strategy rates it; the ranker compares across strategies."""
    entry: Decimal | None = None
    """Intended entry price; ``None`` means enter at market."""
    stop: Decimal | None = None
    """Protective stop price; ``None`` when the strategy leaves exits to risk rules."""
    target: Decimal | None = None
    """Profit target price; ``None`` when there is none."""
    valid_until_ns: int | None = None
    """After this time (ns since the epoch, UTC) the idea is stale; ``None`` never expires."""
    features: dict[str, float] = msgspec.field(default_factory=dict)
    """Indicator values behind the idea, by name, for explanations and the journal."""
    reason: str = ""
    """One line a trader can read: why the strategy wants this trade."""
    exit_only: bool = False
    """The idea may only reduce a position, never open one: a SELL from a long-only strategy
    means "exit the long" (risk refuses it when there is no long to exit)."""
    correlation_id: str
    """Ties the signal, its intent, the order and its fills together in the journal."""


class Signal(_TradeIdea, frozen=True, kw_only=True):
    """A strategy wants a trade. ``ts_event`` is the time of the bar or tick that caused it."""


class TradeIntent(_TradeIdea, frozen=True, kw_only=True):
    """The ranker picked a signal in a scan cycle; risk sizes it into a :class:`SubmitOrder`.

    Carries the signal's fields unchanged (its ``ts_event`` is the ranker's decision time).
    """

    score: float
    """The ranker's cross-sectional score; higher ranks first. Unitless."""
    contributions: dict[str, float] = msgspec.field(default_factory=dict)
    """How much each scoring term added to ``score``, by term name; they sum to ``score``."""


# --- Commands --------------------------------------------------------------------------------


class SubmitOrder(Command, frozen=True, kw_only=True):
    """Send a new order to the venue.

    Raises ``ValueError`` (``msgspec.ValidationError`` when decoding) if ``quantity`` is not
    positive, if a LIMIT/STOP_LIMIT order has no ``price``, if a STOP order has no
    ``trigger_price``, or if a price is given that the order type does not use.
    """

    client_order_id: str
    instrument: str
    side: OrderSide
    order_type: OrderType
    quantity: int
    """Units to trade, > 0."""
    price: Decimal | None = None
    """Limit price for LIMIT and STOP_LIMIT, already rounded to the tick size; else ``None``."""
    trigger_price: Decimal | None = None
    """Trigger for STOP_MARKET and STOP_LIMIT; else ``None``."""
    time_in_force: TimeInForce = TimeInForce.DAY
    strategy: str
    correlation_id: str
    reduce_only: bool = False
    """It may only reduce the position (risk judged it an exit; a close): the router sends no
    more than is held, less what other reducing orders already close, and a bracket's exits
    shrink to what it leaves, so that no two exits together sell more than is held."""

    def __post_init__(self) -> None:
        # Struct construction does not validate types; these checks catch the order shapes a
        # venue would reject anyway, before they reach the router.
        if self.quantity <= 0:
            raise ValueError(
                f"SubmitOrder {self.client_order_id}: quantity {self.quantity} must be > 0"
            )
        if (self.price is not None) != (self.order_type in _PRICED_TYPES):
            raise ValueError(
                f"SubmitOrder {self.client_order_id}: a {self.order_type.value} order "
                f"{'needs' if self.order_type in _PRICED_TYPES else 'takes no'} price "
                f"(got {self.price})"
            )
        if (self.trigger_price is not None) != (self.order_type in _TRIGGERED_TYPES):
            raise ValueError(
                f"SubmitOrder {self.client_order_id}: a {self.order_type.value} order "
                f"{'needs' if self.order_type in _TRIGGERED_TYPES else 'takes no'} "
                f"trigger_price (got {self.trigger_price})"
            )


class CancelOrder(Command, frozen=True, kw_only=True):
    """Cancel a working order."""

    client_order_id: str
    instrument: str
    strategy: str
    reason: str


class ModifyOrder(Command, frozen=True, kw_only=True):
    """Change a working order; a ``None`` field is left as it is."""

    client_order_id: str
    instrument: str
    strategy: str
    quantity: int | None = None
    """New total quantity in units (not the remainder)."""
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reason: str


class FlattenAll(Command, frozen=True, kw_only=True):
    """Cancel every open order and close every position at market (kill switch, square-off)."""

    reason: str


class PauseTrading(Command, frozen=True, kw_only=True):
    """Stop opening positions; exits still run (trading state REDUCING)."""

    reason: str


class ResumeTrading(Command, frozen=True, kw_only=True):
    """Return to normal trading (trading state ACTIVE)."""

    reason: str


class HaltTrading(Command, frozen=True, kw_only=True):
    """Send no new orders at all (trading state HALTED); open positions stay as they are."""

    reason: str


# --- Order events ----------------------------------------------------------------------------


class OrderSubmitted(Event, frozen=True, kw_only=True):
    """The router sent the order to the venue. ``ts_event`` is the send time."""

    client_order_id: str
    instrument: str
    strategy: str
    correlation_id: str


class OrderAccepted(Event, frozen=True, kw_only=True):
    """The venue acknowledged the order; it is working."""

    client_order_id: str
    venue_order_id: str
    instrument: str
    strategy: str
    correlation_id: str = ""
    """The signal's correlation id, carried by the router from the order to its events."""


class OrderRejected(Event, frozen=True, kw_only=True):
    """The venue or the router refused the order; nothing is working."""

    client_order_id: str
    instrument: str
    strategy: str
    reason: str
    """The venue's or router's words, kept verbatim for the journal."""
    correlation_id: str = ""
    """The signal's correlation id, carried by the router from the order to its events."""


class OrderCanceled(Event, frozen=True, kw_only=True):
    """The order is no longer working; any earlier partial fills stand."""

    client_order_id: str
    venue_order_id: str | None = None
    instrument: str
    strategy: str
    reason: str = ""
    correlation_id: str = ""
    """The signal's correlation id, carried by the router from the order to its events."""


class OrderExpired(Event, frozen=True, kw_only=True):
    """The order's time in force ran out; any earlier partial fills stand."""

    client_order_id: str
    venue_order_id: str | None = None
    instrument: str
    strategy: str
    correlation_id: str = ""
    """The signal's correlation id, carried by the router from the order to its events."""


class OrderFilled(Event, frozen=True, kw_only=True):
    """One execution against the order. ``ts_event`` is the venue's execution time."""

    client_order_id: str
    venue_order_id: str
    trade_id: str
    """The venue's execution id; unique per venue, so a replayed fill is recognisable."""
    instrument: str
    strategy: str
    side: OrderSide
    last_qty: int
    """Units filled in this execution, > 0."""
    last_price: Decimal
    """Execution price, quote currency per unit."""
    fee: Decimal
    """All charges for this execution (brokerage, taxes, exchange fees), in ``currency``."""
    currency: str
    liquidity_side: LiquiditySide = LiquiditySide.NO_LIQUIDITY_SIDE
    correlation_id: str = ""
    """The signal's correlation id, carried by the router from the order to its events."""


class PositionChanged(Event, frozen=True, kw_only=True):
    """The ledger's position in an instrument moved after a fill."""

    instrument: str
    strategy: str | None = None
    """Owning strategy when the ledger keeps positions per strategy; ``None`` for the account."""
    quantity: int
    """Signed units held after the change: > 0 long, < 0 short, 0 flat."""
    avg_price: Decimal
    """Average entry price of the open quantity, quote currency per unit; 0 when flat."""
    realized_pnl: Decimal
    """Realised P&L of this position so far today, after fees, in ``currency``."""
    currency: str


# --- Venue reports ---------------------------------------------------------------------------


class OrderStatusReport(Report, frozen=True, kw_only=True):
    """An order as the venue sees it, for reconciliation. ``ts_event`` is its last update."""

    client_order_id: str | None
    """``None`` for an order the engine did not place (entered by hand at the broker)."""
    venue_order_id: str
    instrument: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    quantity: int
    """Ordered units."""
    filled_qty: int
    """Units filled so far."""
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    avg_fill_price: Decimal | None = None
    """Average price of the filled units; ``None`` before the first fill."""
    reason: str | None = None
    """The venue's reason for a rejection or cancellation, if it gave one."""


class PositionReport(Report, frozen=True, kw_only=True):
    """A position as the venue sees it, for reconciliation."""

    instrument: str
    quantity: int
    """Signed units: > 0 long, < 0 short, 0 flat."""
    avg_price: Decimal
    """Average entry price as the venue computes it, quote currency per unit."""


def fills_topic(instrument: str) -> str:
    """``fills:<instrument>``: where the fills of an instrument's orders are published (the
    strategy hosts of the instrument follow it, each keeping the fills of its strategy)."""
    return f"fills:{instrument}"
