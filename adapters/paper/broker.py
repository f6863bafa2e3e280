"""The paper broker: a simulated venue behind the :class:`~engine.execution_client.ExecutionClient`
port, filling orders from the market data it is shown and keeping its own book on disk.

It learns prices through :meth:`PaperBroker.on_trade`, :meth:`~PaperBroker.on_quote` and
:meth:`~PaperBroker.on_bar` (the service feeds it from the runtime's market-data topics), which
may be called from other threads than ``submit`` and ``cancel``: the state is guarded by one
lock, every change is written to the broker's own database before it is reported, and reports
leave outside the lock in the order they were made (:mod:`adapters.paper.outbox`). Time and
callbacks come only from the :class:`~engine.data_client.Scheduler` given to ``connect``, and
ids from counters kept in the book, so a run on the simulated runtime is the same every time.

The fill rules are :mod:`adapters.paper.matching`'s, the admission checks
:mod:`adapters.paper.admission`'s. What the broker answers:

==============================================  ============================================
request or event                                outcome
==============================================  ============================================
``submit``, a new id, passes admission          ``on_accepted``; the order works
``submit``, refused by admission                ``on_rejected`` with the reason; the order is
                                                kept as REJECTED (a query answers so)
``submit`` with an id the venue already has     no new order: ``on_status`` of the existing
``cancel`` of a working order                   ``on_canceled``; earlier partial fills stand
``cancel``/``modify`` of a finished order       ``on_status`` (it is FILLED, CANCELED, ...)
``cancel``/``modify``/``query`` of unknown id   ``on_unknown_order``
``modify`` that is allowed                      the order changes; ``on_status`` reports it
``modify`` that is not (quantity not above      the order stays as it was; ``on_status`` with
the filled units, funds, a triggered stop)      ``reason`` saying why
``query_order``                                 ``on_status`` or ``on_unknown_order``
``order_fills`` (after a restart)               the order's fills from the broker's own
                                                database, with their trade ids
market data fills an order                      ``on_filled`` (unique ``trade_id``, the fee
                                                from the fee model, charged per order)
an IOC order after its first market event       the rest ``on_canceled``
a DAY order at its session's close              ``on_expired`` (``session_close`` given, or
                                                :meth:`PaperBroker.expire_day_orders`)
:meth:`PaperBroker.fail_next` armed             ``on_transport_error``; with
                                                ``reached=True`` the request still takes
                                                effect, only its reports are lost
==============================================  ============================================

**Latency.** With ``ack_latency_ns`` a request takes effect (and is reported) that long after
it is made; with ``fill_latency_ns`` a fill's report arrives that long after the execution.
Reports of one order never overtake each other (:mod:`adapters.paper.timeline`).

**Bar mode.** An order fills on bars that open at or after the time it was accepted: one made
on bar t's close fills from bar t+1 (with an ack latency, from the first bar opening after it
arrived). A bar with no trades fills nothing. A protective stop accepted after its entry filled
in bar B, before the next bar arrives, is checked against the rest of B: it is matched to the
entry by instrument, opposite side and ``correlation_id`` (so a bracket's exits must carry
their entry's correlation id), see :func:`adapters.paper.matching.match_rest_of_bar`.

**After a crash.** A new broker on the same database resumes the book: orders, fills,
positions, cash and the id counters. Orders that were on their way (SUBMITTED, inside the ack
latency) are taken when it connects; DAY orders whose session closed meanwhile expire then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal

from adapters.paper.admission import InstrumentLookup, MarketOpen
from adapters.paper.book import PaperPosition
from adapters.paper.config import PaperBrokerConfig
from adapters.paper.executions import fill_from_bar, fill_from_quote, fill_from_trade
from adapters.paper.matching import on_tick
from adapters.paper.outbox import Outbox
from adapters.paper.store import BookChanges, BookStore, PaperStore
from adapters.paper.venue import PaperVenue, SessionClose
from engine.data_client import Scheduler
from engine.execution_client import ExecutionClient, ExecutionEvents
from engine.fees import FeeModel, make_fee_model
from engine.messages.market import Bar, QuoteTick, TradeTick
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderFilled,
    OrderStatus,
    OrderStatusReport,
    PositionReport,
    SubmitOrder,
)
from engine.store.database import Database

__all__ = ["OPERATIONS", "PaperBroker", "SessionClose"]

OPERATIONS = ("submit", "cancel", "modify", "query")
"""The requests :meth:`PaperBroker.fail_next` can fail."""


class PaperBroker(ExecutionClient):
    """A simulated venue. See the module's docstring for what it answers.

    ``fee_model`` overrides ``config.fees``; ``instruments`` looks instruments up (tick size,
    lot size, freeze quantity, currency; an unknown one is rejected); ``market_open`` refuses
    orders outside the session; ``session_close`` expires DAY orders at their session's close;
    ``database`` is the broker's own database (by default one is opened at
    ``config.database_url`` and closed by :meth:`close`); ``store`` replaces it (backtests
    keep the book in memory: :class:`adapters.paper.memory_store.MemoryPaperStore`).

    Raises ``ValueError`` (:class:`engine.fees.FeeConfigError`) for a bad fee config, and what
    :class:`~engine.store.database.Database` raises when the database cannot be opened.
    """

    def __init__(
        self,
        config: PaperBrokerConfig | None = None,
        *,
        fee_model: FeeModel | None = None,
        instruments: InstrumentLookup | None = None,
        market_open: MarketOpen | None = None,
        session_close: SessionClose | None = None,
        database: Database | None = None,
        store: BookStore | None = None,
    ) -> None:
        self.config = config = config or PaperBrokerConfig()
        self.name = config.name
        fees = fee_model or make_fee_model(config.fees, where="paper.fees")
        self._database: Database | None = None
        self._owns_database = False
        if store is not None:
            self._store: BookStore = store
        else:
            self._owns_database = database is None
            self._database = database or Database(config.database_url)
            try:
                self._store = PaperStore(self._database)
            except BaseException:
                if self._owns_database:
                    self._database.close()
                raise
        try:
            stored = self._store.load()
        except BaseException:
            if self._owns_database and self._database is not None:
                self._database.close()
            raise
        self._lock = threading.Lock()
        self._failures: dict[str, deque[bool]] = {op: deque() for op in OPERATIONS}
        self._venue = PaperVenue(
            config,
            stored,
            Outbox(self._lock),
            fees=fees,
            instruments=instruments,
            market_open=market_open,
            session_close=session_close,
        )
        if self._venue.account_dirty:  # a new book: its account row exists from the start
            self._store.write(BookChanges(account=self._venue.account_row()))
            self._venue.account_dirty = False

    # -- the port ---------------------------------------------------------------------------

    def connect(self, events: ExecutionEvents, scheduler: Scheduler) -> None:
        venue = self._venue
        with self._lock:
            venue.scheduler = scheduler
            venue.outbox.events = events
        with self._step():
            for order in sorted(venue.orders.values(), key=lambda o: o.seq):
                if order.status is OrderStatus.SUBMITTED:  # on its way when the last run ended
                    venue.activate(order, silent=False)
                elif order.is_working:
                    venue.schedule_expiry(order)

    def disconnect(self) -> None:
        """Stop reporting (the book goes on changing with deferred work); idempotent."""
        with self._lock:
            self._venue.outbox.events = None

    def close(self) -> None:
        """Disconnect and close the database if the broker opened it; idempotent."""
        self.disconnect()
        if self._owns_database and self._database is not None:
            self._database.close()

    def submit(self, order: SubmitOrder) -> None:
        venue = self._venue
        with self._step():
            silent = self._request("submit", order.client_order_id)
            if silent is None:  # lost on the way
                return
            existing = venue.orders.get(order.client_order_id)
            if existing is not None:  # never a second order under one id
                if not silent:
                    venue.query(existing.client_order_id)
                return
            paper = venue.new_order(order)
            self._after_ack(lambda: venue.activate(paper, silent=silent))

    def cancel(self, command: CancelOrder) -> None:
        with self._step():
            silent = self._request("cancel", command.client_order_id)
            if silent is not None:
                order_id, reason = command.client_order_id, command.reason
                self._after_ack(lambda: self._venue.cancel(order_id, reason, silent=silent))

    def modify(self, command: ModifyOrder) -> None:
        with self._step():
            silent = self._request("modify", command.client_order_id)
            if silent is not None:
                self._after_ack(lambda: self._venue.modify(command, silent=silent))

    def query_order(self, client_order_id: str) -> None:
        with self._step():
            if self._request("query", client_order_id) is not None:
                self._venue.query(client_order_id)

    def open_orders(self) -> Sequence[OrderStatusReport]:
        """The orders that may still fill, from the broker's database."""
        now = self._now_or_zero()
        return [order.report(now) for order in self._store.open_orders()]

    def positions(self) -> Sequence[PositionReport]:
        """The open positions, from the broker's database."""
        now = self._now_or_zero()
        return [p.report(now) for p in self._store.positions() if p.quantity]

    def order_fills(self, client_order_id: str) -> Sequence[OrderFilled]:
        """The fills of one order, from the broker's database (none for an unknown order)."""
        return self._store.order_fills(client_order_id)

    # -- beyond the port --------------------------------------------------------------------

    @property
    def cash(self) -> Decimal:
        """The account's cash now, in :attr:`currency`."""
        with self._lock:
            return self._venue.book.cash

    @property
    def currency(self) -> str:
        return self._venue.book.currency

    def position(self, instrument: str) -> PaperPosition | None:
        """A copy of the position in ``instrument`` now, or ``None`` if never traded."""
        with self._lock:
            found = self._venue.book.positions.get(instrument)
            return None if found is None else dataclasses.replace(found)

    def stored_fills(self) -> list[dict[str, object]]:
        """Every fill in the broker's database, in trade id order (for checks and tools)."""
        return list(self._store.fills())

    def fail_next(self, operation: str, *, reached: bool = False) -> None:
        """Make the next ``operation`` (one of :data:`OPERATIONS`) report a transport error.

        ``reached=True``: the request still reaches the venue and takes effect; only its
        answer is lost (the router must query before it acts again). A query's answer is
        always lost. Raises ``ValueError`` for an unknown operation.
        """
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS}")
        with self._lock:
            self._failures[operation].append(reached)

    def expire_day_orders(self, ts_ns: int | None = None) -> None:
        """The session ended at ``ts_ns`` (default: now): every open DAY order made before it
        expires (``on_expired``)."""
        venue = self._venue
        with self._step():
            cutoff = venue.now() if ts_ns is None else ts_ns
            for order in list(venue.orders.values()):
                if order.is_open and order.ts_created <= cutoff:
                    venue.expire(order)

    # -- market data --------------------------------------------------------------------------

    def on_trade(self, tick: TradeTick) -> None:
        """A trade printed: marks the instrument; in tick mode, fills what it fills."""
        venue, instrument = self._venue, tick.instrument
        with self._lock:
            price = on_tick(tick.price, venue.tick(instrument))
            venue.book.marks[instrument] = venue.last_trade[instrument] = price
            if not self._fills_on("tick", instrument):
                return  # the common case, kept cheap: nothing to fill
        with self._step():
            fill_from_trade(venue, tick, price)

    def on_quote(self, tick: QuoteTick) -> None:
        """A quote: marks the instrument at its mid; with ``market_fill_price = "quote"``
        (tick mode) fills market orders at the ask (buy) or bid (sell)."""
        venue, instrument = self._venue, tick.instrument
        config = self.config
        with self._lock:
            size = venue.tick(instrument)
            if tick.bid > 0 and tick.ask > 0:
                venue.book.marks[instrument] = on_tick((tick.bid + tick.ask) / 2, size)
            quoting = config.market_fill_price == "quote"
            if not quoting or not self._fills_on("tick", instrument):
                return
        with self._step():
            fill_from_quote(venue, tick, on_tick(tick.bid, size), on_tick(tick.ask, size))

    def on_bar(self, bar: Bar) -> None:
        """A bar closed: marks the instrument at its close; in bar mode (and of the configured
        interval), fills what it fills and is kept for the stops of entries it filled."""
        venue, interval = self._venue, self.config.bar_interval
        with self._lock:
            venue.book.marks[bar.instrument] = on_tick(bar.close, venue.tick(bar.instrument))
            if interval is not None and bar.interval != interval:
                return
            if not self._fills_on("bar", bar.instrument):
                # Nothing works there: nothing fills, and no entry filled in this bar for a
                # later stop to meet the rest of (the common bar of a backtest: no step).
                venue.entry_bars.pop(bar.instrument, None)
                return
        with self._step():
            fill_from_bar(venue, bar)

    def _fills_on(self, mode: str, instrument: str | None) -> bool:
        """Whether market data of ``mode`` may fill orders now (of ``instrument``, if named):
        the broker fills in that mode, is connected, and has orders working there."""
        venue = self._venue
        if self.config.fill_on != mode or venue.scheduler is None:
            return False
        return instrument is None or bool(venue.working.get(instrument))

    # -- steps ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _step(self) -> Iterator[None]:
        """One change of the book: under the lock, written before its reports leave."""
        venue = self._venue
        with self._lock:
            venue.changes = BookChanges()
            yield
            if venue.account_dirty:
                venue.changes.account = venue.account_row()
                venue.account_dirty = False
            self._store.write(venue.changes)
            wakeups = venue.timeline.wakeups()
            scheduler = venue.scheduler
        if scheduler is not None:
            for due in wakeups:
                scheduler.call_at(due, functools.partial(self._run_due, due))
        venue.outbox.drain()

    def _run_due(self, due_ns: int) -> None:
        timeline = self._venue.timeline
        with self._step():
            timeline.running_due = due_ns
            try:
                for action in timeline.take_due(due_ns):
                    action()
            finally:
                timeline.running_due = None

    def _after_ack(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the request reaches the venue (after the ack latency)."""
        latency = self.config.ack_latency_ns
        if latency:
            self._venue.timeline.defer(self._venue.now() + latency, action)
        else:
            action()

    def _request(self, operation: str, order_id: str) -> bool | None:
        """Take an armed transport failure for ``operation``: ``None`` if the request is lost,
        else whether its answers are (``True``: it reached the venue silently)."""
        self._venue.now()  # refuses use before connect
        pending = self._failures[operation]
        if not pending:
            return False
        reached = pending.popleft()
        self._venue.transport_error(order_id, operation)
        return True if reached and operation != "query" else None

    def _now_or_zero(self) -> int:
        scheduler = self._venue.scheduler
        return 0 if scheduler is None else scheduler.now_ns()
