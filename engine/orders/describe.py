"""What the order router answers: to an order command, and to ``DescribeOrders``.

``DescribeOrders`` / ``OrdersReport`` serve ``GET /api/v1/orders``; they follow the catalogue's
rules (a command, a report, both with ``ts_event`` and ``ts_init``) so the lead can list them
in :mod:`engine.messages.catalogue`. :class:`RouterAnswer` is the reply to an ``ask`` with an
order command; a router never raises at a caller: a refusal is ``ok=False`` with the reason.
"""

from __future__ import annotations

import msgspec

from engine.messages.base import Command, Report
from engine.messages.reconciliation import ReconciliationReport
from engine.orders.order import OrderView

__all__ = [
    "DescribeOrders",
    "OrdersReport",
    "ReconcileNow",
    "RouterAnswer",
    "RouterCounts",
    "SettlementReport",
]


class DescribeOrders(Command, frozen=True, kw_only=True):
    """Ask the order router for its orders (newest first)."""

    instrument: str | None = None
    """Only this instrument's orders; ``None``: all."""
    open_only: bool = False
    """Only orders not ended (new, submitted, accepted, partially filled)."""
    limit: int | None = None
    """At most this many (the newest); ``None``: all the router remembers."""


class ReconcileNow(Command, frozen=True, kw_only=True):
    """Shutdown's last step with the venue (DESIGN §9): once nothing is in flight (no request
    waiting for the rate limit or the journal, no order sent and not yet acknowledged), compare
    the book with the venue's and publish the report. Answered with a
    :class:`SettlementReport`; ask again while ``settled`` is false."""


class SettlementReport(Report, frozen=True, kw_only=True):
    settled: bool
    """Nothing was in flight: the comparison was made (``reconciliation``)."""
    in_flight: int
    """Requests still waiting for the rate limit or the journal, and orders sent but not
    yet acknowledged by the venue."""
    open_orders: int
    """Orders left working at the venue (a bracket's stop protects its position overnight;
    shutdown never cancels them)."""
    reconciliation: ReconciliationReport | None = None
    """The comparison, once ``settled`` (``None`` if the venue's book could not be read)."""
    error: str = ""


class RouterCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What the router counted since the process started."""

    orders: int
    """Orders it has a record of."""
    open_orders: int
    brackets_active: int
    queued: int
    """Requests waiting for the rate limit."""
    refused_events: int
    """Venue events that did not fit the order's state (late or duplicated): ignored."""
    duplicate_fills: int
    """Fills reported again with a ``trade_id`` already counted: ignored."""
    duplicate_submits: int
    """Orders submitted again with a known client order id: answered, not sent."""
    unknown_events: int
    """Venue events about orders the router has no record of."""
    transport_errors: int
    resends: int
    """Orders sent again after the venue said it did not have them."""
    journal_failures: int


class OrdersReport(Report, frozen=True, kw_only=True):
    orders: list[OrderView]
    counts: RouterCounts


class RouterAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The router's reply to ``SubmitOrder``, ``SubmitBracket``, ``CancelOrder``,
    ``ModifyOrder``, ``CancelAllOrders`` and ``ClosePosition``."""

    ok: bool
    """Taken on (``False``: refused, nothing was done; ``reason`` says why)."""
    reason: str = ""
    order: OrderView | None = None
    """The order the command concerns, as it stands after the command."""
    duplicate: bool = False
    """The client order id was known: the answer describes the existing order and nothing
    was sent."""
    canceled: list[str] = msgspec.field(default_factory=list)
    """``CancelAllOrders``: the client order ids being canceled; ``ClosePosition``: those
    its orders wait on (canceled, or sent then canceled for a stop on its way)."""
