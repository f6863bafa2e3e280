"""Comparing the router's book with the venue's: pure, one function.

Called by the router once its restored orders are settled with the venue
(:mod:`actors.order_router_recovery`); the comparison itself changes nothing.

==============================================  ============================================
what is found                                   listed as
==============================================  ============================================
an order open at the venue without a client     ``UNKNOWN_TO_ENGINE`` (the engine leaves it
order id, or with one the router never had      alone)
an order open at the venue the router has       ``ENDED_IN_ENGINE``
as ended
an order both have, filled units differ         ``FILLED_QUANTITY``
an order the router has as acknowledged and     ``NOT_AT_VENUE``
working (ACCEPTED, PARTIALLY_FILLED), not
open at the venue
an order the router has as NEW or SUBMITTED,    nothing: on its way (its answer settles it)
or working with a cancel on its way
an instrument whose signed units differ         a ``PositionDifference``
(a flat side counts 0)
==============================================  ============================================
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from engine.messages.reconciliation import (
    OrderDifference,
    OrderDifferenceKind,
    PositionDifference,
    ReconciliationReport,
)
from engine.messages.trading import OrderStatus, OrderStatusReport, PositionReport
from engine.orders.order import TrackedOrder

__all__ = ["reconcile"]

_CONFIRMED = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})


def reconcile(
    *,
    venue: str,
    orders: Mapping[str, TrackedOrder],
    positions: Mapping[str, int],
    venue_orders: Sequence[OrderStatusReport],
    venue_positions: Sequence[PositionReport],
    canceling: Collection[str] = (),
    restored_orders: int = 0,
    restored_brackets: int = 0,
    now_ns: int,
) -> ReconciliationReport:
    """The differences between the router's ``orders`` and ``positions`` (signed units per
    instrument) and the venue's open orders and positions, as the module doc lists them:
    the venue's orders first (in its order), then the router's, then positions by
    instrument. ``canceling``: client order ids with a cancel on its way."""
    differences: list[OrderDifference] = []
    at_venue: set[str] = set()
    for report in venue_orders:
        client_order_id = report.client_order_id
        order = None if client_order_id is None else orders.get(client_order_id)
        if client_order_id is not None:
            at_venue.add(client_order_id)
        kind: OrderDifferenceKind | None = None
        if order is None:
            kind = OrderDifferenceKind.UNKNOWN_TO_ENGINE
        elif not order.live:
            kind = OrderDifferenceKind.ENDED_IN_ENGINE
        elif report.filled_qty != order.filled_qty:
            kind = OrderDifferenceKind.FILLED_QUANTITY
        if kind is not None:
            differences.append(
                OrderDifference(
                    kind=kind,
                    client_order_id=client_order_id,
                    venue_order_id=report.venue_order_id,
                    instrument=report.instrument,
                    engine_status=None if order is None else order.status,
                    venue_status=report.status,
                    engine_filled_qty=None if order is None else order.filled_qty,
                    venue_filled_qty=report.filled_qty,
                )
            )
    for client_order_id, order in orders.items():
        if (
            order.status in _CONFIRMED
            and client_order_id not in at_venue
            and client_order_id not in canceling
        ):
            differences.append(
                OrderDifference(
                    kind=OrderDifferenceKind.NOT_AT_VENUE,
                    client_order_id=client_order_id,
                    venue_order_id=order.venue_order_id,
                    instrument=order.order.instrument,
                    engine_status=order.status,
                    venue_status=None,
                    engine_filled_qty=order.filled_qty,
                )
            )
    venue_held: dict[str, int] = {}
    for position in venue_positions:
        venue_held[position.instrument] = venue_held.get(position.instrument, 0) + position.quantity
    position_differences = [
        PositionDifference(
            instrument=instrument,
            engine_quantity=positions.get(instrument, 0),
            venue_quantity=venue_held.get(instrument, 0),
        )
        for instrument in sorted(set(positions) | set(venue_held))
        if positions.get(instrument, 0) != venue_held.get(instrument, 0)
    ]
    return ReconciliationReport(
        ts_event=now_ns,
        ts_init=now_ns,
        venue=venue,
        restored_orders=restored_orders,
        restored_brackets=restored_brackets,
        venue_open_orders=len(venue_orders),
        venue_positions=sum(1 for q in venue_held.values() if q),
        order_differences=differences,
        position_differences=position_differences,
    )
