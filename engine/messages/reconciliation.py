"""The engine's record against the venue's: what a reconciliation found.

After a process restart the order router rebuilds its book from the journal, asks the venue
about every order it had not seen end, and then compares the venue's open orders and positions
with its own (DESIGN §7). The outcome is one :class:`ReconciliationReport` on
:data:`TOPIC_RECONCILIATION`, also on ``alerts`` when anything differs. Nothing the venue holds
that the engine did not place is touched: it is reported.
"""

from __future__ import annotations

import enum

import msgspec

from engine.messages.base import Report
from engine.messages.trading import OrderStatus

TOPIC_RECONCILIATION = "reconciliation"
"""Every ``ReconciliationReport``."""


class OrderDifferenceKind(enum.Enum):
    """How an order differs between the engine and the venue."""

    UNKNOWN_TO_ENGINE = "unknown_to_engine"
    """Open at the venue, never placed by the engine (no client order id, or one the engine
    has no record of): left alone."""
    ENDED_IN_ENGINE = "ended_in_engine"
    """Open at the venue, ended in the engine's book."""
    NOT_AT_VENUE = "not_at_venue"
    """Working in the engine's book (acknowledged), not open at the venue."""
    FILLED_QUANTITY = "filled_quantity"
    """Both have it; the venue reports other filled units than the engine counted."""


class OrderDifference(msgspec.Struct, frozen=True, kw_only=True):
    """One order the engine and the venue disagree about."""

    kind: OrderDifferenceKind
    client_order_id: str | None
    venue_order_id: str | None
    instrument: str
    engine_status: OrderStatus | None
    """``None``: the engine has no record of it."""
    venue_status: OrderStatus | None
    """``None``: not open at the venue."""
    engine_filled_qty: int | None = None
    venue_filled_qty: int | None = None


class PositionDifference(msgspec.Struct, frozen=True, kw_only=True):
    """An instrument whose position differs: signed units, > 0 long."""

    instrument: str
    engine_quantity: int
    venue_quantity: int


class ReconciliationReport(Report, frozen=True, kw_only=True):
    """What comparing the engine's orders and positions with the venue's found."""

    venue: str
    """The execution client's name (``"paper"``)."""
    restored_orders: int
    """Orders rebuilt from the journal that had not ended, asked about at the venue."""
    restored_brackets: int
    venue_open_orders: int
    """Orders open at the venue when compared."""
    venue_positions: int
    """Instruments with a position at the venue when compared."""
    order_differences: list[OrderDifference] = msgspec.field(default_factory=list)
    position_differences: list[PositionDifference] = msgspec.field(default_factory=list)

    @property
    def in_agreement(self) -> bool:
        """No differences: the engine's book is the venue's."""
        return not self.order_differences and not self.position_differences
