"""What the journal's readers return besides catalogue messages: an order and where it stands,
a command and its outcome, an audit entry. msgspec structs, so the web API encodes them as
they are (Decimals as strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from engine.messages.trading import OrderStatus, SubmitOrder


class JournaledOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as sent and where it stands after the events recorded so far."""

    order: SubmitOrder
    """The order as it was sent (for a bracket, its entry)."""
    status: OrderStatus
    filled_qty: int
    avg_price: Decimal | None
    """Average price of the fills (28 significant digits); ``None`` before the first."""
    fees: Decimal
    """Sum of the fills' fees, in their currency."""
    venue_order_id: str | None
    reason: str | None
    """The last rejection or cancellation reason."""
    ts_created: int
    ts_updated: int

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id

    @property
    def open(self) -> bool:
        """Whether the order may still fill (NEW, SUBMITTED, ACCEPTED, PARTIALLY_FILLED)."""
        return self.status in OPEN_STATUSES


OPEN_STATUSES = frozenset(
    {
        OrderStatus.NEW,
        OrderStatus.SUBMITTED,
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
    }
)
"""An order in one of these may still fill."""


class CommandEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded command and, once known, its outcome."""

    command_id: str
    kind: str
    who: str
    body: Any
    """The body as JSON values (a message keeps its ``"type"`` tag)."""
    ts_event: int
    outcome: str | None
    ts_outcome: int | None


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    message: str
    detail: Any
    """JSON values; for a message recorded as an audit event, the message's fields."""
    ts_event: int
