"""One order as the router tracks it: its status, its executions, what the venue confirmed.

:class:`TrackedOrder` applies events through the table of :mod:`engine.orders.state` and
keeps the filled quantity and the exact average price (the notional is a ``Decimal`` sum, so
the average is not rounded along the way). Executions are deduplicated by the venue's
``trade_id``: a fill reported twice counts once. An event the table refuses changes nothing
and is counted in :attr:`TrackedOrder.refused` (the router logs it).

:class:`OrderView` is the order as ``GET /api/v1/orders`` shows it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from decimal import Decimal

import msgspec

from engine.messages.trading import (
    OrderSide,
    OrderStatus,
    OrderType,
    SubmitOrder,
    TimeInForce,
)
from engine.orders.state import LIVE, WORKING, OrderEventKind, fill_kept, next_status

__all__ = ["FillResult", "OrderView", "TrackedOrder"]


class FillResult(enum.Enum):
    APPLIED = "applied"
    """Counted; the status moved (partially filled or filled)."""
    LATE = "late"
    """Counted, but the order had ended (canceled, expired, filled): the status stays."""
    DUPLICATE = "duplicate"
    """The same ``trade_id`` was counted before: nothing changes."""
    REFUSED = "refused"
    """Contradicts what the venue said before (the order was never sent, or was rejected),
    or is not an execution at all (quantity not > 0): nothing changes."""


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """An order and its state, for the API and the live view. Prices in the quote currency
    per unit, quantities in units, times ns UTC."""

    client_order_id: str
    instrument: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: int
    """Ordered units as the router last asked (a modify changes it)."""
    price: Decimal | None
    trigger_price: Decimal | None
    status: OrderStatus
    filled_qty: int
    avg_fill_price: Decimal | None
    """Exact average of the executions; ``None`` before the first."""
    venue_order_id: str | None
    strategy: str
    correlation_id: str
    bracket: str | None
    """The entry's client order id when the order belongs to a bracket, else ``None``."""
    role: str
    """``order`` (a plain order), ``entry``, or the exit's role (``stop``, ``target2``...)."""
    reason: str
    """Why it was rejected or canceled, when it was."""
    created_ns: int
    updated_ns: int


class TrackedOrder:
    """The router's record of one order. Not thread-safe: owned by the router."""

    __slots__ = (
        "_notional",
        "bracket",
        "created_ns",
        "filled_qty",
        "order",
        "price",
        "quantity",
        "reason",
        "refused",
        "role",
        "status",
        "trade_ids",
        "trigger_price",
        "updated_ns",
        "venue_order_id",
    )

    def __init__(
        self, order: SubmitOrder, now_ns: int, *, bracket: str | None = None, role: str = "order"
    ) -> None:
        self.order = order
        """The order as recorded and sent (a re-send sends exactly this)."""
        self.status = OrderStatus.NEW
        self.quantity = order.quantity
        self.price = order.price
        self.trigger_price = order.trigger_price
        self.filled_qty = 0
        self._notional = Decimal(0)
        self.venue_order_id: str | None = None
        self.trade_ids: set[str] = set()
        self.reason = ""
        self.bracket = bracket
        self.role = role
        self.created_ns = self.updated_ns = now_ns
        self.refused = 0
        """Events the state table refused (late or duplicated venue messages)."""

    @classmethod
    def restored(
        cls,
        order: SubmitOrder,
        status: OrderStatus,
        executions: Iterable[tuple[str, int, Decimal]],
        *,
        venue_order_id: str | None,
        reason: str,
        created_ns: int,
        updated_ns: int,
        bracket: str | None = None,
        role: str = "order",
    ) -> TrackedOrder:
        """An order as the journal recorded it, after a restart.

        ``executions`` are its recorded fills as ``(trade_id, quantity, price)``: they are
        counted (and known by trade id, so the venue reporting one again changes nothing).
        A recorded ``NEW`` order becomes ``SUBMITTED``: it may have left before the process
        ended (the record of its sending is not written ahead), so it is to be asked about,
        never sent as new. Other statuses stand until the venue answers.
        """
        tracked = cls(order, created_ns, bracket=bracket, role=role)
        tracked.status = OrderStatus.SUBMITTED if status is OrderStatus.NEW else status
        for trade_id, quantity, price in executions:
            if trade_id in tracked.trade_ids:
                continue
            tracked.trade_ids.add(trade_id)
            tracked.filled_qty += quantity
            tracked._notional += price * quantity
        tracked.quantity = max(tracked.quantity, tracked.filled_qty)
        tracked.venue_order_id = venue_order_id
        tracked.reason = reason
        tracked.updated_ns = updated_ns
        return tracked

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id

    @property
    def live(self) -> bool:
        """Recorded or sent, not ended."""
        return self.status in LIVE

    @property
    def working(self) -> bool:
        """Sent, not ended: the venue may hold it."""
        return self.status in WORKING

    @property
    def avg_fill_price(self) -> Decimal | None:
        return self._notional / self.filled_qty if self.filled_qty else None

    def apply(self, event: OrderEventKind, now_ns: int, reason: str = "") -> bool:
        """Apply a status event other than a fill; ``False`` (and counted) when refused."""
        status = next_status(self.status, event)
        if status is None:
            self.refused += 1
            return False
        self.status = status
        self.updated_ns = now_ns
        if reason:
            self.reason = reason
        return True

    def fill(self, trade_id: str, quantity: int, price: Decimal, now_ns: int) -> FillResult:
        """Count one execution of ``quantity`` units at ``price``.

        A venue executing more than :attr:`quantity` (a smaller quantity asked for too late)
        raises :attr:`quantity` to what was filled: the executions are the truth.
        """
        if trade_id in self.trade_ids:
            return FillResult.DUPLICATE
        if quantity <= 0 or not fill_kept(self.status):
            self.refused += 1
            return FillResult.REFUSED
        self.trade_ids.add(trade_id)
        self.filled_qty += quantity
        self._notional += price * quantity
        self.quantity = max(self.quantity, self.filled_qty)
        self.updated_ns = now_ns
        status = next_status(
            self.status, OrderEventKind.FILL, completes=self.filled_qty >= self.quantity
        )
        if status is None:
            return FillResult.LATE
        self.status = status
        return FillResult.APPLIED

    def view(self) -> OrderView:
        order = self.order
        return OrderView(
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            quantity=self.quantity,
            price=self.price,
            trigger_price=self.trigger_price,
            status=self.status,
            filled_qty=self.filled_qty,
            avg_fill_price=self.avg_fill_price,
            venue_order_id=self.venue_order_id,
            strategy=order.strategy,
            correlation_id=order.correlation_id,
            bracket=self.bracket,
            role=self.role,
            reason=self.reason,
            created_ns=self.created_ns,
            updated_ns=self.updated_ns,
        )
