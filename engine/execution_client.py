"""The port between the order router and a venue: the paper broker or a real broker adapter.

An :class:`ExecutionClient` takes orders and reports what the venue did through
:class:`ExecutionEvents`, from whatever thread its I/O runs on (the router turns each report
into a message in its own mailbox, as the feed does for market data). Like a data client it
never reads the wall clock or sleeps: time and callbacks come from the :class:`Scheduler` it
was given, so the paper broker runs on the simulated clock in a backtest.

Rules every client keeps, because the router's safety rests on them:

* ``submit`` is keyed by ``client_order_id``. A venue that already has an order with that id
  must not create a second one (the real brokers take a client tag; the paper broker refuses a
  duplicate id and reports the existing order's status instead).
* A *transport* failure (the request may or may not have reached the venue) is reported with
  :meth:`ExecutionEvents.on_transport_error`, never as a rejection: the router then asks
  :meth:`ExecutionClient.query_order` before it would ever send again.
* A rejection is the venue's answer: the order does not exist there.
* Every fill carries the venue's execution id (``trade_id``); a fill reported twice has the
  same id, and the router and ledger count it once. A client that can list an order's
  executions (:meth:`ExecutionClient.order_fills`) gives them with the same ids, so fills
  made while the engine was down are recovered after a restart, and counted once.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from engine.data_client import Scheduler
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    PositionReport,
    SubmitOrder,
)

__all__ = ["ExecutionClient", "ExecutionEvents", "Scheduler"]


class ExecutionEvents(abc.ABC):
    """What a venue reports to its router. Callable from any thread."""

    @abc.abstractmethod
    def on_accepted(self, event: OrderAccepted) -> None: ...

    @abc.abstractmethod
    def on_rejected(self, event: OrderRejected) -> None: ...

    @abc.abstractmethod
    def on_filled(self, event: OrderFilled) -> None: ...

    @abc.abstractmethod
    def on_canceled(self, event: OrderCanceled) -> None: ...

    @abc.abstractmethod
    def on_expired(self, event: OrderExpired) -> None: ...

    @abc.abstractmethod
    def on_status(self, report: OrderStatusReport) -> None:
        """The answer to :meth:`ExecutionClient.query_order` (``report.client_order_id`` set),
        or a status the venue pushed. An order the venue does not know is reported with
        :meth:`on_unknown_order`."""

    @abc.abstractmethod
    def on_unknown_order(self, client_order_id: str) -> None:
        """The venue has no order with this id (the answer to a query)."""

    @abc.abstractmethod
    def on_transport_error(self, client_order_id: str, operation: str, reason: str) -> None:
        """A request (``operation``: ``submit``, ``cancel``, ``modify``, ``query``) may not have
        reached the venue. Never a rejection: the router asks before it acts again."""


class ExecutionClient(abc.ABC):
    """One venue account. Methods return at once; outcomes come through the events."""

    name: str
    """Names the venue in logs and events (``"paper"``, ``"zerodha"``)."""

    @abc.abstractmethod
    def connect(self, events: ExecutionEvents, scheduler: Scheduler) -> None:
        """Start reporting to ``events``; ``scheduler`` gives the time and callbacks."""

    @abc.abstractmethod
    def submit(self, order: SubmitOrder) -> None: ...

    @abc.abstractmethod
    def cancel(self, command: CancelOrder) -> None: ...

    @abc.abstractmethod
    def modify(self, command: ModifyOrder) -> None: ...

    @abc.abstractmethod
    def query_order(self, client_order_id: str) -> None:
        """Report the order's status (:meth:`ExecutionEvents.on_status`) or that the venue
        does not know it (:meth:`ExecutionEvents.on_unknown_order`)."""

    @abc.abstractmethod
    def open_orders(self) -> Sequence[OrderStatusReport]:
        """The orders working at the venue now, for reconciliation (may block briefly)."""

    @abc.abstractmethod
    def positions(self) -> Sequence[PositionReport]:
        """The venue's positions now, for reconciliation (may block briefly)."""

    def order_fills(self, client_order_id: str) -> Sequence[OrderFilled] | None:
        """The venue's executions of one order, each with its ``trade_id``, for recovering
        fills reported while the engine was not listening (after a restart); ``None`` when
        the venue cannot say (the default). May block briefly."""
        return None

    def disconnect(self) -> None:  # noqa: B027 (optional)
        """Stop reporting; idempotent."""
