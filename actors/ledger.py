"""The ledger: the account's positions, cash, fees and P&L, netted from its fills.

Runs one :class:`~engine.ledger.Book` (the pure accounting, average-cost netting, exact money
and the rounding rule are described there) and tells the rest of the engine what changed.

Scenario → outcome:

=========================================  ===================================================
scenario                                   outcome
=========================================  ===================================================
start                                      a fresh book from ``start_cash``; every fill that
                                           ``replay`` yields is netted in order (duplicates
                                           skipped, nothing published per fill); then the
                                           held instruments' prices are followed, one equity
                                           point is recorded, each open position is published
                                           as ``PositionChanged`` and the account as
                                           ``AccountChanged``
``replay`` raises                          ``on_start`` fails: a crash, retried with back-off
                                           (a ledger that cannot know its fills must not run)
an ``OrderFilled`` (on ``fills``, or       netted; ``PositionChanged`` on ``positions`` for
sent directly)                             the account (``strategy=None``) and, with
                                           ``per_strategy``, for the fill's strategy; then
                                           ``AccountChanged`` on ``account`` at once
a fill already netted (same instrument     ignored and counted (``duplicates``); with other
and trade id)                              content: ignored, counted
                                           (``conflicting_duplicates``), logged as an error
a fill the book cannot take (another       ignored, counted (``refused``), logged as an error
currency, quantity not > 0, price not
> 0, fee not a finite Decimal)
a position opens in an instrument          its ``<source>:<instrument>`` topics are followed
                                           for each of ``mark_sources`` (``bars``, ``ticks``);
                                           dropped again when flat everywhere
a ``Bar`` / ``TradeTick`` (also in a       the close / trade price is kept as the instrument's
``TickBatch``) of a held instrument        pending mark (one dict write: ticks are cheap); an
                                           older one than the pending mark is ignored
pending marks, at most every               taken into the book; an equity point; an
``mark_interval_ns``                       ``AccountChanged``. The first marks after a quiet
                                           interval go at once, later ones on a timer at the
                                           interval's end, so the last mark is never left out.
                                           With ``mark_interval_ns=0``: once the instant has
                                           settled (``ctx.schedule_settled``), all of its
                                           marks together
a ``QuoteTick``, a non-finite or <= 0      ignored
price
the trading day changes (local midnight    today's realised P&L and fees restart at 0;
in ``time_zone``: a timer at midnight      ``AccountChanged`` if they were not 0. The timer
while today has fills, else the next       is set only while today has figures (a day
mark's or fill's time, replayed or not)    without fills changes nothing: a backtest of
                                           daily bars would otherwise publish the same
                                           account every bar)
``DescribeLedger`` (an ask)                answered with a :class:`LedgerSnapshot`
``equity_sink`` raises                     logged and counted (``failed_sinks``); the book
                                           and the publications go on
a restart                                  as at start: without ``replay`` the book starts
                                           afresh from ``start_cash``, flat
=========================================  ===================================================

Days only move forward: a fill stamped on an earlier day than the current one counts in the
current day. Live, a fill's time and the clock agree; in a replay, the fills' own times put
each in its day, as they were when they happened.

Times: a ``PositionChanged``'s ``ts_event`` is its fill's; an ``AccountChanged``'s is the
fill's or the newest mark's (the start's and the day change's: the runtime clock). Equity
points carry the same time.

Restart from the journal (DESIGN §7): the lead wires ``replay`` to read the fills the journal
recorded (every fill is written ahead by the router before the ledger sees it), so a restarted
ledger rebuilds the same book; duplicates between the replay and redelivered messages are
skipped by trade id. A fill netted by the replay but never announced (the old incarnation
crashed first) is covered by the start's publications of every open position and the account.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from decimal import Decimal

import msgspec

from engine.actor import Actor, handles
from engine.context import Context, Timer
from engine.ledger import (
    DEFAULT_CAPACITY,
    Book,
    EquityPoint,
    EquitySink,
    FillOutcome,
    TradingDay,
    minor_unit_places,
)
from engine.ledger.describe import DescribeLedger, LedgerSnapshot
from engine.ledger.position import Position
from engine.messages.account import TOPIC_ACCOUNT, AccountChanged
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.messages.orders import TOPIC_FILLS
from engine.messages.ranking import TOPIC_POSITIONS
from engine.messages.trading import OrderFilled, PositionChanged

__all__ = ["NAME", "DescribeLedger", "Ledger", "LedgerSnapshot", "Replay"]
"""``DescribeLedger`` and ``LedgerSnapshot`` live in :mod:`engine.ledger.describe` (the web
asks the ledger too); they are re-exported here beside the actor that answers them."""

NAME = "ledger"
DEFAULT_MARK_SOURCES = ("bars", "ticks")
"""Topic prefixes whose ``<prefix>:<instrument>`` topics mark a held instrument: bar closes
and trades."""
DEFAULT_MARK_INTERVAL_NS = 1_000_000_000

Replay = Callable[[], Iterable[OrderFilled]]
"""Yields the fills recorded before this start, oldest first."""


class _MarksDue(msgspec.Struct, frozen=True):
    """The ledger's own timer: take the pending marks and publish the account."""


