"""The bridge from an execution client's thread to the order router's mailbox, and the
router's own messages.

An :class:`~engine.execution_client.ExecutionClient` reports from whatever thread its I/O runs
on. The :class:`VenueRelay` it is given turns each report into one message sent to the
router's own name through the runtime's thread-safe ``send``, and does nothing else: the
router's state is only touched by the router, one message at a time (as the feed's relay does
for market data).

The relay is addressed by name, not by incarnation: a report that arrives while the router
restarts waits in its mailbox for the next incarnation, which keeps the same book. These
messages are the router's private business (not in the catalogue): a venue's word is not yet
checked against the order's state, so it must not look like a published order event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from engine.data_client import Scheduler
from engine.execution_client import ExecutionEvents
from engine.messages.trading import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
)

__all__ = [
    "EntryTimeoutDue",
    "JournalRetryDue",
    "QueryDue",
    "RateLimitDue",
    "RouterRuntime",
    "TimeStopDue",
    "VenueRelay",
    "VenueReported",
    "VenueTransportError",
    "VenueUnknownOrder",
]


class RouterRuntime(Scheduler, Protocol):
    """What the router needs from its runtime besides its context: the clock and callbacks
    for its client, and a ``send`` any thread may call. Both runtimes qualify."""

    def send(self, target: str, message: Any) -> None: ...


class VenueReported(msgspec.Struct, frozen=True):
    """An order event or status report as the venue sent it (unchecked)."""

    event: Any


class VenueUnknownOrder(msgspec.Struct, frozen=True):
    """The venue has no order with this id (its answer to a query)."""

    client_order_id: str


class VenueTransportError(msgspec.Struct, frozen=True):
    """A request may not have reached the venue."""

    client_order_id: str
    operation: str
    reason: str


class RateLimitDue(msgspec.Struct, frozen=True):
    """The router's timer: a token is there for the next queued request."""


class QueryDue(msgspec.Struct, frozen=True):
    """The router's timer: ask the venue about an order after a transport error."""

    client_order_id: str
    attempt: int
    """Which transport error in a row this answers; a stale timer is ignored."""


class EntryTimeoutDue(msgspec.Struct, frozen=True):
    """The router's timer: cancel what is left of a bracket's entry."""

    entry_id: str


class TimeStopDue(msgspec.Struct, frozen=True):
    """The router's timer: close a bracket's position at market."""

    entry_id: str


class JournalRetryDue(msgspec.Struct, frozen=True):
    """The router's timer: record a fill again after the journal failed to."""

    key: str


class OrderWriteRetryDue(msgspec.Struct, frozen=True):
    """The router's timer: record an exit order again after the journal failed to (an exit
    is held and retried, never refused, while the journal cannot write)."""

    client_order_id: str


class VenueRelay(ExecutionEvents):
    """The events a router hands its client. Callable from any thread; never raises into
    the client."""

    __slots__ = ("_router", "_send")

    def __init__(self, send: Callable[[str, Any], None], router: str) -> None:
        self._send = send
        self._router = router

    def on_accepted(self, event: OrderAccepted) -> None:
        self._send(self._router, VenueReported(event))

    def on_rejected(self, event: OrderRejected) -> None:
        self._send(self._router, VenueReported(event))

    def on_filled(self, event: OrderFilled) -> None:
        self._send(self._router, VenueReported(event))

    def on_canceled(self, event: OrderCanceled) -> None:
        self._send(self._router, VenueReported(event))

    def on_expired(self, event: OrderExpired) -> None:
        self._send(self._router, VenueReported(event))

    def on_status(self, report: OrderStatusReport) -> None:
        self._send(self._router, VenueReported(report))

    def on_unknown_order(self, client_order_id: str) -> None:
        self._send(self._router, VenueUnknownOrder(str(client_order_id)))

    def on_transport_error(self, client_order_id: str, operation: str, reason: str) -> None:
        self._send(
            self._router,
            VenueTransportError(str(client_order_id), str(operation), str(reason)),
        )
