"""A scripted venue for router tests (the broker boundary's test double), and a journal stand-in.

:class:`ScriptedVenue` implements :class:`engine.execution_client.ExecutionClient` the way its
rules say a venue must: one order per client order id (a duplicate submit is refused and the
existing order's status reported), a transport failure reported as such (never as a
rejection), every fill with an execution id. By default it accepts every order at once; a
test scripts the rest: rejections, transport errors before or after the request arrived,
acknowledgements held back, fills (partial or whole) and any event reported again.

Callbacks run on the caller's thread (the router's, for its own requests; the test's, for
``fill`` and the like), after the venue's lock is released: the relay only sends a message.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from engine.actor import Actor, handles
from engine.context import Context
from engine.execution_client import ExecutionClient, ExecutionEvents, Scheduler
from engine.messages.base import Message
from engine.messages.journal import WriteAhead, Written
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderStatusReport,
    PositionReport,
    SubmitOrder,
)

_WORKING = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})

LOSE_BEFORE = "lose_before"
"""The request never reaches the venue; a transport error is reported."""
LOSE_AFTER = "lose_after"
"""The request reaches the venue and is carried out, but its answer is lost: a transport
error is reported instead."""
HOLD = "hold"
"""(submit) The order is taken but not acknowledged until :meth:`ScriptedVenue.accept`;
(cancel) the cancel is still on its way: nothing happens, nothing is reported."""


@dataclasses.dataclass
class VenueOrder:
    order: SubmitOrder
    venue_order_id: str
    status: OrderStatus
    quantity: int
    price: Decimal | None
    trigger_price: Decimal | None
    filled: int = 0
    notional: Decimal = Decimal(0)


class ScriptedVenue(ExecutionClient):
    """A venue the test drives. Thread-safe."""

    def __init__(self, *, currency: str = "INR", fee: Decimal = Decimal("0")) -> None:
        self.name = "scripted"
        self.currency = currency
        self.fee = fee
        self._lock = threading.RLock()
        self._events: ExecutionEvents | None = None
        self._scheduler: Scheduler | None = None
        self.connects = 0
        self.orders: dict[str, VenueOrder] = {}
        self.calls: list[tuple[str, str]] = []
        """Every request as ``(operation, client_order_id)``, in arrival order."""
        self.submits: list[SubmitOrder] = []
        """Every submit call, duplicates and lost ones included."""
        self.submit_times: list[int] = []
        self.modifies: list[ModifyOrder] = []
        self.cancels: list[CancelOrder] = []
        self.queries: list[str] = []
        self.reported: list[Any] = []
        """Every event reported, in order (to report one again)."""
        self.executions: list[OrderFilled] = []
        """Every fill the venue made, reported or not (``order_fills`` lists them)."""
        self._script: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._rejections: collections.deque[str] = collections.deque()
        self._trades = 0

    # -- scripting ---------------------------------------------------------------------------

    def script(self, operation: str, *outcomes: str) -> None:
        """The next calls of ``operation`` (``submit``, ``cancel``, ``modify``, ``query``)
        meet these outcomes (:data:`LOSE_BEFORE`, :data:`LOSE_AFTER`, :data:`HOLD`), then
        the venue behaves normally again."""
        with self._lock:
            self._script[operation].extend(outcomes)

    def reject_next(self, reason: str) -> None:
        with self._lock:
            self._rejections.append(reason)

    # -- the port ----------------------------------------------------------------------------

    def connect(self, events: ExecutionEvents, scheduler: Scheduler) -> None:
        with self._lock:
            self._events = events
            self._scheduler = scheduler
            self.connects += 1

    def submit(self, order: SubmitOrder) -> None:
        out: list[tuple[str, Any]] = []
        with self._lock:
            client_order_id = order.client_order_id
            self.calls.append(("submit", client_order_id))
            self.submits.append(order)
            self.submit_times.append(self._now())
            outcome = self._next("submit")
            if outcome == LOSE_BEFORE:
                out.append(("transport", (client_order_id, "submit", "connection reset")))
            elif client_order_id in self.orders:  # one order per id: report the one there is
                out.append(("status", self._report(self.orders[client_order_id])))
            elif self._rejections:
                reason = self._rejections.popleft()
                out.append(("rejected", self._rejected(order, reason)))
            else:
                vo = VenueOrder(
                    order,
                    f"V{len(self.orders) + 1}",
                    OrderStatus.SUBMITTED if outcome == HOLD else OrderStatus.ACCEPTED,
                    order.quantity,
                    order.price,
                    order.trigger_price,
                )
                self.orders[client_order_id] = vo
                if outcome == LOSE_AFTER:
                    vo.status = OrderStatus.ACCEPTED
                    out.append(("transport", (client_order_id, "submit", "read timed out")))
                elif outcome != HOLD:
                    out.append(("accepted", self._accepted(vo)))
        self._deliver(out)

    def cancel(self, command: CancelOrder) -> None:
        out: list[tuple[str, Any]] = []
        with self._lock:
            client_order_id = command.client_order_id
            self.calls.append(("cancel", client_order_id))
            self.cancels.append(command)
            outcome = self._next("cancel")
            vo = self.orders.get(client_order_id)
            if outcome == LOSE_BEFORE:
                out.append(("transport", (client_order_id, "cancel", "connection reset")))
            elif outcome == HOLD:
                pass  # still on its way: the order works on meanwhile
            elif vo is None:
                out.append(("unknown", client_order_id))
            elif vo.status in _WORKING or vo.status is OrderStatus.SUBMITTED:
                vo.status = OrderStatus.CANCELED
                if outcome == LOSE_AFTER:
                    out.append(("transport", (client_order_id, "cancel", "read timed out")))
                else:
                    out.append(("canceled", self._canceled(vo, command.reason)))
            else:
                out.append(("status", self._report(vo)))
        self._deliver(out)

    def modify(self, command: ModifyOrder) -> None:
        out: list[tuple[str, Any]] = []
        with self._lock:
            client_order_id = command.client_order_id
            self.calls.append(("modify", client_order_id))
            self.modifies.append(command)
            outcome = self._next("modify")
            vo = self.orders.get(client_order_id)
            if outcome == LOSE_BEFORE:
                out.append(("transport", (client_order_id, "modify", "connection reset")))
            elif vo is None:
                out.append(("unknown", client_order_id))
            else:
                if vo.status in _WORKING and (
                    command.quantity is None or command.quantity > vo.filled
                ):
                    if command.quantity is not None:
                        vo.quantity = command.quantity
                    if command.price is not None:
                        vo.price = command.price
                    if command.trigger_price is not None:
                        vo.trigger_price = command.trigger_price
                if outcome == LOSE_AFTER:
                    out.append(("transport", (client_order_id, "modify", "read timed out")))
                else:
                    out.append(("status", self._report(vo)))
        self._deliver(out)

    def query_order(self, client_order_id: str) -> None:
        out: list[tuple[str, Any]] = []
        with self._lock:
            self.calls.append(("query", client_order_id))
            self.queries.append(client_order_id)
            outcome = self._next("query")
            vo = self.orders.get(client_order_id)
            if outcome == LOSE_BEFORE:
                out.append(("transport", (client_order_id, "query", "connection reset")))
            elif vo is None:
                out.append(("unknown", client_order_id))
            else:
                out.append(("status", self._report(vo)))
        self._deliver(out)

    def open_orders(self) -> Sequence[OrderStatusReport]:
        with self._lock:
            return [self._report(vo) for vo in self.orders.values() if vo.status in _WORKING]

    def positions(self) -> Sequence[PositionReport]:
        """Net units per instrument over every fill made (average price not kept: 0)."""
        with self._lock:
            held: dict[str, int] = {}
            for fill in self.executions:
                sign = 1 if fill.side is OrderSide.BUY else -1
                held[fill.instrument] = held.get(fill.instrument, 0) + sign * fill.last_qty
            now = self._now()
            return [
                PositionReport(
                    ts_event=now, ts_init=now, instrument=i, quantity=q, avg_price=Decimal(0)
                )
                for i, q in sorted(held.items())
                if q
            ]

    def order_fills(self, client_order_id: str) -> Sequence[OrderFilled]:
        with self._lock:
            return [f for f in self.executions if f.client_order_id == client_order_id]

    def disconnect(self) -> None:
        with self._lock:
            self._events = None

    # -- what the test makes the venue do ----------------------------------------------------

    def accept(self, client_order_id: str) -> None:
        with self._lock:
            vo = self.orders[client_order_id]
            vo.status = OrderStatus.ACCEPTED
            event = self._accepted(vo)
        self._deliver([("accepted", event)])

    def fill(
        self,
        client_order_id: str,
        quantity: int | None = None,
        price: Decimal | str | None = None,
        *,
        trade_id: str | None = None,
    ) -> OrderFilled:
        """Execute ``quantity`` (default: all that is left) at ``price`` (default: the
        order's limit or trigger, else 100)."""
        with self._lock:
            vo = self.orders[client_order_id]
            qty = vo.quantity - vo.filled if quantity is None else quantity
            at = Decimal(price) if price is not None else vo.price or vo.trigger_price
            at = at if at is not None else Decimal(100)
            self._trades += 1
            vo.filled += qty
            vo.notional += at * qty
            if vo.status is not OrderStatus.CANCELED:
                vo.status = (
                    OrderStatus.FILLED if vo.filled >= vo.quantity else OrderStatus.PARTIALLY_FILLED
                )
            now = self._now()
            event = OrderFilled(
                ts_event=now,
                ts_init=now,
                client_order_id=client_order_id,
                venue_order_id=vo.venue_order_id,
                trade_id=trade_id or f"T{self._trades}",
                instrument=vo.order.instrument,
                strategy="venue",
                side=vo.order.side,
                last_qty=qty,
                last_price=at,
                fee=self.fee,
                currency=self.currency,
            )
            self.executions.append(event)
        self._deliver([("filled", event)])
        return event

    def cancel_by_venue(self, client_order_id: str, reason: str = "venue canceled") -> None:
        with self._lock:
            vo = self.orders[client_order_id]
            vo.status = OrderStatus.CANCELED
            event = self._canceled(vo, reason)
        self._deliver([("canceled", event)])

    def expire(self, client_order_id: str) -> None:
        with self._lock:
            vo = self.orders[client_order_id]
            vo.status = OrderStatus.EXPIRED
            now = self._now()
            event = OrderExpired(
                ts_event=now,
                ts_init=now,
                client_order_id=client_order_id,
                venue_order_id=vo.venue_order_id,
                instrument=vo.order.instrument,
                strategy="venue",
            )
        self._deliver([("expired", event)])

    def report_again(self, event: Any) -> None:
        """Report an event once more, as a venue does after a reconnect."""
        kinds: dict[type, str] = {
            OrderAccepted: "accepted",
            OrderRejected: "rejected",
            OrderFilled: "filled",
            OrderCanceled: "canceled",
            OrderExpired: "expired",
            OrderStatusReport: "status",
        }
        kind = kinds[type(event)]
        self._deliver([(kind, event)])

    # -- views for assertions ----------------------------------------------------------------

    def submit_ids(self) -> list[str]:
        with self._lock:
            return [order.client_order_id for order in self.submits]

    def order(self, client_order_id: str) -> VenueOrder | None:
        with self._lock:
            return self.orders.get(client_order_id)

    def working(self) -> list[str]:
        with self._lock:
            return [i for i, vo in self.orders.items() if vo.status in _WORKING]

    # -- internals ---------------------------------------------------------------------------

    def _now(self) -> int:
        return self._scheduler.now_ns() if self._scheduler is not None else 0

    def _next(self, operation: str) -> str | None:
        queue = self._script[operation]
        return queue.popleft() if queue else None

    def _accepted(self, vo: VenueOrder) -> OrderAccepted:
        now = self._now()
        return OrderAccepted(
            ts_event=now,
            ts_init=now,
            client_order_id=vo.order.client_order_id,
            venue_order_id=vo.venue_order_id,
            instrument=vo.order.instrument,
            strategy="venue",
        )

    def _rejected(self, order: SubmitOrder, reason: str) -> OrderRejected:
        now = self._now()
        return OrderRejected(
            ts_event=now,
            ts_init=now,
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            strategy="venue",
            reason=reason,
        )

    def _canceled(self, vo: VenueOrder, reason: str) -> OrderCanceled:
        now = self._now()
        return OrderCanceled(
            ts_event=now,
            ts_init=now,
            client_order_id=vo.order.client_order_id,
            venue_order_id=vo.venue_order_id,
            instrument=vo.order.instrument,
            strategy="venue",
            reason=reason,
        )

    def _report(self, vo: VenueOrder) -> OrderStatusReport:
        now = self._now()
        order = vo.order
        return OrderStatusReport(
            ts_event=now,
            ts_init=now,
            client_order_id=order.client_order_id,
            venue_order_id=vo.venue_order_id,
            instrument=order.instrument,
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            status=vo.status,
            quantity=vo.quantity,
            filled_qty=vo.filled,
            price=vo.price,
            trigger_price=vo.trigger_price,
            avg_fill_price=vo.notional / vo.filled if vo.filled else None,
        )

    def _deliver(self, out: list[tuple[str, Any]]) -> None:
        events = self._events
        if events is None:
            return
        for kind, payload in out:
            if kind not in {"transport", "unknown"}:
                with self._lock:
                    self.reported.append(payload)
            if kind == "accepted":
                events.on_accepted(payload)
            elif kind == "rejected":
                events.on_rejected(payload)
            elif kind == "filled":
                events.on_filled(payload)
            elif kind == "canceled":
                events.on_canceled(payload)
            elif kind == "expired":
                events.on_expired(payload)
            elif kind == "status":
                events.on_status(payload)
            elif kind == "unknown":
                events.on_unknown_order(payload)
            else:
                events.on_transport_error(*payload)


# -- a journal stand-in -----------------------------------------------------------------------


class JournalBook:
    """What the stand-in journal received, and how it is to answer. Shared with the test."""

    def __init__(self) -> None:
        self.records: list[WriteAhead] = []
        """Every ``WriteAhead``, in arrival order."""
        self.hold = False
        """Keep answers back until :class:`ReleaseWrites`."""
        self.held: list[WriteAhead] = []
        self.fail: dict[str, int] = {}
        """Key → how many more writes of it fail."""
        self.noted: list[Message] = []
        """Records sent to be kept with nobody waiting (a close, a bracket released)."""

    def record_keys(self) -> list[str]:
        return [record.key for record in list(self.records)]


class ReleaseWrites(msgspec.Struct, frozen=True):
    """Answer what was held back (and stop holding)."""


class RecordingJournal(Actor):
    """Answers ``WriteAhead`` with ``Written`` as a journal does after its commit, and keeps
    what it got in its :class:`JournalBook`."""

    def __init__(self, book: JournalBook) -> None:
        self.book = book

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)

    @handles(WriteAhead)
    def on_write(self, write: WriteAhead) -> None:
        self.book.records.append(write)
        if self.book.hold:
            self.book.held.append(write)
        else:
            self._answer(write)

    @handles(Message)
    def on_note(self, message: Message) -> None:
        self.book.noted.append(message)

    @handles(ReleaseWrites)
    def on_release(self, _release: ReleaseWrites) -> None:
        self.book.hold = False
        held, self.book.held = self.book.held, []
        for write in held:
            self._answer(write)

    def _answer(self, write: WriteAhead) -> None:
        failures = self.book.fail.get(write.key, 0)
        if failures:
            self.book.fail[write.key] = failures - 1
            self.ctx.send(write.reply_to, Written(write.key, ok=False, error="disk I/O error"))
        else:
            self.ctx.send(write.reply_to, Written(write.key))
