"""An order as the paper broker keeps it, and the report it gives of it.

A :class:`PaperOrder` is mutable and belongs to the broker, which changes it only under its
lock. Money and prices are ``Decimal`` in the instrument's currency; quantities ``int`` units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.messages.trading import (
    OrderSide,
    OrderStatus,
    OrderStatusReport,
    OrderType,
    SubmitOrder,
    TimeInForce,
)

__all__ = ["OPEN_STATUSES", "PaperOrder"]

OPEN_STATUSES = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED}
)
"""Statuses of an order that may still fill (SUBMITTED: on its way, see the ack latency)."""

_AVG_PLACES = Decimal("0.00000001")


@dataclass(slots=True)
class PaperOrder:
    """One order at the paper venue, from its submission to its end."""

    client_order_id: str
    venue_order_id: str
    seq: int
    """Arrival order at the venue; orders are matched oldest first."""
    instrument: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: int
    price: Decimal | None
    trigger_price: Decimal | None
    strategy: str
    correlation_id: str
    status: OrderStatus = OrderStatus.SUBMITTED
    filled_qty: int = 0
    turnover: Decimal = Decimal(0)
    """Sum of quantity x price over the fills so far."""
    fees_charged: Decimal = Decimal("0.00")
    """Sum of the fees of the fills so far."""
    first_fill_ns: int | None = None
    """When the first fill executed: the order's fees use the rates in force then."""
    triggered: bool = False
    """A stop order whose trigger was reached (a stop-limit now works as a limit)."""
    aggressive: bool = False
    """Tick mode: a limit order that was marketable when it arrived takes the next trade's
    price; once a trade has passed it rests at its limit."""
    reserved: Decimal = Decimal(0)
    """Buying power held for the part of the order that would add exposure."""
    reason: str = ""
    ts_created: int = 0
    ts_accepted: int | None = None
    """When the venue accepted it; in bar mode only bars that open at or after this fill it."""
    ts_last: int = 0

    @classmethod
    def from_command(
        cls, order: SubmitOrder, *, venue_order_id: str, seq: int, now_ns: int
    ) -> PaperOrder:
        return cls(
            client_order_id=order.client_order_id,
            venue_order_id=venue_order_id,
            seq=seq,
            instrument=order.instrument,
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            quantity=order.quantity,
            price=order.price,
            trigger_price=order.trigger_price,
            strategy=order.strategy,
            correlation_id=order.correlation_id,
            ts_created=now_ns,
            ts_last=now_ns,
        )

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_working(self) -> bool:
        """Accepted and not done: market data may fill it."""
        return self.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)

    @property
    def is_stop(self) -> bool:
        return self.order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)

    @property
    def avg_fill_price(self) -> Decimal | None:
        if self.filled_qty == 0:
            return None
        average = self.turnover / self.filled_qty
        rounded = average.quantize(_AVG_PLACES)
        # An exact average keeps its own places (500.05); a repeating one is cut at 8.
        return average if average == rounded else rounded

    def report(self, now_ns: int) -> OrderStatusReport:
        """The order as the venue reports it (``ts_event``: its last change)."""
        return OrderStatusReport(
            ts_event=self.ts_last,
            ts_init=now_ns,
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            instrument=self.instrument,
            side=self.side,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            status=self.status,
            quantity=self.quantity,
            filled_qty=self.filled_qty,
            price=self.price,
            trigger_price=self.trigger_price,
            avg_fill_price=self.avg_fill_price,
            reason=self.reason or None,
        )
