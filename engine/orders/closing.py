"""Closing a position without ever reversing it: what the risk supervisor asks
(:class:`ClosePosition`) and how much of it the router sends (:func:`close_allotments`).

A strategy's exit signal, the kill switch and the square-off close a position at market. The
position may be protected by a bracket's stop at the venue, and the stop may fill while the
exit is on its way (or before the supervisor, which learns positions from the ledger, heard
of it). Sending the exit for the position the supervisor last saw could then sell what the
stop already sold: a long turned short. So the router, the first to hear of every fill, does
it in two steps:

============================================  ============================================
step                                          rule
============================================  ============================================
the command arrives                           every working order of the instrument is
                                              canceled (a bracket's stop and targets, an
                                              entry's remainder) and its brackets are
                                              released; a protective stop not yet sent
                                              (its record on its way to the journal) is
                                              sent, then canceled: it is live from its
                                              entry's fill, an exit cancels it, never
                                              keeps it from the venue
every one of those orders has ended           the orders are sent for at most
(canceled, or filled meanwhile)               :func:`closable` units, the first orders
                                              first (:func:`close_allotments`); an order
                                              left with nothing to close is rejected by
                                              the router (``OrderRejected``)
``CancelAllOrders`` while it waits            its orders are canceled before they are sent
============================================  ============================================

The messages follow the catalogue's rules (a command with ``ts_event`` and ``ts_init``), so the
lead can list :class:`ClosePosition` in :mod:`engine.messages.catalogue`.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.messages.orders import ClosePosition
from engine.messages.trading import OrderSide

__all__ = ["ClosePosition", "closable", "close_allotments", "close_problems"]


def close_problems(command: ClosePosition) -> list[str]:
    """What makes ``command`` unworkable, one line each; empty when it is fine."""
    orders = command.orders
    if not orders:
        return ["a ClosePosition needs at least one order"]
    problems: list[str] = []
    instruments = sorted({order.instrument for order in orders})
    if len(instruments) > 1:
        problems.append(f"the orders are of several instruments: {', '.join(instruments)}")
    sides = sorted({order.side.value for order in orders})
    if len(sides) > 1:
        problems.append(f"the orders are on both sides: {', '.join(sides)}")
    ids = [order.client_order_id for order in orders]
    if len(set(ids)) != len(ids):
        problems.append(f"the orders repeat a client order id: {', '.join(ids)}")
    return problems


def closable(position: int, side: OrderSide, working_on_side: int) -> int:
    """Units an order on ``side`` may still close of a signed ``position`` (> 0 long): the
    position on the other side, less ``working_on_side``, the units of the instrument's
    working orders on ``side`` (they close it first); never below 0."""
    held = position if side is OrderSide.SELL else -position
    return max(0, held - max(working_on_side, 0))


def close_allotments(quantities: Sequence[int], units: int) -> list[int]:
    """Units each order of ``quantities`` sends when ``units`` may be closed in all: the first
    orders first, each at most its own quantity; 0 for an order with nothing left."""
    left = max(units, 0)
    allotted: list[int] = []
    for quantity in quantities:
        take = min(quantity, left)
        allotted.append(take)
        left -= take
    return allotted
