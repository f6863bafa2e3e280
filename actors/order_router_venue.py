"""The venue's side of the router: its events, its status answers, and transport errors.

Every report comes through :class:`~actors.order_router_relay.VenueRelay` as a message in the
router's own mailbox and is checked against the order's state
(:mod:`engine.orders.state`) before anything changes or is published. Scenario → outcome:

===========================================  =================================================
scenario                                     outcome
===========================================  =================================================
an event that fits                           the order moves; the event is published on
                                             ``orders`` with the order's strategy and
                                             correlation id; the order's bracket is told
an event that does not fit (an accept after  nothing changes; counted (``refused_events``)
a fill, a cancel after the end)              and logged
a fill reported again (same ``trade_id``)    nothing changes; counted (``duplicate_fills``)
a new fill                                   counted into the order and the router's net
                                             position, recorded (write-ahead,
                                             keyed by the trade id), published on ``orders``,
                                             ``fills`` and ``fills:<instrument>`` once
                                             recorded
an event about an order the router has no    counted (``unknown_events``), logged; a fill of
record of                                    such an order is not published (the reconciler
                                             compares positions with the venue)
a transport error                            the venue is asked about the order after the
                                             retry back-off (``QueryDue``); nothing is sent
                                             again before the answer
the answer: the venue has the order          its status is adopted (working: accepted; ended:
                                             canceled, expired, rejected; fills come as
                                             fills); a cancel or modify whose fate was
                                             unknown is sent again
the answer: the venue does not know it       sent again with the same id (up to
                                             ``retry.max_resends``, then rejected locally); an
                                             order meant to be canceled is canceled here
an answer about an order restored after a    the recovery side's
restart, not yet confirmed                   (:mod:`actors.order_router_recovery`)
===========================================  =================================================
"""

from __future__ import annotations

from actors.order_router_closing import ClosingDesk
from actors.order_router_desk import replace_ids
from actors.order_router_memory import Trouble
from actors.order_router_relay import (
    JournalRetryDue,
    QueryDue,
    VenueReported,
    VenueTransportError,
    VenueUnknownOrder,
)
from engine.actor import handles
from engine.messages.orders import TOPIC_ORDERS
from engine.messages.trading import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
)
from engine.orders.order import FillResult, TrackedOrder
from engine.orders.rebuild import signed
from engine.orders.state import OrderEventKind

__all__ = ["ENDED_BY_REPORT", "VenueSide"]

_NS_PER_S = 1_000_000_000

ENDED_BY_REPORT = {
    OrderStatus.CANCELED: OrderEventKind.CANCEL,
    OrderStatus.EXPIRED: OrderEventKind.EXPIRE,
    OrderStatus.REJECTED: OrderEventKind.REJECT,
}
_ARRIVAL_ONLY = frozenset({"submit", "query"})


