"""The paper venue's state and its orders' lives: arrival, cancel, modify, expiry, reports.

:class:`PaperVenue` is the broker's inside, not thread-safe: the broker
(:mod:`adapters.paper.broker`) calls it under its lock, one step at a time, writes what the
step changed (:attr:`PaperVenue.changes`) and then lets the reports out. Fills from market
data are :mod:`adapters.paper.executions`' part.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from operator import methodcaller

import msgspec

from adapters.paper.admission import Admission, InstrumentLookup, MarketOpen, admit
from adapters.paper.book import PaperBook, PaperPosition
from adapters.paper.config import PaperBrokerConfig
from adapters.paper.executions import EntryBar, fill_in_rest_of_bar
from adapters.paper.orders import PaperOrder
from adapters.paper.outbox import Outbox, Report
from adapters.paper.store import BookChanges, StoredBook
from adapters.paper.timeline import Timeline
from engine.data_client import Scheduler
from engine.fees import FeeModel
from engine.instruments import Instrument
from engine.messages.trading import (
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderType,
    SubmitOrder,
    TimeInForce,
)

__all__ = ["PaperVenue", "SessionClose"]

SessionClose = Callable[[str, int], int | None]
"""The close (ns since the epoch, UTC) of an instrument's session on the day of a time, or
``None`` when its market does not trade that day (``MarketCalendar.session_close``)."""


class PaperVenue:
    """Orders, the book, the deferred work and the reports waiting to leave."""

    def __init__(
        self,
        config: PaperBrokerConfig,
        stored: StoredBook,
        outbox: Outbox,
        *,
        fees: FeeModel,
        instruments: InstrumentLookup | None,
        market_open: MarketOpen | None,
        session_close: SessionClose | None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.fees = fees
        self.outbox = outbox
        self.timeline = Timeline()
        self.scheduler: Scheduler | None = None
        self.changes = BookChanges()
        """What the current step changed; the broker writes it and starts a new one."""
        self.book = PaperBook(
            cash=config.starting_cash if stored.cash is None else stored.cash,
            currency=stored.currency or config.currency,
            positions={p.instrument: p for p in stored.positions},
        )
        self.order_seq, self.trade_seq = stored.order_seq, stored.trade_seq
        self.account_dirty = stored.cash is None  # a new book writes its account row at once
        self.orders = {order.client_order_id: order for order in stored.orders}
        self.working: dict[str, dict[str, PaperOrder]] = {}
        """The accepted, unfinished orders of each instrument, oldest first."""
        for order in stored.orders:  # stored oldest first: matching keeps arrival order
            if order.is_working:
                self.working.setdefault(order.instrument, {})[order.client_order_id] = order
        self.last_trade: dict[str, Decimal] = {}
        self.entry_bars: dict[str, EntryBar] = {}
        self._lookup = instruments
        self._market_open = market_open
        self._session_close = session_close
        self._ticks: dict[str, Decimal] = {}
        self._expiry_scheduled: set[str] = set()

    # -- arrival ----------------------------------------------------------------------------

    def new_order(self, command: SubmitOrder) -> PaperOrder:
        """Record a new order, SUBMITTED, with the next venue order id."""
        self.order_seq += 1
        self.account_dirty = True
        order = PaperOrder.from_command(
            command,
            venue_order_id=f"{self.name}-{self.order_seq}",
            seq=self.order_seq,
            now_ns=self.now(),
        )
        self.orders[order.client_order_id] = order
        self.touch(order)
        return order

    def activate(self, order: PaperOrder, *, silent: bool) -> None:
        """The order reaches the venue: accepted and working, or rejected. ``silent``: its
        answer is lost on the way back (a simulated transport error)."""
        if order.status is not OrderStatus.SUBMITTED:
            return
        now = self.now()
        admission = self._admit(order)
        order.ts_last = now
        self.touch(order)
        if admission.reason:
            order.status, order.reason = OrderStatus.REJECTED, admission.reason
            if not silent:
                self.report(order, methodcaller("on_rejected", self._rejected(order)))
            return
        order.status, order.ts_accepted = OrderStatus.ACCEPTED, now
        order.reserved = admission.reserved
        self.working.setdefault(order.instrument, {})[order.client_order_id] = order
        if not silent:
            accepted = OrderAccepted(
                ts_event=now,
                ts_init=now,
                client_order_id=order.client_order_id,
                venue_order_id=order.venue_order_id,
                instrument=order.instrument,
                strategy=order.strategy,
                correlation_id=order.correlation_id,
            )
            self.report(order, methodcaller("on_accepted", accepted))
        self.mark_aggressive(order)
        self.schedule_expiry(order)
        if self.config.fill_on == "bar" and order.is_stop:
            fill_in_rest_of_bar(self, order)

    def mark_aggressive(self, order: PaperOrder) -> None:
        """Tick mode: a limit order marketable against the last trade takes the next trade."""
        if order.order_type is not OrderType.LIMIT or self.config.fill_on != "tick":
            return
        last = self.last_trade.get(order.instrument)
        assert order.price is not None
        if last is not None:
            buy = order.side is OrderSide.BUY
            order.aggressive = last <= order.price if buy else last >= order.price

    def _admit(self, order: PaperOrder) -> Admission:
        return admit(
            order,
            now_ns=self.now(),
            instrument=self.instrument(order.instrument),
            known=self._lookup is not None,
            book=self.book,
            reserved_by_others=self.reserved(),
            leverage=self.config.leverage,
            check_funds=self.config.check_funds,
            fee_model=self.fees,
            market_open=self._market_open,
        )

    # -- requests on an order ------------------------------------------------------------------

    def cancel(self, order_id: str, reason: str, *, silent: bool) -> None:
        order = self._open_or_answer(order_id, silent=silent)
        if order is not None:
            self.finish(order, OrderStatus.CANCELED, reason)
            if not silent:
                self.report(order, methodcaller("on_canceled", self.canceled(order)))

    def modify(self, command: ModifyOrder, *, silent: bool) -> None:
        """Change a working order, or say why not (``on_status`` either way)."""
        order = self._open_or_answer(command.client_order_id, silent=silent)
        if order is None:
            return
        now = self.now()
        problem = _modify_problem(order, command)
        before = (order.quantity, order.price, order.trigger_price, order.reserved)
        if not problem:
            order.quantity = command.quantity or order.quantity
            order.price = command.price or order.price
            order.trigger_price = command.trigger_price or order.trigger_price
            order.reserved = Decimal(0)  # checked again as a whole, as if it arrived so
            admission = self._admit(order)
            problem, order.reserved = admission.reason, admission.reserved
        if problem:
            order.quantity, order.price, order.trigger_price, order.reserved = before
            report = msgspec.structs.replace(order.report(now), reason=f"modify refused: {problem}")
        else:
            order.ts_last = now
            self.mark_aggressive(order)
            self.touch(order)
            report = order.report(now)
        if not silent:
            self.report(order, methodcaller("on_status", report))

    def query(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is None:
            self.outbox.put(methodcaller("on_unknown_order", order_id))
        else:
            self.report(order, methodcaller("on_status", order.report(self.now())))

    def _open_or_answer(self, order_id: str, *, silent: bool) -> PaperOrder | None:
        """The open order ``order_id``; else ``None``, having answered for the venue."""
        order = self.orders.get(order_id)
        if order is not None and order.is_open:
            return order
        if not silent:
            self.query(order_id)
        return None

    # -- the end of an order ---------------------------------------------------------------

    def expire(self, order: PaperOrder) -> None:
        """A DAY order's session ended: it expires if still open."""
        if not order.is_open or order.time_in_force is not TimeInForce.DAY:
            return
        self.finish(order, OrderStatus.EXPIRED, "session closed")
        expired = OrderExpired(
            ts_event=order.ts_last,
            ts_init=order.ts_last,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            instrument=order.instrument,
            strategy=order.strategy,
            correlation_id=order.correlation_id,
        )
        self.report(order, methodcaller("on_expired", expired))

    def schedule_expiry(self, order: PaperOrder) -> None:
        """Expire a DAY order at its session's close (when the venue knows the close)."""
        close_of = self._session_close
        if close_of is None or order.time_in_force is not TimeInForce.DAY:
            return
        if order.client_order_id in self._expiry_scheduled:
            return
        close = close_of(order.instrument, order.ts_accepted or order.ts_created)
        if close is None:
            return
        self._expiry_scheduled.add(order.client_order_id)
        if close <= self.now():
            self.expire(order)
        else:
            self.timeline.defer(close, lambda: self.expire(order))

    def finish(self, order: PaperOrder, status: OrderStatus, reason: str = "") -> None:
        """``order`` is done (FILLED, CANCELED, EXPIRED): it stops working, holds nothing."""
        order.status, order.reason, order.reserved = status, reason, Decimal(0)
        order.ts_last = self.now()
        self.working.get(order.instrument, {}).pop(order.client_order_id, None)
        self._expiry_scheduled.discard(order.client_order_id)
        self.touch(order)

    # -- reports -------------------------------------------------------------------------------

    def report(self, order: PaperOrder, report: Report, delay_ns: int = 0) -> None:
        """Report about ``order``, after ``delay_ns`` and never before its earlier reports."""
        now = self.now()
        due = self.timeline.report_due(order.client_order_id, now, delay_ns)
        if due <= self.timeline.served_until(now):
            self.outbox.put(report)
        else:
            self.timeline.defer(due, functools.partial(self.outbox.put, report))

    def transport_error(self, order_id: str, operation: str) -> None:
        reason = f"simulated transport error ({self.name})"
        self.outbox.put(methodcaller("on_transport_error", order_id, operation, reason))

    def canceled(self, order: PaperOrder) -> OrderCanceled:
        return OrderCanceled(
            ts_event=order.ts_last,
            ts_init=self.now(),
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            instrument=order.instrument,
            strategy=order.strategy,
            reason=order.reason,
            correlation_id=order.correlation_id,
        )

    def _rejected(self, order: PaperOrder) -> OrderRejected:
        return OrderRejected(
            ts_event=order.ts_last,
            ts_init=self.now(),
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            strategy=order.strategy,
            reason=order.reason,
            correlation_id=order.correlation_id,
        )

    # -- bookkeeping ---------------------------------------------------------------------------

    def touch(self, order: PaperOrder) -> None:
        """``order`` changed in this step: it is written with the step."""
        self.changes.orders[order.client_order_id] = order

    def touch_position(self, position: PaperPosition) -> None:
        self.changes.positions[position.instrument] = position

    def account_row(self) -> tuple[Decimal, str, int, int]:
        return (self.book.cash, self.book.currency, self.order_seq, self.trade_seq)

    def reserved(self) -> Decimal:
        """The buying power the working orders hold."""
        return sum(
            (o.reserved for orders in self.working.values() for o in orders.values()),
            Decimal(0),
        )

    def budget(self, volume: float) -> int | None:
        """Units a trade or bar of ``volume`` may fill (participation); ``None``: no limit."""
        share = self.config.participation
        if share is None:
            return None
        # In decimals: 0.29 x 100 in floats is 28.999..., which would floor to 28.
        return int(Decimal(repr(share)) * Decimal(repr(volume)))

    def instrument(self, instrument_id: str) -> Instrument | None:
        return None if self._lookup is None else self._lookup(instrument_id)

    def tick(self, instrument_id: str) -> Decimal:
        """The instrument's tick size, or the default for one the lookup does not know."""
        tick = self._ticks.get(instrument_id)
        if tick is None:
            instrument = self.instrument(instrument_id)
            known = instrument.tick_size if instrument is not None else None
            tick = self._ticks[instrument_id] = known or self.config.default_tick_size
        return tick

    def now(self) -> int:
        if self.scheduler is None:
            raise RuntimeError(f"paper broker {self.name!r}: connect() before using it")
        return self.scheduler.now_ns()


def _modify_problem(order: PaperOrder, command: ModifyOrder) -> str:
    """Why ``command`` cannot change ``order``; empty if it can."""
    if command.quantity is not None and command.quantity <= order.filled_qty:
        return (
            f"new quantity {command.quantity} is not above the {order.filled_qty} units "
            "already filled"
        )
    priced = order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    if command.price is not None and not priced:
        return f"a {order.order_type.value} order has no limit price"
    if command.trigger_price is not None:
        if not order.is_stop:
            return f"a {order.order_type.value} order has no trigger price"
        if order.triggered:
            return "the stop has already triggered"
    return ""