class _DayDue(msgspec.Struct, frozen=True):
    """The ledger's own timer: the next trading day may have started."""


class Ledger(Actor):
    """Keeps the account's book (see the module's table).

    ``start_cash`` (a finite ``Decimal``) in ``currency`` is the account before any fill.
    Marks come from ``<source>:<instrument>`` for each of ``mark_sources`` while the
    instrument is held; ``AccountChanged`` follows marks at most every ``mark_interval_ns``
    (0: on every mark). ``per_strategy`` keeps strategy attribution. Days change at midnight
    in ``time_zone``. The equity curve keeps ``curve_capacity`` points and hands each to
    ``equity_sink``. ``replay`` yields the fills recorded before this start.

    Raises ``ValueError`` naming the bad value for: a ``start_cash`` that is not a finite
    ``Decimal``, an unknown ``currency`` or ``time_zone``, a ``mark_interval_ns`` that is not
    an int >= 0, an empty source or one with ``:`` or ``*``, a ``curve_capacity`` below 1.
    """

    def __init__(
        self,
        start_cash: Decimal,
        currency: str,
        *,
        mark_sources: Sequence[str] = DEFAULT_MARK_SOURCES,
        mark_interval_ns: int = DEFAULT_MARK_INTERVAL_NS,
        per_strategy: bool = True,
        time_zone: str = "UTC",
        curve_capacity: int = DEFAULT_CAPACITY,
        equity_sink: EquitySink | None = None,
        replay: Replay | None = None,
        fills_topic: str = TOPIC_FILLS,
    ) -> None:
        if not isinstance(start_cash, Decimal) or not start_cash.is_finite():
            raise ValueError(f"start_cash must be a finite Decimal, got {start_cash!r}")
        minor_unit_places(currency)
        if (
            not isinstance(mark_interval_ns, int)
            or isinstance(mark_interval_ns, bool)
            or mark_interval_ns < 0
        ):
            raise ValueError(
                f"mark_interval_ns must be an int of ns >= 0, got {mark_interval_ns!r}"
            )
        for source in mark_sources:
            if not isinstance(source, str) or not source or ":" in source or "*" in source:
                raise ValueError(
                    f"mark source {source!r}: expected a topic prefix such as 'bars' or "
                    "'ticks' (the ledger follows '<prefix>:<instrument>')"
                )
        if not isinstance(curve_capacity, int) or curve_capacity < 1:
            raise ValueError(f"curve_capacity must be an int >= 1, got {curve_capacity!r}")
        self.start_cash = start_cash
        self.currency = currency
        self.mark_sources = tuple(mark_sources)
        self.mark_interval_ns = mark_interval_ns
        self.per_strategy = per_strategy
        self.trading_day = TradingDay(time_zone)
        self.curve_capacity = curve_capacity
        self.equity_sink = equity_sink
        self.replay = replay
        self.fills_topic = fills_topic
        self._reset()

    def _reset(self) -> None:
        """The state of a fresh start (each incarnation begins here)."""
        self.book = self._new_book()
        self.day: date | None = None  # the current trading day, set at start
        self.followed: set[str] = set()  # instruments whose price topics are subscribed
        self.pending: dict[str, tuple[float, int]] = {}  # instrument -> (price, event ns)
        self.marks_timer: Timer | None = None
        self.day_timer: Timer | None = None  # set at midnight while today has figures
        self.last_marks_ns: int | None = None  # runtime clock of the last marks publication
        self.replayed = 0
        self.duplicates = 0
        self.conflicting_duplicates = 0
        self.refused = 0
        self.failed_sinks = 0

    def _new_book(self) -> Book:
        sink = self._to_sink if self.equity_sink is not None else None
        return Book(
            self.start_cash,
            self.currency,
            per_strategy=self.per_strategy,
            curve_capacity=self.curve_capacity,
            on_equity_point=sink,
        )

    def _to_sink(self, point: EquityPoint) -> None:
        assert self.equity_sink is not None
        try:
            self.equity_sink(point)
        except Exception as exc:
            # The sink is the caller's (a store, a report); it must not undo a netted fill.
            self.failed_sinks += 1
            self.ctx.log.error("equity point not handed over", error=repr(exc), ts=point.ts)

    # --- start -------------------------------------------------------------------------------

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self._reset()
        ctx.subscribe(self.fills_topic)
        if self.replay is not None:
            for fill in self.replay():
                self._net_replayed(fill)
        now = ctx.now_ns()
        self._advance_day(now)
        for instrument in sorted(self.book.held()):
            self._follow(instrument)
        self.book.record(now)
        for position in self.book.open_positions():
            self._publish_position(position, now)
        self._publish_account(now)
        self._watch_midnight()
        if self.replayed:
            ctx.log.info("ledger rebuilt from replayed fills", fills=self.replayed)

    def _net_replayed(self, fill: OrderFilled) -> None:
        problem = self.book.problem(fill)
        if problem is not None:
            self.refused += 1
            self.ctx.log.error("replayed fill refused", problem=problem)
            return
        self._advance_day(fill.ts_event)
        outcome = self.book.apply(fill, record=False)
        if outcome is FillOutcome.APPLIED:
            self.replayed += 1
        else:
            self._count_duplicate(fill, outcome)

    # --- fills -------------------------------------------------------------------------------

    @handles(OrderFilled)
    def on_fill(self, fill: OrderFilled) -> None:
        problem = self.book.problem(fill)
        if problem is not None:
            self.refused += 1
            self.ctx.log.error("fill refused", problem=problem)
            return
        self._advance_day(fill.ts_event)
        self._take_pending_marks()  # so the fill's equity point is at the latest prices
        outcome = self.book.apply(fill)
        if outcome is not FillOutcome.APPLIED:
            self._count_duplicate(fill, outcome)
            return
        instrument = fill.instrument
        self._follow(instrument)
        account = self.book.position(instrument)
        assert account is not None  # just netted
        self._publish_position(account, fill.ts_event)
        attributed = self.book.strategy_position(instrument, fill.strategy)
        if attributed is not None:
            self._publish_position(attributed, fill.ts_event)
        self._publish_account(fill.ts_event)
        self._watch_midnight()

    def _count_duplicate(self, fill: OrderFilled, outcome: FillOutcome) -> None:
        if outcome is FillOutcome.DUPLICATE:
            self.duplicates += 1
            self.ctx.log.info("duplicate fill ignored", trade_id=fill.trade_id)
        else:
            self.conflicting_duplicates += 1
            self.ctx.log.error(
                "fill ignored: its trade id was netted with other content",
                trade_id=fill.trade_id,
                instrument=fill.instrument,
                client_order_id=fill.client_order_id,
            )

    def _follow(self, instrument: str) -> None:
        held = self.book.is_held(instrument)
        if held and instrument not in self.followed:
            self.followed.add(instrument)
            for source in self.mark_sources:
                self.ctx.subscribe(f"{source}:{instrument}")
        elif not held and instrument in self.followed:
            self.followed.discard(instrument)
            self.pending.pop(instrument, None)
            for source in self.mark_sources:
                self.ctx.unsubscribe(f"{source}:{instrument}")

    # --- marks -------------------------------------------------------------------------------

    @handles(Bar)
    def on_bar(self, bar: Bar) -> None:
        if self._mark(bar.instrument, bar.close, bar.ts_close):
            self._marks_arrived()

    @handles(TradeTick)
    def on_trade(self, tick: TradeTick) -> None:
        if self._mark(tick.instrument, tick.price, tick.ts_event):
            self._marks_arrived()

    @handles(TickBatch)
    def on_ticks(self, batch: TickBatch) -> None:
        marked = False
        for tick in batch.ticks:
            if type(tick) is TradeTick and self._mark(tick.instrument, tick.price, tick.ts_event):
                marked = True
        if marked:
            self._marks_arrived()

    @handles(QuoteTick)
    def on_quote(self, quote: QuoteTick) -> None:
        """Quotes share the ticks topics; the ledger marks at trades only."""

    def _mark(self, instrument: str, price: float, ts_ns: int) -> bool:
        """Keep ``price`` as the pending mark of a held instrument; whether it was kept."""
        # Called for every tick of a held instrument: keep it to a few dict operations.
        if instrument not in self.followed:
            return False
        pending = self.pending.get(instrument)
        if pending is not None and ts_ns < pending[1]:
            return False
        self.pending[instrument] = (price, ts_ns)
        return True

    def _marks_arrived(self) -> None:
        if self.marks_timer is not None:
            return  # the pending marks go when it fires
        if not self.mark_interval_ns:
            # Every mark, but one account for all the bars of an instant (a backtest of 100
            # instruments would otherwise value every held position once per bar).
            self.marks_timer = self.ctx.schedule_settled(_MarksDue())
            return
        now = self.ctx.now_ns()
        wait = 0 if self.last_marks_ns is None else self.last_marks_ns + self.mark_interval_ns - now
        if wait <= 0:
            self._publish_marks()
        else:
            self.marks_timer = self.ctx.schedule_once(wait, _MarksDue())

    @handles(_MarksDue)
    def on_marks_due(self, _due: _MarksDue) -> None:
        self.marks_timer = None
        self._publish_marks()

    def _publish_marks(self) -> None:
        latest = self._take_pending_marks()
        if latest is None:
            return
        now = self.ctx.now_ns()
        self.last_marks_ns = now
        self._advance_day(now)
        self.book.record(latest)
        self._publish_account(latest)

    def _take_pending_marks(self) -> int | None:
        """Put the pending marks in the book; the newest one's event time, if any was taken."""
        latest: int | None = None
        for instrument, (price, ts_ns) in self.pending.items():
            if not math.isfinite(price) or price <= 0:
                continue
            # repr() is the shortest string that reads back as the same float: the price the
            # feed meant (100.05), not the binary expansion Decimal(float) would give.
            if self.book.mark(instrument, Decimal(repr(price)), ts_ns) and (
                latest is None or ts_ns > latest
            ):
                latest = ts_ns
        self.pending.clear()
        return latest

    # --- the day -----------------------------------------------------------------------------

    @handles(_DayDue)
    def on_day_due(self, _due: _DayDue) -> None:
        self.day_timer = None
        now = self.ctx.now_ns()
        book = self.book
        had_figures = bool(book.realized_today or book.fees_today)
        if self._advance_day(now) and had_figures:
            self._publish_account(now)
        self._watch_midnight()

    def _watch_midnight(self) -> None:
        """Set the midnight timer while today has figures to zero: a day without fills changes
        nothing at its end (the day moves on with the next mark or fill), and a timer every
        night would be one event per bar in a backtest of daily bars."""
        book = self.book
        if self.day_timer is not None or not (book.realized_today or book.fees_today):
            return
        now = self.ctx.now_ns()
        self.day_timer = self.ctx.schedule_once(
            max(0, self.trading_day.next_start(now) - now), _DayDue()
        )

    def _advance_day(self, ts_ns: int) -> bool:
        """Move to the trading day of ``ts_ns`` if it is later than the current one; whether
        it moved (a first day is set, not moved to)."""
        day = self.trading_day.of(ts_ns)
        if self.day is None:
            self.day = day
            return False
        if day <= self.day:
            return False
        self.day = day
        self.book.new_day()
        self.ctx.log.info("new trading day", day=str(day))
        return True

    # --- publications and the snapshot -------------------------------------------------------

    def _publish_position(self, position: Position, ts_event: int) -> None:
        view = self.book.view(position)
        change = PositionChanged(
            ts_event=ts_event,
            ts_init=self.ctx.now_ns(),
            instrument=view.instrument,
            strategy=view.strategy,
            quantity=view.quantity,
            avg_price=view.avg_price,
            realized_pnl=view.realized_pnl,
            currency=self.currency,
        )
        self.ctx.publish(TOPIC_POSITIONS, change)
        if view.strategy is None:
            self.ctx.log.info(
                "position changed",
                instrument=view.instrument,
                quantity=view.quantity,
                avg_price=str(view.avg_price),
                realized_pnl=str(view.realized_pnl),
            )

    def _account_changed(self, ts_event: int) -> AccountChanged:
        figures = self.book.account()
        return AccountChanged(
            ts_event=ts_event,
            ts_init=self.ctx.now_ns(),
            currency=figures.currency,
            cash=figures.cash,
            equity=figures.equity,
            realized_pnl=figures.realized_pnl,
            unrealized_pnl=figures.unrealized_pnl,
            fees=figures.fees,
            open_positions=figures.open_positions,
        )

    def _publish_account(self, ts_event: int) -> None:
        self.ctx.publish(TOPIC_ACCOUNT, self._account_changed(ts_event))

    @handles(DescribeLedger)
    def on_describe(self, ask: DescribeLedger) -> LedgerSnapshot:
        now = self.ctx.now_ns()
        return LedgerSnapshot(
            ts=now,
            account=self._account_changed(now),
            positions=self.book.positions(),
            strategy_positions=self.book.strategy_positions(),
            equity_curve=self.book.curve.tail(max(0, ask.curve_tail)),
            fills=self.book.fills,
            replayed=self.replayed,
            duplicates=self.duplicates,
            conflicting_duplicates=self.conflicting_duplicates,
            refused=self.refused,
            failed_sinks=self.failed_sinks,
        )