class VenueSide(ClosingDesk):
    """Venue events and transport errors; see the module doc."""

    # -- events ------------------------------------------------------------------------------

    @handles(VenueReported)
    def on_venue(self, reported: VenueReported) -> None:
        event = reported.event
        if isinstance(event, OrderFilled):
            self._filled(event)
        elif isinstance(event, OrderAccepted):
            self._accepted(event)
        elif isinstance(event, OrderCanceled):
            self._ended(event, OrderEventKind.CANCEL, event.reason, event.venue_order_id)
        elif isinstance(event, OrderExpired):
            self._ended(event, OrderEventKind.EXPIRE, "expired", event.venue_order_id)
        elif isinstance(event, OrderRejected):
            self._ended(event, OrderEventKind.REJECT, event.reason, None)
        elif isinstance(event, OrderStatusReport):
            self._status(event)
        else:
            self.memory.counts.unknown_events += 1
            self.ctx.log.warning("venue reported something else", kind=type(event).__name__)
        self.settle()

    def _known(self, client_order_id: str, what: str) -> TrackedOrder | None:
        order = self.memory.orders.get(client_order_id)
        if order is None:
            self.memory.counts.unknown_events += 1
            self.ctx.log.warning(
                "venue event for an order the router has no record of",
                order=client_order_id,
                kind=what,
            )
        return order

    def _refused(self, order: TrackedOrder, what: str) -> None:
        self.memory.counts.refused_events += 1
        self.ctx.log.info(
            "venue event ignored: it does not fit the order's state",
            order=order.client_order_id,
            kind=what,
            status=order.status.value,
        )

    def _accepted(self, event: OrderAccepted) -> None:
        order = self._known(event.client_order_id, "accepted")
        if order is None:
            return
        self._arrived(order)
        now = self.ctx.now_ns()
        if not order.apply(OrderEventKind.ACCEPT, now):
            self._refused(order, "accepted")
            return
        order.venue_order_id = event.venue_order_id
        self.ctx.publish(TOPIC_ORDERS, replace_ids(event, order, now))
        self._working(order)

    def _ended(
        self,
        event: OrderCanceled | OrderExpired | OrderRejected,
        kind: OrderEventKind,
        reason: str,
        venue_order_id: str | None,
    ) -> None:
        order = self._known(event.client_order_id, kind.value)
        if order is None:
            return
        now = self.ctx.now_ns()
        if not order.apply(kind, now, reason):
            self._refused(order, kind.value)
            return
        if order.venue_order_id is None:
            order.venue_order_id = venue_order_id
        self.ctx.publish(TOPIC_ORDERS, replace_ids(event, order, now))
        self.order_ended(order)

    def _filled(self, event: OrderFilled) -> None:
        order = self._known(event.client_order_id, "filled")
        if order is None:
            self.ctx.log.error(
                "fill of an unknown order: not published (reconciliation compares positions)",
                order=event.client_order_id,
                trade_id=event.trade_id,
            )
            return
        now = self.ctx.now_ns()
        result = order.fill(event.trade_id, event.last_qty, event.last_price, now)
        if result is FillResult.DUPLICATE:
            self.memory.counts.duplicate_fills += 1
            self.ctx.log.info("fill reported again: ignored", trade_id=event.trade_id)
            return
        if result is FillResult.REFUSED:
            self.memory.counts.refused_events += 1
            self.ctx.log.error(
                "fill refused: it contradicts the order's state",
                order=order.client_order_id,
                trade_id=event.trade_id,
                status=order.status.value,
                quantity=event.last_qty,
            )
            return
        if result is FillResult.LATE:
            self.ctx.log.warning(
                "fill after the order ended: counted",
                order=order.client_order_id,
                trade_id=event.trade_id,
                status=order.status.value,
            )
        if order.venue_order_id is None:
            order.venue_order_id = event.venue_order_id
        self._arrived(order)
        positions = self.memory.positions
        held = positions.get(event.instrument, 0) + signed(event)
        if held:
            positions[event.instrument] = held
        else:
            positions.pop(event.instrument, None)
        fill = replace_ids(event, order, now)
        self.write(event.trade_id, fill, fill)
        bracket = self.bracket_of(order)
        if bracket is not None:
            if order.role == "entry":
                bracket.entry_fill(event.last_qty, event.last_price, now)
            else:
                bracket.leg_fill(order.client_order_id, event.last_qty)
            self.dirty[bracket.entry_id] = None
        self.cap_brackets(event.instrument)
        if result is FillResult.APPLIED and order.status is OrderStatus.FILLED:
            self.order_ended(order)

    def _working(self, order: TrackedOrder) -> None:
        bracket = self.bracket_of(order)
        if bracket is not None and order.role != "entry":
            bracket.leg_working(order.client_order_id)
            self.dirty[bracket.entry_id] = None

    def _arrived(self, order: TrackedOrder) -> None:
        """The venue has the order: a doubt about its submission is settled."""
        trouble = self.memory.trouble.get(order.client_order_id)
        if trouble is not None and trouble.operations <= _ARRIVAL_ONLY:
            del self.memory.trouble[order.client_order_id]

    # -- status answers ----------------------------------------------------------------------

    def _status(self, report: OrderStatusReport) -> None:
        client_order_id = report.client_order_id
        if client_order_id is None:
            self.memory.counts.unknown_events += 1
            self.ctx.log.info("status of an order not placed by the engine", report=report)
            return
        order = self._known(client_order_id, "status")
        if order is None or order.status is OrderStatus.NEW:
            return
        if client_order_id in self.memory.restoring:
            self.restored_status(order, report)
            return
        trouble = self.memory.trouble.pop(client_order_id, None)
        now = self.ctx.now_ns()
        source = order.order
        ended = ENDED_BY_REPORT.get(report.status)
        if ended is not None:
            self.end_by_report(order, ended, report, now)
            return
        # Working or filled there: the fills themselves come as fills, with their trade ids.
        if order.venue_order_id is None:
            order.venue_order_id = report.venue_order_id
        if order.apply(OrderEventKind.ACCEPT, now):
            self.ctx.publish(
                TOPIC_ORDERS,
                OrderAccepted(
                    ts_event=report.ts_event,
                    ts_init=now,
                    client_order_id=client_order_id,
                    venue_order_id=report.venue_order_id,
                    instrument=source.instrument,
                    strategy=source.strategy,
                    correlation_id=source.correlation_id,
                ),
            )
            self._working(order)
        if order.working and (report.quantity, report.trigger_price, report.price) != (
            order.quantity,
            order.trigger_price,
            order.price,
        ):
            # A modify the venue refused, or one still on its way: the venue's word is
            # logged; the order keeps what the router asked (a bracket does not re-send).
            self.ctx.log.info(
                "venue reports other figures than last asked",
                order=client_order_id,
                venue_quantity=report.quantity,
                venue_trigger=str(report.trigger_price),
                venue_price=str(report.price),
                quantity=order.quantity,
            )
        if trouble is not None and order.working:
            # The venue has the order: a cancel or modify whose fate was unknown goes again
            # (both are idempotent: a modify carries totals, a cancel of a canceled order
            # changes nothing).
            cancel = self.memory.last_cancel.get(client_order_id)
            if "cancel" in trouble.operations and cancel is not None:
                self.memory.outbox.push(cancel)
            modify = self.memory.last_modify.get(client_order_id)
            if "modify" in trouble.operations and modify is not None:
                self.memory.outbox.push(modify)

    def end_by_report(
        self,
        order: TrackedOrder,
        kind: OrderEventKind,
        report: OrderStatusReport,
        now: int,
    ) -> None:
        if not order.apply(kind, now, report.reason or ""):
            return  # already ended: a report is state, not news
        source = order.order
        event: OrderCanceled | OrderExpired | OrderRejected
        if kind is OrderEventKind.CANCEL:
            event = OrderCanceled(
                ts_event=report.ts_event,
                ts_init=now,
                client_order_id=source.client_order_id,
                venue_order_id=report.venue_order_id,
                instrument=source.instrument,
                strategy=source.strategy,
                reason=report.reason or "",
                correlation_id=source.correlation_id,
            )
        elif kind is OrderEventKind.EXPIRE:
            event = OrderExpired(
                ts_event=report.ts_event,
                ts_init=now,
                client_order_id=source.client_order_id,
                venue_order_id=report.venue_order_id,
                instrument=source.instrument,
                strategy=source.strategy,
                correlation_id=source.correlation_id,
            )
        else:
            event = OrderRejected(
                ts_event=report.ts_event,
                ts_init=now,
                client_order_id=source.client_order_id,
                instrument=source.instrument,
                strategy=source.strategy,
                reason=report.reason or "rejected",
                correlation_id=source.correlation_id,
            )
        if order.venue_order_id is None:
            order.venue_order_id = report.venue_order_id
        self.ctx.publish(TOPIC_ORDERS, event)
        self.order_ended(order)

    @handles(VenueUnknownOrder)
    def on_unknown(self, answer: VenueUnknownOrder) -> None:
        client_order_id = answer.client_order_id
        order = self._known(client_order_id, "unknown order")
        if order is not None and client_order_id in self.memory.restoring:
            self.restored_unknown(order)
            self.settle()
            return
        trouble = self.memory.trouble.get(client_order_id)
        if order is None or trouble is None or not order.live:
            self.settle()
            return
        if order.status is not OrderStatus.SUBMITTED:
            del self.memory.trouble[client_order_id]
            self.memory.counts.unknown_events += 1
            self.ctx.log.error(
                "the venue does not know an order it acknowledged",
                order=client_order_id,
                status=order.status.value,
            )
        elif client_order_id in self.memory.last_cancel:
            del self.memory.trouble[client_order_id]
            self.end_locally(order, OrderEventKind.CANCEL, "canceled before it reached the venue")
        elif trouble.resends < self.config.retry.max_resends:
            trouble.resends += 1
            trouble.operations = {"submit"}
            trouble.due_ns = None
            self.ctx.log.warning(
                "the venue does not have the order: sending it again, same id",
                order=client_order_id,
                resend=trouble.resends,
            )
            self.memory.outbox.push(order.order)
        else:
            del self.memory.trouble[client_order_id]
            self.reject_locally(
                order, f"the venue does not know the order after {trouble.resends} re-sends"
            )
        self.settle()

    def restored_status(self, order: TrackedOrder, report: OrderStatusReport) -> None:
        raise NotImplementedError  # the recovery side's (actors.order_router_recovery)

    def restored_unknown(self, order: TrackedOrder) -> None:
        raise NotImplementedError  # the recovery side's (actors.order_router_recovery)

    # -- transport errors --------------------------------------------------------------------

    @handles(VenueTransportError)
    def on_transport_error(self, error: VenueTransportError) -> None:
        self.transport_error(error.client_order_id, error.operation, error.reason)
        self.settle()

    def transport_error(self, client_order_id: str, operation: str, reason: str) -> None:
        """Ask the venue about the order after the back-off; send nothing before."""
        memory = self.memory
        memory.counts.transport_errors += 1
        order = memory.orders.get(client_order_id)
        if order is None or not order.live:
            self.ctx.log.warning(
                "transport error about no live order", order=client_order_id, reason=reason
            )
            return
        trouble = memory.trouble.setdefault(client_order_id, Trouble())
        trouble.attempt += 1
        trouble.operations.add(operation)
        delay_s = self.config.retry.backoff.delay_s(trouble.attempt, memory.rng.random())
        delay_ns = round(delay_s * _NS_PER_S)
        trouble.due_ns = self.ctx.now_ns() + delay_ns
        self.ctx.log.warning(
            "transport error: asking the venue before anything else",
            order=client_order_id,
            operation=operation,
            reason=reason,
            attempt=trouble.attempt,
            query_in_ns=delay_ns,
        )
        self.ctx.schedule_once(delay_ns, QueryDue(client_order_id, trouble.attempt))

    @handles(QueryDue)
    def on_query_due(self, due: QueryDue) -> None:
        trouble = self.memory.trouble.get(due.client_order_id)
        if trouble is None or trouble.attempt != due.attempt or trouble.due_ns is None:
            return
        trouble.due_ns = None
        try:
            self.client.query_order(due.client_order_id)
        except Exception as exc:
            self.transport_error(due.client_order_id, "query", f"{type(exc).__name__}: {exc}")
        self.settle()

    def rearm_retries(self) -> None:
        """Set again the queries and journal retries a previous incarnation had set."""
        now = self.ctx.now_ns()
        for client_order_id, trouble in self.memory.trouble.items():
            if trouble.due_ns is not None:
                self.ctx.schedule_once(
                    max(trouble.due_ns - now, 0), QueryDue(client_order_id, trouble.attempt)
                )
        for trade_id, retry in self.memory.fill_retries.items():
            if retry.due_ns is not None:
                self.ctx.schedule_once(max(retry.due_ns - now, 0), JournalRetryDue(trade_id))
