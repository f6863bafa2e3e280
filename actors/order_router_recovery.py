"""The router after a process restart: its book from the journal, settled with the venue, then
compared with the venue's (DESIGN §7).

The first incarnation of a router in a new process (its
:class:`~actors.order_router_memory.RouterMemory` is new) calls ``rebuild`` (the service reads
the journal: :meth:`engine.journal.reader.JournalReader.router_rebuild`) and takes the book
back (:func:`engine.orders.rebuild.restore_book`). A router restarted within the process keeps
its memory and does none of this. Scenario → outcome:

=============================================  ==============================================
scenario                                       outcome
=============================================  ==============================================
start, ``rebuild`` given                       the journal's orders not ended and the
                                               brackets still to manage are restored; each
                                               order not ended is asked about
                                               (``query_order``), "unknown until confirmed":
                                               a bracket's exit is not moved or resized
                                               before the venue's answer
start, ``rebuild`` is ``None``                 nothing restored, nothing compared: the router
                                               takes entries at once (tests, benchmarks)
``rebuild`` raises                             ``on_start`` fails: a crash, retried with
                                               back-off (a router that cannot know its orders
                                               must not send any)
the venue has the order, not yet acknowledged   it stays sent; the acknowledgement comes as
                                               an event
the venue has the order, working               its status is adopted (``OrderAccepted`` if the
                                               journal had it as sent only), and its figures
                                               (a trailing stop's trigger is the venue's); a
                                               bracket's exit is then managed as before
the venue has it, ended                        ended as the venue says (published)
the venue filled more than the journal         the venue's executions (``order_fills``) not
recorded (fills while the engine was down, or  yet counted are taken as fills: recorded,
reported just before it stopped)               published once, the bracket told (OCO)
a restored bracket's entry filled and an exit  placed (its deterministic id); an exit the
is missing                                     journal has is never placed a second time
the venue does not know a bracket's exit the   sent again, same id (it protects a position)
journal had as recorded or sent
the venue does not know any other order        rejected locally: a decision from before the
                                               restart is not acted on late
the venue does not know an order it had         ended here as canceled, logged as an error (a
acknowledged                                   bracket's stop so lost closes at market)
the venue's answer is a transport error        asked again after the back-off
every restored order answered, and what that   the venue's open orders and positions are
set off sent and recorded
                                               compared with the router's
                                               (:func:`engine.orders.reconcile.reconcile`):
                                               a ``ReconciliationReport`` on
                                               ``reconciliation``, and on ``alerts`` if
                                               anything differs; differences are logged. An
                                               order the engine never placed is reported,
                                               never touched
reading the venue's book fails                 tried again after the retry back-off
until the comparison is done                   new entries (``SubmitBracket``, a
                                               ``SubmitOrder`` that does not reduce a
                                               position) are refused with the reason and an
                                               ``OrderRejected``; exits, cancels and modifies
                                               pass
=============================================  ==============================================

Why the router holds entries (and not risk, nor the strategies): it is the one actor every
order passes through and the one that knows when the comparison is done, so "strategies start
only after reconciliation" holds for every source of orders (strategies, the API), and a
signal refused meanwhile is published like any rejection (risk uncounts it). A refused entry is
not queued: by the time the book is settled the market has moved on.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec

from actors.order_router_memory import PendingClose, Trouble
from actors.order_router_venue import ENDED_BY_REPORT, VenueSide
from engine.actor import handles
from engine.instruments.instrument import Instrument
from engine.messages.feed import TOPIC_ALERTS
from engine.messages.orders import TOPIC_ORDERS, ClosePosition
from engine.messages.reconciliation import TOPIC_RECONCILIATION, ReconciliationReport
from engine.messages.trading import (
    OrderAccepted,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    SubmitOrder,
)
from engine.orders.describe import ReconcileNow, RouterAnswer, SettlementReport
from engine.orders.order import TrackedOrder
from engine.orders.rebuild import RouterRebuild, restore_book
from engine.orders.reconcile import reconcile
from engine.orders.state import OrderEventKind

__all__ = ["Rebuild", "ReconcileDue", "RecoverySide"]

Rebuild = Callable[[], RouterRebuild]
"""Reads the journal for the router's book (the service's, through its database)."""

InstrumentLookup = Callable[[str], Instrument | None]

_NS_PER_S = 1_000_000_000
_IN_FLIGHT = frozenset({OrderStatus.NEW, OrderStatus.SUBMITTED})
"""Orders on their way: recorded and not sent, or sent and not yet acknowledged."""
HOLD_REASON = (
    "the router is reconciling with the venue after a restart: new entries wait until the "
    "book is compared"
)


class ReconcileDue(msgspec.Struct, frozen=True):
    """The router's timer: read the venue's book again (the last attempt failed)."""

    attempt: int


class RecoverySide(VenueSide):
    """Restore, confirm, compare; see the module doc."""

    rebuild: Rebuild | None
    instruments: InstrumentLookup | None

    # -- start -------------------------------------------------------------------------------

    def restore(self) -> None:
        """Take the journal's book back (first incarnation of the process only)."""
        memory = self.memory
        if self.rebuild is None:
            memory.restored = memory.reconciled = True
            return
        data = self.rebuild()
        book = restore_book(data, lot_size=self._lot_size, tick_size=self._tick_size)
        for tracked in book.orders.values():
            memory.track(tracked)
        memory.brackets.update(book.brackets)
        memory.positions = dict(data.positions)
        for entry_id, bracket in book.brackets.items():
            if not bracket.done:
                memory.active.setdefault(bracket.entry.instrument, {})[entry_id] = None
        for instrument in list(memory.active):
            self.cap_brackets(instrument)
        for close in data.closes:
            pending = PendingClose(close, set(self._closed_by(close)))
            memory.closing.append(pending)
            memory.closes_to_resume.append(pending)
        for alert in book.alerts:
            self.ctx.log.error("restored bracket", problem=alert)
        for entry_id, bracket in book.brackets.items():
            if bracket.done:
                memory.finished.add(entry_id)
            else:
                memory.restored_brackets += 1
                if bracket.trailing is not None:
                    self.trail(bracket)
        memory.restoring = dict.fromkeys(book.live)
        for client_order_id in book.live:
            memory.trouble[client_order_id] = Trouble(operations={"query"})
        memory.restored_orders = len(book.live)
        memory.restored = True
        self.ctx.log.info(
            "router rebuilt from the journal",
            orders=len(book.orders),
            open_orders=len(book.live),
            brackets=memory.restored_brackets,
            positions=len(memory.positions),
        )

    def ask_venue(self) -> None:
        """Ask the venue about every restored order; let the restored brackets place what
        is missing (an exit never recorded is never at the venue: write-ahead)."""
        self.memory.asked = True
        for entry_id in self.memory.brackets:
            if entry_id not in self.memory.finished:
                self.dirty[entry_id] = None
        for client_order_id in list(self.memory.restoring):
            try:
                self.client.query_order(client_order_id)
            except Exception as exc:
                self.transport_error(client_order_id, "query", f"{type(exc).__name__}: {exc}")

    def rearm_reconcile(self) -> None:
        due = self.memory.reconcile_due_ns
        if due is not None:
            now = self.ctx.now_ns()
            self.ctx.schedule_once(max(due - now, 0), ReconcileDue(self.memory.reconcile_attempts))

    # -- the venue's answers about restored orders -------------------------------------------

    def restored_status(self, order: TrackedOrder, report: OrderStatusReport) -> None:
        memory = self.memory
        client_order_id = order.client_order_id
        memory.restoring.pop(client_order_id, None)
        memory.trouble.pop(client_order_id, None)
        now = self.ctx.now_ns()
        if order.venue_order_id is None:
            order.venue_order_id = report.venue_order_id
        if report.filled_qty > order.filled_qty:
            self._recover_fills(order, report)
        ended = ENDED_BY_REPORT.get(report.status)
        if ended is not None:
            self.end_by_report(order, ended, report, now)
            return
        if not order.live:
            return  # filled by the fills just recovered
        if report.filled_qty > order.filled_qty:
            self.ctx.log.error(
                "the venue filled more than the engine can count: not recovered",
                order=client_order_id,
                venue_filled=report.filled_qty,
                filled=order.filled_qty,
            )
        if report.status is OrderStatus.SUBMITTED:
            # Still on its way at the venue: its acknowledgement will come as an event.
            if order.status is not OrderStatus.SUBMITTED:
                self.ctx.log.warning(
                    "the venue has not acknowledged an order the journal had as working",
                    order=client_order_id,
                    status=order.status.value,
                )
            return
        source = order.order
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
        # The venue's figures are the order's now: the journal keeps no modifies.
        order.quantity = max(report.quantity, order.filled_qty)
        order.trigger_price = report.trigger_price
        order.price = report.price
        order.updated_ns = now
        bracket = self.bracket_of(order)
        if bracket is not None and order.role != "entry":
            bracket.confirm_leg(
                client_order_id,
                quantity=report.quantity,
                trigger=report.trigger_price,
                price=report.price,
            )
        self.ctx.log.info(
            "restored order confirmed by the venue",
            order=client_order_id,
            status=order.status.value,
            filled=order.filled_qty,
        )
        self._working(order)
        if bracket is not None:
            self.dirty[bracket.entry_id] = None

    def _recover_fills(self, order: TrackedOrder, report: OrderStatusReport) -> None:
        """Count the venue's executions of ``order`` that the journal never recorded."""
        try:
            executions = self.client.order_fills(order.client_order_id)
        except Exception as exc:
            self.ctx.log.error(
                "the venue's fills of an order could not be read",
                order=order.client_order_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            return
        if executions is None:
            self.ctx.log.error(
                "the venue filled more than the journal recorded and cannot list its fills",
                order=order.client_order_id,
                venue_filled=report.filled_qty,
                filled=order.filled_qty,
            )
            return
        for fill in executions:
            if fill.client_order_id != order.client_order_id or fill.trade_id in order.trade_ids:
                continue
            self.ctx.log.warning(
                "fill recovered from the venue after the restart",
                order=order.client_order_id,
                trade_id=fill.trade_id,
                quantity=fill.last_qty,
                price=str(fill.last_price),
            )
            self._filled(fill)

    def restored_unknown(self, order: TrackedOrder) -> None:
        memory = self.memory
        client_order_id = order.client_order_id
        memory.restoring.pop(client_order_id, None)
        memory.trouble.pop(client_order_id, None)
        if not order.live:
            return
        sent_only = order.status is OrderStatus.SUBMITTED
        if sent_only and order.bracket is not None and order.role != "entry":
            memory.trouble[client_order_id] = Trouble(operations={"submit"})
            self.ctx.log.warning(
                "a bracket's exit is not at the venue after the restart: sent again, same id",
                order=client_order_id,
            )
            memory.outbox.push(order.order)
            return
        if sent_only:
            reason = "recorded before the restart, never reached the venue: not sent late"
            self.ctx.log.warning("restored order not at the venue", order=client_order_id)
            self.reject_locally(order, reason)
            return
        # Acknowledged once, unknown now: ended here (as canceled: the state table has no
        # rejection after an acknowledgement), and logged as the venue's fault it is.
        reason = "the venue no longer knows an order it had acknowledged"
        memory.counts.unknown_events += 1
        self.ctx.log.error(reason, order=client_order_id, status=order.status.value)
        self.end_locally(order, OrderEventKind.CANCEL, reason)

    # -- comparing with the venue ------------------------------------------------------------

    def _closed_by(self, close: ClosePosition) -> list[str]:
        """The live orders a restored close waits on (and cancels): its instrument's, its
        strategy's only if it names one."""
        strategy = close.only_strategy
        return [
            order.client_order_id
            for order in self.memory.live_orders(close.orders[0].instrument)
            if strategy is None or order.order.strategy == strategy
        ]

    def _resume_closes(self) -> None:
        """Cancel again what each restored close waits on: the cancels sent before the crash
        may not have left (the venue has answered about every restored order by now)."""
        memory = self.memory
        resumed, memory.closes_to_resume = memory.closes_to_resume, []
        for pending in resumed:
            self.ctx.log.warning(
                "a close taken before the restart goes on",
                instrument=pending.instrument,
                orders=[order.client_order_id for order in pending.command.orders],
                reason=pending.command.reason,
            )
            waiting = [
                memory.orders[cid] for cid in sorted(pending.waiting) if cid in memory.orders
            ]
            for order in self.exits_first(waiting):
                if order.live and order.client_order_id not in memory.last_cancel:
                    self.cancel_order(order.client_order_id, pending.command.reason)
        self.send_closes()
        self.pump()

    def after_settle(self) -> None:
        memory = self.memory
        if memory.closes_to_resume and memory.asked and not memory.restoring:
            self._resume_closes()
        if (
            memory.restored
            and not memory.reconciled
            and not memory.restoring
            and not memory.outbox  # what the restored brackets asked has left
            and not memory.pending  # and was recorded (a recovered fill, a new exit)
            and memory.reconcile_due_ns is None
        ):
            self.reconcile_with_venue()

    @handles(ReconcileDue)
    def on_reconcile_due(self, due: ReconcileDue) -> None:
        memory = self.memory
        if memory.reconciled or due.attempt != memory.reconcile_attempts:
            return
        memory.reconcile_due_ns = None
        self.settle()

    @handles(ReconcileNow)
    def on_reconcile_now(self, _command: ReconcileNow) -> SettlementReport:
        """Shutdown's final comparison, once nothing is in flight (module doc)."""
        memory = self.memory
        now = self.ctx.now_ns()
        live = memory.live_orders(None)
        in_flight = (
            len(memory.outbox)
            + sum(len(queue) for queue in memory.pending.values())
            + sum(1 for order in live if order.status in _IN_FLIGHT)
        )
        settled = in_flight == 0 and not memory.restoring
        report: ReconciliationReport | None = None
        error = ""
        if settled:
            try:
                report = self._compare(now)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                self.ctx.log.error("final reconciliation: the venue's book not read", error=error)
            else:
                self._publish_report(report, final=True)
        return SettlementReport(
            ts_event=now,
            ts_init=now,
            settled=settled,
            in_flight=in_flight,
            open_orders=len(live),
            reconciliation=report,
            error=error,
        )

    def _compare(self, now: int) -> ReconciliationReport:
        """The book compared with the venue's now; raises what reading the venue raises."""
        memory = self.memory
        venue_orders = list(self.client.open_orders())
        venue_positions = list(self.client.positions())
        return reconcile(
            venue=self.client.name,
            orders=memory.orders,
            positions=memory.positions,
            venue_orders=venue_orders,
            venue_positions=venue_positions,
            canceling=memory.last_cancel.keys(),
            restored_orders=memory.restored_orders,
            restored_brackets=memory.restored_brackets,
            now_ns=now,
        )

    def reconcile_with_venue(self) -> None:
        """Compare the book with the venue's and publish what differs (module doc)."""
        memory = self.memory
        now = self.ctx.now_ns()
        try:
            report = self._compare(now)
        except Exception as exc:
            memory.reconcile_attempts += 1
            delay_s = self.config.retry.backoff.delay_s(
                memory.reconcile_attempts, memory.rng.random()
            )
            delay_ns = round(delay_s * _NS_PER_S)
            memory.reconcile_due_ns = now + delay_ns
            self.ctx.log.error(
                "the venue's book could not be read: reconciliation tried again",
                error=f"{type(exc).__name__}: {exc}",
                attempt=memory.reconcile_attempts,
                retry_in_ns=delay_ns,
            )
            self.ctx.schedule_once(delay_ns, ReconcileDue(memory.reconcile_attempts))
            return
        memory.reconciled = True
        self._publish_report(report, final=False)

    def _publish_report(self, report: ReconciliationReport, *, final: bool) -> None:
        self.ctx.publish(TOPIC_RECONCILIATION, report)
        if report.in_agreement:
            self.ctx.log.info(
                "final reconciliation with the venue: no differences"
                if final
                else "reconciled with the venue: no differences",
                restored_orders=report.restored_orders,
                restored_brackets=report.restored_brackets,
                venue_open_orders=report.venue_open_orders,
                venue_positions=report.venue_positions,
            )
            return
        self.ctx.publish(TOPIC_ALERTS, report)
        for difference in report.order_differences:
            self.ctx.log.error(
                "reconciliation: order differs",
                kind=difference.kind.value,
                order=difference.client_order_id,
                venue_order=difference.venue_order_id,
                instrument=difference.instrument,
                engine_status=None
                if difference.engine_status is None
                else difference.engine_status.value,
                venue_status=None
                if difference.venue_status is None
                else difference.venue_status.value,
                engine_filled=difference.engine_filled_qty,
                venue_filled=difference.venue_filled_qty,
            )
        for position in report.position_differences:
            self.ctx.log.error(
                "reconciliation: position differs",
                instrument=position.instrument,
                engine=position.engine_quantity,
                venue=position.venue_quantity,
            )

    # -- holding entries ---------------------------------------------------------------------

    def held_entry(self, order: SubmitOrder, *, entry: bool) -> RouterAnswer | None:
        """``None`` when ``order`` may go; else the refusal (published as ``OrderRejected``).
        ``entry``: a bracket's entry (always held); else held unless it reduces a position."""
        if self.memory.reconciled or (not entry and self.reduces(order)):
            return None
        now = self.ctx.now_ns()
        self.ctx.log.warning("entry refused: not reconciled yet", order=order.client_order_id)
        self.ctx.publish(
            TOPIC_ORDERS,
            OrderRejected(
                ts_event=now,
                ts_init=now,
                client_order_id=order.client_order_id,
                instrument=order.instrument,
                strategy=order.strategy,
                reason=HOLD_REASON,
                correlation_id=order.correlation_id,
            ),
        )
        return RouterAnswer(ok=False, reason=HOLD_REASON)

    # -- instruments -------------------------------------------------------------------------

    def _lot_size(self, instrument_id: str) -> int:
        instrument = self._lookup(instrument_id)
        return instrument.lot_size if instrument is not None else 1

    def _tick_size(self, instrument_id: str) -> Decimal:
        instrument = self._lookup(instrument_id)
        return instrument.tick_size if instrument is not None else self.config.default_tick_size

    def _lookup(self, instrument_id: str) -> Instrument | None:
        if self.instruments is None:
            return None
        try:
            return self.instruments(instrument_id)
        except Exception as exc:
            self.ctx.log.warning("instrument lookup failed", error=f"{type(exc).__name__}: {exc}")
            return None
