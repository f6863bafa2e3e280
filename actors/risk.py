"""The risk supervisor: sizes each trade intent, checks it, and sends it on or refuses it.

Scenario → outcome:

==========================================  ==================================================
scenario                                    outcome
==========================================  ==================================================
a ``TradeIntent`` (on ``intents`` or sent)  an entry: sized (:mod:`engine.risk.sizing`),
                                            checked (:mod:`engine.risk.checks`), then a
                                            ``SubmitBracket`` to ``router``: the entry
                                            ``<correlation_id>:entry`` (MARKET, or LIMIT at
                                            the intent's entry price) with the intent's
                                            stop (or ``default_stop_pct``) and target on the
                                            tick, or with ``stop_loss_pct`` its stop that %
                                            from the entry's average fill price
                                            (:mod:`engine.risk.proposals`); or
                                            ``RiskDenied`` on ``risk``
... on the other side of a position (a      an exit: a ``ClosePosition`` to ``router`` with
SELL when long, a BUY when short), or       MARKET order(s) ``<correlation_id>:exit`` for
exit-only (``exit_only``) with a position   the whole position, counting fills the ledger
or an entry that may have filled            has not reported yet and working entries that
                                            may fill (:meth:`Exposure.exit_units
                                            <engine.risk.exposure.Exposure.exit_units>`):
                                            the router cancels the instrument's orders (the
                                            bracket's stop and target, an entry's
                                            remainder: one cancels the other) and, once
                                            they ended, sends the exit for at most the
                                            position left, so a stop that filled first is
                                            never doubled into a reversal
                                            (:mod:`engine.orders.closing`); refused when
                                            an exit for all of it is already working, when
                                            HALTED, or the market is closed; answered with
                                            the orders asked
... a SELL when flat, long only; an         ``RiskDenied`` (``zero_size``): nothing to exit
exit-only intent (``exit_only``) that       (after a stop closed the position, the
does not reduce a position                  strategy's exit signal is refused here)
... seen before (same correlation id)       ignored; answered with the first decision
a ``SubmitOrder`` sent here (manual order)  the same checks (an exit if it only reduces the
                                            position; long only, a SELL beyond the position
                                            is refused), prices rounded to the tick, then
                                            the order to ``router``; answered with the order
                                            sent or the ``RiskDenied``
... its client order id seen before         the order sent under it (nothing sent again);
                                            after a refusal: decided afresh
a price that is not a finite number > 0     ``RiskDenied`` (``price_band``)
state REDUCING / HALTED (``state``)         exits only / nothing
``FlattenAll`` (kill switch)                ``CancelAllOrders`` and a ``ClosePosition``
                                            (MARKET orders) for each position to
                                            ``router``, ``HaltTrading`` to ``trading``;
                                            answered (and published on ``risk``) with
                                            ``FlattenOrdered``
``AccountChanged``: the day's loss past     the same flatten and halt, once per day
the daily loss limit
a market's square-off time                  its instruments' orders canceled, their
                                            positions closed at market (``ClosePosition``,
                                            no halt); the next session's square-off is set
a losing trade closes (``PositionChanged``  the streak grows; at ``max_consecutive_losses``
back to 0)                                  entries pause for ``loss_cooldown_s``; a
                                            winning or flat trade resets it
order events (``orders``, ``fills``)        the supervisor's working orders shrink and end;
                                            an entry the venue rejects no longer counts
                                            towards the day's trades
``DescribeRisk``                            ``RiskReport``: limits, usage, state, the recent
                                            denials
start (or a restart) with ``replay``        the day's order records from the journal are
                                            replayed (:mod:`engine.risk.replay`): trades
                                            today, working orders, stops, the losing
                                            streak and the day's brackets (a repeated
                                            intent is answered, not sent again);
                                            positions come from the ledger's announcement
                                            at its start (the service starts risk before
                                            the ledger)
start without ``replay``                    positions, working orders and counts start
                                            empty and follow the next events
``replay`` raises                           ``on_start`` fails: a crash, retried with
                                            back-off
==========================================  ==================================================

Nothing a user or a strategy sends raises here: every refusal is a ``RiskDenied``. Orders the
supervisor makes on its own (flatten, square-off) skip the checks: they only close.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal

import msgspec

from engine.actor import Actor, handles
from engine.calendars import MarketCalendar
from engine.context import Context
from engine.fees import FeeModel, FeeRateError
from engine.instruments import Instrument
from engine.messages.account import TOPIC_ACCOUNT, AccountChanged
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.messages.orders import TOPIC_FILLS, TOPIC_ORDERS, CancelAllOrders, SubmitBracket
from engine.messages.ranking import TOPIC_INTENTS, TOPIC_POSITIONS
from engine.messages.risk import TOPIC_RISK, RiskCode, RiskDenied
from engine.messages.runtime import TOPIC_STATE, TradingState, TradingStateChanged
from engine.messages.trading import (
    FlattenAll,
    HaltTrading,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderSubmitted,
    PositionChanged,
    SubmitOrder,
    TradeIntent,
)
from engine.orders.closing import ClosePosition
from engine.price_board import PriceBoard
from engine.risk.checks import (
    MOMENT_CHECKS,
    Failure,
    OrderProposal,
    RiskView,
    figure,
    first_denial,
)
from engine.risk.day import TradingDay
from engine.risk.exposure import Exposure, WorkingOrder
from engine.risk.limits import RiskLimits, decimal_of
from engine.risk.messages import DescribeRisk, FlattenOrdered, RiskReport, RiskUsage
from engine.risk.orders import closing_orders, split_orders
from engine.risk.proposals import Refusal, plan_entry, plan_manual
from engine.risk.replay import replay_day
from engine.risk.sessions import MarketHours
from engine.risk.token_bucket import TokenBucket
from engine.timezones import at_local_time, exchange_date

NAME = "risk"
PRICE_TOPICS: tuple[str, ...] = ("bars:*", "ticks:*")
_DECISIONS_KEPT = 10_000  # correlation ids remembered to recognise a repeated intent
_ZERO = Decimal(0)

Replay = Callable[[int], Iterable[object]]
"""Given the start of the trading day (ns, UTC), the order records journaled since then."""

Decision = SubmitBracket | SubmitOrder | list[SubmitOrder] | RiskDenied
"""What an intent or a manual order became: a bracket (entry), the order(s) sent (manual
order, exit), or the denial."""


class SquareOffDue(msgspec.Struct, frozen=True):
    """The supervisor's own timer: square off ``calendar``'s session of ``day`` (ordinal)."""

    calendar: str
    day: int


class RiskSupervisor(Actor):
    """Pre-trade checks, sizing, the kill switch and square-off (module docstring).

    ``instruments`` are the tradable instruments by id; ``equity`` and ``cash`` (default:
    ``equity``) stand until the ledger's first ``AccountChanged``. ``calendars`` overrides
    market calendars by name (the synthetic market trades NSE symbols around the clock);
    others are read with ``calendar_dir``. ``state`` is the trading state at start, or a
    callable reading the engine's (``lambda: runtime.trading_state``) so that a restarted
    supervisor does not forget a halt. ``price_topics`` carry the last prices; ``price_board``
    (the feed's :class:`~engine.price_board.PriceBoard`), when given, is read first.
    ``replay`` yields the order records journaled since the start of the trading day it is
    given (ns, UTC), in the order recorded (:mod:`engine.risk.replay`). ``fees`` is the
    broker's fee model: an entry's funds include its charges, as the broker counts them.
    """

    def __init__(
        self,
        limits: RiskLimits,
        instruments: Mapping[str, Instrument],
        *,
        equity: Decimal,
        cash: Decimal | None = None,
        router: str = "router",
        trading: str = "trading",
        calendars: Mapping[str, MarketCalendar] | None = None,
        calendar_dir: str | None = None,
        state: TradingState | Callable[[], TradingState] = TradingState.ACTIVE,
        price_topics: Sequence[str] = PRICE_TOPICS,
        price_board: PriceBoard | None = None,
        replay: Replay | None = None,
        fees: FeeModel | None = None,
    ) -> None:
        self.limits = limits
        self.fees = fees
        self.replay = replay
        self.instruments = instruments
        self.router = router
        self.trading = trading
        self.markets = MarketHours(limits, calendars, calendar_dir)
        self._state_source = state
        self.state = TradingState.ACTIVE
        self.price_topics = tuple(price_topics)
        self.price_board = price_board
        self.exposure = Exposure()
        self.day = TradingDay(limits, equity=equity, cash=equity if cash is None else cash)
        self.last_prices: dict[str, float] = {}
        self.denials: deque[RiskDenied] = deque(maxlen=max(limits.recent_denials, 1))
        self.decided: OrderedDict[str, Decision] = OrderedDict()
        self.squared_off: dict[str, date] = {}

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        source = self._state_source
        self.state = source() if callable(source) else source
        now = ctx.now_ns()
        self.bucket = TokenBucket(self.limits.max_orders_per_s, self.limits.order_burst, now)
        topics = (TOPIC_INTENTS, TOPIC_POSITIONS, TOPIC_ACCOUNT, TOPIC_ORDERS, TOPIC_FILLS)
        for topic in (*topics, TOPIC_STATE, *self.price_topics):
            ctx.subscribe(topic)
        self.day.roll(now)
        if self.replay is not None:
            self._replay(self.replay, now)
        for market in sorted({i.calendar for i in self.instruments.values()}):
            self._schedule_square_off(market)

    def _replay(self, replay: Replay, now: int) -> None:
        since = _day_start(now, self.limits.trading_day_tz)
        found = replay_day(replay(since), self.exposure, self.day)
        for bracket in found.brackets:
            self._remember(f"intent:{bracket.entry.correlation_id}", bracket)
        if found.records:
            self.ctx.log.info(
                "risk day rebuilt from the journal",
                records=found.records,
                trades_today=self.day.trades_today,
                working_orders=len(self.exposure.working),
                closed_trades=found.closed_trades,
                consecutive_losses=self.day.consecutive_losses,
            )

    # -- decisions ------------------------------------------------------------------------------

    @handles(TradeIntent)
    def on_intent(self, intent: TradeIntent) -> Decision:
        """Size, check and send (or refuse) an intent; answers the decision."""
        key = f"intent:{intent.correlation_id}"
        if key not in self.decided:
            self._remember(key, self._decide_intent(intent))
        return self.decided[key]

    def _decide_intent(self, intent: TradeIntent) -> Decision:
        now = self._now()
        key = (intent.instrument, intent.strategy, intent.correlation_id)
        instrument = self.instruments.get(intent.instrument)
        if instrument is None:
            return self._deny(key, RiskCode.INSTRUMENT_BANNED, _unknown(intent.instrument))
        position = self.exposure.position_seen(instrument.id)
        if intent.exit_only or (position and (intent.side is OrderSide.SELL) == (position > 0)):
            # Fills the ledger has not reported yet count (an entry filled at this bar's open).
            units = self.exposure.exit_units(instrument.id, intent.side)
            if units > 0:
                return self._exit(intent, instrument, units, now)
        view = self._view(instrument, now)
        # The moment first: a halted engine says "halted", not "nothing to size".
        bare = OrderProposal(instrument=instrument, side=intent.side, quantity=0, price=_ZERO)
        denial = first_denial(bare, view, self.limits, MOMENT_CHECKS)
        if denial is None:
            if intent.exit_only:
                return self._deny(key, RiskCode.ZERO_SIZE, _nothing_to_exit(intent, position))
            if intent.side is OrderSide.SELL and not self.limits.allow_short:
                return self._deny(key, RiskCode.ZERO_SIZE, _no_short(position, None))
            plan = plan_entry(
                intent,
                instrument,
                self.limits,
                last_price=self._last_price(instrument.id),
                equity=self.day.equity,
                now_ns=now,
            )
            if isinstance(plan, Refusal):
                return self._deny(key, plan.code, plan.failure)
            proposal = self._with_fees(plan.proposal, now)
            denial = first_denial(proposal, view, self.limits)
            if denial is None:
                self._count_entry(proposal, plan.bracket.entry, now)
                self.ctx.send(self.router, plan.bracket)
                return plan.bracket
        return self._deny(key, denial.code, Failure(denial.message, denial.figures))

    def _exit(self, intent: TradeIntent, instrument: Instrument, units: int, now: int) -> Decision:
        """Close ``units`` (at most: the router sends no more than it holds)."""
        key = (instrument.id, intent.strategy, intent.correlation_id)
        orders = split_orders(
            instrument=instrument,
            side=intent.side,
            quantity=units,
            base_id=f"{intent.correlation_id}:exit",
            strategy=intent.strategy,
            correlation_id=intent.correlation_id,
            now_ns=now,
        )
        reference = self._reference_price(instrument.id)
        proposal = OrderProposal(
            instrument=instrument,
            side=intent.side,
            quantity=orders[0].quantity,
            price=reference,
            is_exit=True,
        )
        denial = first_denial(proposal, self._view(instrument, now), self.limits)
        if denial is not None:
            return self._deny(key, denial.code, Failure(denial.message, denial.figures))
        working = self.exposure.working_exit_quantity(instrument.id)
        if working >= units:
            return self._deny(
                key,
                RiskCode.ZERO_SIZE,
                Failure(
                    f"an exit for the whole position ({units}) is already working",
                    {"position": figure(units), "working_exit": figure(working)},
                ),
            )
        # The router cancels the bracket's stop and target (they would close the position a
        # second time) and sends the exit for no more than what they left open.
        self._close(
            orders, reference, f"exit {intent.correlation_id}", now, strategy=intent.strategy
        )
        return orders

    @handles(SubmitOrder)
    def on_manual_order(self, order: SubmitOrder) -> Decision:
        """A manual order: checked like an intent (not sized), then sent on or refused. An
        order sent is remembered by its client order id (the same id again is answered with
        it, nothing sent); a refusal is not: the id may be sent again, corrected, and gets a
        fresh decision."""
        key = f"order:{order.client_order_id}"
        decided = self.decided.get(key)
        if decided is None:
            decided = self._decide_manual(order)
            if not isinstance(decided, RiskDenied):
                self._remember(key, decided)
        return decided

    def _decide_manual(self, order: SubmitOrder) -> Decision:
        now = self._now()
        key = (order.instrument, order.strategy, order.correlation_id)
        instrument = self.instruments.get(order.instrument)
        if instrument is None:
            return self._deny(key, RiskCode.INSTRUMENT_BANNED, _unknown(order.instrument))
        position = self.exposure.position(instrument.id)
        reducible = abs(position) - self.exposure.working_exit_quantity(instrument.id)
        is_exit = (
            position != 0
            and (order.side is OrderSide.SELL) == (position > 0)
            and order.quantity <= reducible
        )
        plan = plan_manual(
            order,
            instrument,
            self.limits,
            is_exit=is_exit,
            last_price=self._last_price(instrument.id),
            average_price=self.exposure.average_price(instrument.id),
        )
        if isinstance(plan, Refusal):
            return self._deny(key, plan.code, plan.failure)
        view = self._view(instrument, now)
        proposal = plan.proposal if is_exit else self._with_fees(plan.proposal, now)
        denial = first_denial(proposal, view, self.limits, MOMENT_CHECKS)
        short = not is_exit and order.side is OrderSide.SELL  # opens or adds to a short
        if denial is None and short and not self.limits.allow_short:
            return self._deny(key, RiskCode.ZERO_SIZE, _no_short(position, order.quantity))
        denial = denial or first_denial(proposal, view, self.limits)
        if denial is not None:
            return self._deny(key, denial.code, Failure(denial.message, denial.figures))
        order = plan.order
        if is_exit:
            # The router sends it for no more than is held when it gets there.
            order = msgspec.structs.replace(order, reduce_only=True)
            self._track(order, plan.proposal.price, None, is_exit=True)
        else:
            self._count_entry(proposal, order, now)
        self.ctx.send(self.router, order)
        return order

    # -- kill switch and square-off -----------------------------------------------------------

    @handles(FlattenAll)
    def on_flatten_all(self, command: FlattenAll) -> FlattenOrdered:
        """The kill switch: cancel everything, close everything, halt."""
        return self._flatten(command.reason or "kill switch", halt=True)

    @handles(SquareOffDue)
    def on_square_off(self, due: SquareOffDue) -> None:
        day = date.fromordinal(due.day)
        self.squared_off[due.calendar] = day
        self._flatten(f"square-off of {due.calendar} on {day}", market=due.calendar, halt=False)
        self._schedule_square_off(due.calendar)

    def _flatten(self, reason: str, *, market: str | None = None, halt: bool) -> FlattenOrdered:
        now = self._now()
        exposure = self.exposure
        in_scope = [
            instrument_id
            for instrument_id in sorted(
                exposure.instruments_seen() | exposure.working_instruments()
            )
            if market is None or self._market_of(instrument_id) == market
        ]
        for instrument_id in [None] if market is None else in_scope:
            self._cancel_all(reason, instrument_id, now)
        tag = "flatten" if market is None else "square-off"
        orders: list[SubmitOrder] = []
        for instrument_id in in_scope:
            instrument = self.instruments.get(instrument_id)
            if instrument is None:
                self.ctx.log.error("cannot close a position: unknown instrument", id=instrument_id)
                continue
            # With the fills the ledger has not reported yet (the router sends no more than it
            # holds).
            closing = closing_orders(
                instrument, exposure.position_seen(instrument_id), tag=tag, now_ns=now
            )
            if closing:
                self._close(closing, self._reference_price(instrument_id), reason, now)
                orders.extend(closing)
        if halt:
            self.state = TradingState.HALTED  # at once: the echo on ``state`` comes later
            self.ctx.send(self.trading, HaltTrading(ts_event=now, ts_init=now, reason=reason))
        event = FlattenOrdered(
            ts_event=now,
            ts_init=now,
            reason=reason,
            calendar=market,
            closing_orders=orders,
            halted=halt,
        )
        self.ctx.log.warning("flatten", reason=reason, orders=len(orders), halted=halt)
        self.ctx.publish(TOPIC_RISK, event)
        return event

    def _schedule_square_off(self, market: str) -> None:
        now = self.ctx.now_ns()
        due = self.markets.next_square_off(market, now, self.squared_off.get(market))
        if isinstance(due, str):
            self.ctx.log.warning("no square-off scheduled", calendar=market, why=due)
        elif due is not None:
            day, at = due
            self.ctx.schedule_once(at - now, SquareOffDue(market, day.toordinal()))

    # -- what the supervisor follows ---------------------------------------------------------

    @handles(PositionChanged)
    def on_position(self, change: PositionChanged) -> None:
        closed = self.exposure.apply_position(change)
        if closed is not None and self.day.close_trade(closed, self._now()):
            self.ctx.log.warning("losing streak: entries paused", until=self.day.cooldown_until_ns)

    @handles(AccountChanged)
    def on_account(self, account: AccountChanged) -> None:
        self._now()  # a new day first: the report belongs to it
        limit = self.day.apply_account(account)
        if limit is not None:
            loss = figure(-self.day.daily_pnl)
            self._flatten(f"daily loss {loss} past the limit {figure(limit)}", halt=True)

    @handles(OrderFilled)
    def on_fill(self, fill: OrderFilled) -> None:
        self.exposure.fill(fill.client_order_id, fill.trade_id, fill.last_qty)
        signed = fill.last_qty if fill.side is OrderSide.BUY else -fill.last_qty
        self.exposure.fill_seen(fill.instrument, fill.trade_id, signed)

    @handles(OrderRejected)
    def on_rejected(self, event: OrderRejected) -> None:
        order = self.exposure.finish(event.client_order_id)
        if order is not None and not order.is_exit and not order.trade_ids:
            self.day.uncount_entry()

    @handles(OrderCanceled, OrderExpired)
    def on_order_done(self, event: OrderCanceled | OrderExpired) -> None:
        self.exposure.finish(event.client_order_id)

    @handles(OrderSubmitted, OrderAccepted)
    def on_order_working(self, event: OrderSubmitted | OrderAccepted) -> None:
        """Nothing to do: an order counts as working from when the supervisor sends it."""

    @handles(TradingStateChanged)
    def on_state(self, change: TradingStateChanged) -> None:
        self.state = change.state

    @handles(TradeTick)
    def on_trade(self, tick: TradeTick) -> None:
        self.last_prices[tick.instrument] = tick.price

    @handles(QuoteTick)
    def on_quote(self, quote: QuoteTick) -> None:
        self.last_prices[quote.instrument] = (quote.bid + quote.ask) / 2

    @handles(Bar)
    def on_bar(self, bar: Bar) -> None:
        self.last_prices[bar.instrument] = bar.close

    @handles(TickBatch)
    def on_batch(self, batch: TickBatch) -> None:
        for tick in batch.ticks:
            if isinstance(tick, TradeTick):
                self.on_trade(tick)
            else:
                self.on_quote(tick)

    @handles(DescribeRisk)
    def on_describe(self, _: DescribeRisk) -> RiskReport:
        now = self._now()
        day = self.day
        day.end_cooldown(now)
        usage = RiskUsage(
            open_trades=len(self.exposure.open_instruments()),
            open_orders=len(self.exposure.working),
            open_entries=sum(1 for o in self.exposure.working.values() if not o.is_exit),
            trades_today=day.trades_today,
            heat=self.exposure.open_risk(self.limits.default_stop_pct),
            max_heat=day.equity * decimal_of(self.limits.max_portfolio_heat_pct) / 100,
            order_tokens=self.bucket.available(now),
            consecutive_losses=day.consecutive_losses,
            cooldown_until_ns=day.cooldown_until_ns,
            equity=day.equity,
            start_equity=day.start_equity,
            daily_pnl=day.daily_pnl,
            daily_loss_limit=day.daily_loss_limit(),
            daily_loss_breached=day.daily_breached,
        )
        return RiskReport(
            ts_event=now,
            ts_init=now,
            state=self.state,
            limits=self.limits,
            usage=usage,
            recent_denials=list(self.denials) if self.limits.recent_denials else [],
        )

    # -- helpers ------------------------------------------------------------------------------

    def _now(self) -> int:
        now = self.ctx.now_ns()
        self.day.roll(now)
        return now

    def _view(self, instrument: Instrument, now: int) -> RiskView:
        day, exposure = self.day, self.exposure
        day.end_cooldown(now)
        is_open, note, cutoff = self.markets.status(instrument.calendar, now)
        open_instruments = exposure.open_instruments()
        return RiskView(
            now_ns=now,
            state=self.state,
            market_open=is_open,
            market_note=note,
            cutoff_ns=cutoff,
            last_price=self._last_price(instrument.id),
            position=exposure.position(instrument.id),
            working_quantity=exposure.working_entry_quantity(instrument.id),
            instrument_open=instrument.id in open_instruments,
            open_trades=len(open_instruments),
            trades_today=day.trades_today,
            equity=day.equity,
            cash=day.cash,
            working_notional=exposure.working_notional(),
            open_risk=exposure.open_risk(self.limits.default_stop_pct),
            order_tokens=self.bucket.available(now),
            consecutive_losses=day.consecutive_losses,
            cooldown_until_ns=day.cooldown_until_ns,
            daily_pnl=day.daily_pnl,
            start_equity=day.start_equity,
        )

    def _with_fees(self, proposal: OrderProposal, now: int) -> OrderProposal:
        """``proposal`` with the charges the broker's fee model puts on it (none known: as
        it was; a trade the model has no rate for is the broker's to refuse)."""
        if self.fees is None or proposal.quantity <= 0 or proposal.price <= 0:
            return proposal
        try:
            charges = self.fees.fees(
                side=proposal.side,
                quantity=proposal.quantity,
                price=proposal.price,
                instrument=proposal.instrument.id,
                ts_ns=now,
            ).total
        except FeeRateError:
            return proposal
        return dataclasses.replace(proposal, fees=charges)

    def _market_of(self, instrument_id: str) -> str | None:
        instrument = self.instruments.get(instrument_id)
        return None if instrument is None else instrument.calendar

    def _last_price(self, instrument_id: str) -> Decimal | None:
        # The feed's board is the freshest (written as ticks pass); prices from the topics
        # followed (bars) fill in where it has none.
        board = self.price_board.last(instrument_id) if self.price_board is not None else None
        price = board if board is not None else self.last_prices.get(instrument_id)
        # repr: the shortest decimal that is the float, the price as the feed printed it.
        return None if price is None or not price > 0 else Decimal(repr(price))

    def _reference_price(self, instrument_id: str) -> Decimal:
        """What a closing order is valued at: the last price, else the position's average."""
        last = self._last_price(instrument_id)
        return last if last is not None else self.exposure.average_price(instrument_id)

    def _count_entry(self, proposal: OrderProposal, order: SubmitOrder, now: int) -> None:
        """An approved entry spends a token, counts as a trade today and is tracked."""
        self.bucket.take(now)
        self.day.count_entry()
        if proposal.stop is not None:
            self.exposure.stops[order.instrument] = proposal.stop
        self._track(order, proposal.price, proposal.stop, is_exit=False)

    def _track(
        self, order: SubmitOrder, price: Decimal, stop: Decimal | None, *, is_exit: bool
    ) -> None:
        self.exposure.add_working(
            WorkingOrder(
                client_order_id=order.client_order_id,
                instrument=order.instrument,
                side=order.side,
                remaining=order.quantity,
                price=price,
                stop=stop,
                is_exit=is_exit,
                strategy=order.strategy,
            )
        )

    def _close(
        self,
        orders: list[SubmitOrder],
        reference: Decimal,
        reason: str,
        now: int,
        *,
        strategy: str | None = None,
    ) -> None:
        """Ask the router to close a position with ``orders`` (it cancels the instrument's
        working orders first, only ``strategy``'s if given, and never sends more than the
        position it holds)."""
        self.exposure.forget_working(orders[0].instrument, strategy)
        for order in orders:
            self._track(order, reference, None, is_exit=True)
        self.ctx.send(
            self.router,
            ClosePosition(
                ts_event=now, ts_init=now, orders=orders, reason=reason, only_strategy=strategy
            ),
        )

    def _cancel_all(self, reason: str, instrument: str | None, now: int) -> None:
        self.ctx.send(
            self.router,
            CancelAllOrders(ts_event=now, ts_init=now, instrument=instrument, reason=reason),
        )
        self.exposure.forget_working(instrument)

    def _remember(self, key: str, decision: Decision) -> None:
        self.decided[key] = decision
        if len(self.decided) > _DECISIONS_KEPT:
            self.decided.popitem(last=False)

    def _deny(self, key: tuple[str, str, str], code: RiskCode, failure: Failure) -> RiskDenied:
        """Refuse, publish the denial on ``risk`` and keep it for the report."""
        instrument, strategy, correlation_id = key
        now = self.ctx.now_ns()
        denied = RiskDenied(
            ts_event=now,
            ts_init=now,
            code=code,
            instrument=instrument,
            strategy=strategy,
            message=failure.message,
            figures=failure.figures,
            correlation_id=correlation_id,
        )
        self.ctx.log.info(
            "risk denied", code=code.value, instrument=instrument, why=failure.message
        )
        self.denials.append(denied)
        self.ctx.publish(TOPIC_RISK, denied)
        return denied


def _day_start(now_ns: int, tz: str) -> int:
    """Midnight of ``now_ns``'s day in ``tz`` (a day that skips midnight: 24 h before)."""
    try:
        return at_local_time(exchange_date(now_ns, tz), "00:00", tz)
    except ValueError:
        return now_ns - int(timedelta(days=1).total_seconds()) * 1_000_000_000


def _unknown(instrument: str) -> Failure:
    return Failure(f"{instrument} is not in the instrument master", {"instrument": instrument})


def _nothing_to_exit(intent: TradeIntent, position: int) -> Failure:
    return Failure(
        f"an exit-only {intent.side.value} with no position it reduces (a stop or another "
        "exit may have closed it)",
        {"position": figure(position)},
    )


def _no_short(position: int, quantity: int | None) -> Failure:
    figures = {"position": figure(position)}
    if quantity is not None:
        figures["quantity"] = figure(quantity)
    return Failure(
        "a SELL with no long position to exit, and shorting is off (allow_short)", figures
    )
