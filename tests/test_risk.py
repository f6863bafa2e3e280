"""The risk supervisor under both runtimes, with a recording ``router`` and ``trading``: an
intent becomes a sized bracket with deterministic ids or a published denial; REDUCING lets
exits through only, HALTED nothing; the kill switch, the daily loss limit and the square-off
cancel, close and (but for the square-off) halt; manual orders pass the same checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from actors.risk import NAME, RiskSupervisor
from engine.instruments import Instrument
from engine.messages.account import TOPIC_ACCOUNT, AccountChanged
from engine.messages.market import Bar, TradeTick
from engine.messages.orders import (
    TOPIC_FILLS,
    TOPIC_ORDERS,
    CancelAllOrders,
    ExitPlan,
    SubmitBracket,
)
from engine.messages.ranking import TOPIC_INTENTS, TOPIC_POSITIONS
from engine.messages.risk import TOPIC_RISK, RiskCode, RiskDenied
from engine.messages.runtime import TOPIC_STATE, TradingState, TradingStateChanged
from engine.messages.trading import (
    FlattenAll,
    HaltTrading,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderType,
    PositionChanged,
    SubmitOrder,
    TradeIntent,
)
from engine.orders.closing import ClosePosition
from engine.price_board import PriceBoard
from engine.risk.limits import RiskLimits
from engine.risk.messages import DescribeRisk, FlattenOrdered, RiskReport
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import MILLISECOND, SECOND, ActorHarness, Capture, Driver, recorder
from engine.timezones import from_exchange_time, to_exchange_time

D = Decimal
EQUITY = D("1000000")


def instrument(symbol: str, **changes: Any) -> Instrument:
    base = Instrument(
        id=f"NSE:{symbol}",
        symbol=symbol,
        exchange="NSE",
        currency="INR",
        tick_size=D("0.05"),
        time_zone="UTC",
        calendar="ALWAYS",  # open at any hour: the threaded runtime runs on the wall clock
    )
    return msgspec.structs.replace(base, **changes)


INSTRUMENTS = {i.id: i for i in (instrument("AAA"), instrument("BBB"), instrument("CCC"))}
# 1% of 1,000,000 risked per trade: 10,000 to the stop.
LIMITS = RiskLimits(risk_per_trade_pct=1.0)


def intent(
    symbol: str = "AAA",
    side: OrderSide = OrderSide.BUY,
    *,
    cid: str = "c1",
    entry: str | None = None,
    stop: str | None = "95",
    target: str | None = "110",
) -> TradeIntent:
    return TradeIntent(
        ts_event=1,
        ts_init=1,
        strategy="sma_fast",
        instrument=f"NSE:{symbol}",
        side=side,
        strength=0.7,
        entry=None if entry is None else D(entry),
        stop=None if stop is None else D(stop),
        target=None if target is None else D(target),
        correlation_id=cid,
        score=1.0,
    )


def bar(symbol: str, close: float) -> Bar:
    return Bar(
        ts_event=0,
        ts_init=0,
        instrument=f"NSE:{symbol}",
        interval="1m",
        ts_close=1,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1000.0,
        trade_count=10,
        vwap=close,
    )


def position(symbol: str, quantity: int, realized: str = "0") -> PositionChanged:
    return PositionChanged(
        ts_event=1,
        ts_init=1,
        instrument=f"NSE:{symbol}",
        quantity=quantity,
        avg_price=D("100") if quantity else D("0"),
        realized_pnl=D(realized),
        currency="INR",
    )


def account(realized: str = "0", unrealized: str = "0") -> AccountChanged:
    pnl = D(realized) + D(unrealized)
    return AccountChanged(
        ts_event=1,
        ts_init=1,
        currency="INR",
        cash=EQUITY + pnl,
        equity=EQUITY + pnl,
        realized_pnl=D(realized),
        unrealized_pnl=D(unrealized),
        fees=D("0"),
        open_positions=0,
    )


class Desk:
    """A started risk supervisor with recording ``router`` and ``trading`` and the ``risk``
    topic captured."""

    def __init__(
        self,
        driver: Driver,
        limits: RiskLimits = LIMITS,
        instruments: dict[str, Instrument] = INSTRUMENTS,
        **options: Any,
    ) -> None:
        self.driver = driver
        router_spec, self.router = recorder("router")
        trading_spec, self.trading = recorder("trading")
        self.capture = Capture(driver.runtime, [TOPIC_RISK])
        options.setdefault("equity", EQUITY)

        def factory() -> RiskSupervisor:
            return RiskSupervisor(limits, instruments, **options)

        driver.start(SupervisorSpec("root", [router_spec, trading_spec, ActorSpec(NAME, factory)]))
        driver.settle()
        for symbol, close in (("AAA", 100.0), ("BBB", 200.0)):
            self.publish(f"bars:NSE:{symbol}", bar(symbol, close))

    def publish(self, topic: str, *messages: Any) -> None:
        for message in messages:
            self.driver.runtime.publish(topic, message)
        self.driver.settle()

    def send(self, message: Any) -> None:
        self.driver.send(NAME, message)
        self.driver.settle()

    def ask(self, message: Any) -> Any:
        answer = self.driver.runtime.ask(NAME, message)
        self.driver.settle()  # what the answer set off (sends to router, trading)
        return answer

    def denials(self) -> list[RiskDenied]:
        return self.capture.messages(TOPIC_RISK, RiskDenied)

    def state(self, state: TradingState) -> None:
        change = TradingStateChanged(
            ts_event=1, ts_init=1, previous=TradingState.ACTIVE, state=state, reason="test"
        )
        self.publish(TOPIC_STATE, change)


def closes(desk: Desk) -> list[SubmitOrder]:
    """The orders of every ``ClosePosition`` sent to the router, in order."""
    return [o for m in desk.router if isinstance(m, ClosePosition) for o in m.orders]


# --- Entries ---------------------------------------------------------------------------------


def test_an_intent_becomes_a_bracket_sized_to_the_risk_with_deterministic_ids(
    driver: Driver,
) -> None:
    # Arrange
    desk = Desk(driver)

    # Act: published on intents (market entry at the last bar's close, 100)
    desk.publish(TOPIC_INTENTS, intent(cid="sma_fast-NSE:AAA-1"))

    # Assert: 10,000 risked to a stop 5 below: 2,000 shares
    [bracket] = desk.router
    assert isinstance(bracket, SubmitBracket)
    entry = bracket.entry
    assert entry.client_order_id == "sma_fast-NSE:AAA-1:entry"
    assert entry.correlation_id == "sma_fast-NSE:AAA-1"
    assert (entry.instrument, entry.side, entry.order_type) == (
        "NSE:AAA",
        OrderSide.BUY,
        OrderType.MARKET,
    )
    assert (entry.quantity, entry.price, entry.strategy) == (2000, None, "sma_fast")
    assert bracket.exits == ExitPlan(stop=D("95.00"), target=D("110.00"))
    assert bracket.entry_timeout_ns == 300 * SECOND
    assert desk.denials() == []


def test_an_entry_price_makes_a_limit_order_on_the_tick(driver: Driver) -> None:
    # Arrange
    desk = Desk(driver)

    # Act: a buy limit rounds down, its stop up (towards the price), its target up
    desk.send(intent(entry="100.07", stop="95.03", target="110.02"))

    # Assert: 10,000 / (100.05 - 95.05) = 2,000
    [bracket] = desk.router
    assert isinstance(bracket, SubmitBracket)
    assert (bracket.entry.order_type, bracket.entry.price) == (OrderType.LIMIT, D("100.05"))
    assert bracket.entry.quantity == 2000
    assert (bracket.exits.stop, bracket.exits.target) == (D("95.05"), D("110.05"))


def test_an_intent_sent_and_published_is_decided_once(driver: Driver) -> None:
    desk = Desk(driver)

    desk.send(intent())
    desk.publish(TOPIC_INTENTS, intent())

    assert len(desk.router) == 1


def test_a_refused_intent_is_published_with_its_code_and_figures(driver: Driver) -> None:
    # Arrange: BBB is banned
    desk = Desk(driver, msgspec.structs.replace(LIMITS, banned=["NSE:BBB"]))

    # Act
    answer = desk.ask(intent("BBB", cid="c9", stop="190", target=None))

    # Assert
    [denied] = desk.denials()
    assert answer == denied
    assert denied.code is RiskCode.INSTRUMENT_BANNED
    assert (denied.instrument, denied.strategy, denied.correlation_id) == (
        "NSE:BBB",
        "sma_fast",
        "c9",
    )
    assert denied.figures == {"instrument": "NSE:BBB"}
    assert desk.router == []


def test_an_entry_past_a_limit_is_refused_and_sends_nothing(driver: Driver) -> None:
    # Arrange: one trade open at most
    desk = Desk(driver, msgspec.structs.replace(LIMITS, max_open_trades=1))
    desk.send(intent("AAA", cid="c1"))

    # Act
    desk.send(intent("BBB", cid="c2", stop="190", target=None))

    # Assert
    [denied] = desk.denials()
    assert denied.code is RiskCode.MAX_OPEN_TRADES
    assert denied.figures == {"open_trades": "1", "max_open_trades": "1"}
    assert len(desk.router) == 1


def test_entries_past_the_order_rate_are_refused(driver: Driver) -> None:
    # Arrange: two at once, then one a minute
    limits = RiskLimits(sizing="fixed_qty", max_orders_per_s=1 / 60, order_burst=2)
    desk = Desk(driver, limits)

    # Act
    for n, symbol in enumerate(("AAA", "BBB", "AAA"), start=1):
        desk.send(intent(symbol, cid=f"c{n}", stop=None, target=None))

    # Assert
    assert [type(m) for m in desk.router] == [SubmitBracket, SubmitBracket]
    [denied] = desk.denials()
    assert denied.code is RiskCode.ORDER_RATE


def test_a_sell_with_nothing_to_exit_is_refused_when_long_only(driver: Driver) -> None:
    desk = Desk(driver)

    desk.send(intent(side=OrderSide.SELL, stop="105", target=None))

    [denied] = desk.denials()
    assert denied.code is RiskCode.ZERO_SIZE
    assert desk.router == []


def test_a_market_entry_without_a_price_seen_is_refused(driver: Driver) -> None:
    desk = Desk(driver)

    desk.send(intent("CCC"))

    [denied] = desk.denials()
    assert denied.code is RiskCode.NO_PRICE


def test_the_last_price_comes_from_ticks_too(driver: Driver) -> None:
    desk = Desk(driver)
    desk.publish(
        "ticks:NSE:CCC",
        TradeTick(ts_event=1, ts_init=1, instrument="NSE:CCC", price=50.0, size=1.0),
    )

    desk.send(intent("CCC", stop="49", target=None))

    [bracket] = desk.router
    assert isinstance(bracket, SubmitBracket)
    assert bracket.entry.quantity == 10000  # 10,000 risked to a stop 1 below
    assert driver.runtime.dead_letters == 0


# --- Exits and trading states ----------------------------------------------------------------


def test_a_sell_when_long_exits_the_whole_position(driver: Driver) -> None:
    # Arrange
    desk = Desk(driver)
    desk.publish(TOPIC_POSITIONS, position("AAA", 300))

    # Act
    desk.send(intent(side=OrderSide.SELL, cid="x1", stop=None, target=None))

    # Assert: one close for the router (it cancels the bracket's exits first, and sends no
    # more than the position it holds then): the whole position sold at market
    [close] = desk.router
    assert isinstance(close, ClosePosition) and close.reason == "exit x1"
    [order] = close.orders
    assert (order.client_order_id, order.side, order.order_type, order.quantity) == (
        "x1:exit",
        OrderSide.SELL,
        OrderType.MARKET,
        300,
    )


def test_an_exit_past_the_freeze_quantity_is_split(driver: Driver) -> None:
    # Arrange
    desk = Desk(driver, instruments={"NSE:AAA": instrument("AAA", freeze_quantity=1800)})
    desk.publish(TOPIC_POSITIONS, position("AAA", 4000))

    # Act
    desk.send(intent(side=OrderSide.SELL, cid="x1", stop=None, target=None))

    # Assert
    orders = closes(desk)
    assert [(o.client_order_id, o.quantity) for o in orders] == [
        ("x1:exit", 1800),
        ("x1:exit:2", 1800),
        ("x1:exit:3", 400),
    ]


def test_a_second_exit_while_one_works_is_refused(driver: Driver) -> None:
    desk = Desk(driver)
    desk.publish(TOPIC_POSITIONS, position("AAA", 300))
    desk.send(intent(side=OrderSide.SELL, cid="x1", stop=None, target=None))

    desk.send(intent(side=OrderSide.SELL, cid="x2", stop=None, target=None))

    [denied] = desk.denials()
    assert denied.code is RiskCode.ZERO_SIZE
    assert len(desk.router) == 1


def test_reducing_lets_exits_through_only(driver: Driver) -> None:
    # Arrange
    desk = Desk(driver)
    desk.publish(TOPIC_POSITIONS, position("AAA", 100))
    desk.state(TradingState.REDUCING)

    # Act
    desk.send(intent("BBB", cid="in", stop="190", target=None))
    desk.send(intent("AAA", OrderSide.SELL, cid="out", stop=None, target=None))

    # Assert
    [denied] = desk.denials()
    assert (denied.code, denied.correlation_id) == (RiskCode.REDUCING_ONLY, "in")
    assert [o.client_order_id for o in closes(desk)] == ["out:exit"]


def test_halted_sends_nothing_at_all(driver: Driver) -> None:
    desk = Desk(driver)
    desk.publish(TOPIC_POSITIONS, position("AAA", 100))
    desk.state(TradingState.HALTED)

    desk.send(intent("BBB", cid="in", stop="190", target=None))
    desk.send(intent("AAA", OrderSide.SELL, cid="out", stop=None, target=None))

    assert [d.code for d in desk.denials()] == [RiskCode.TRADING_HALTED] * 2
    assert desk.router == []


# --- Manual orders ---------------------------------------------------------------------------


def manual(cid: str, price: str | None, quantity: int = 10) -> SubmitOrder:
    return SubmitOrder(
        ts_event=1,
        ts_init=1,
        client_order_id=cid,
        instrument="NSE:AAA",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=quantity,
        price=None if price is None else D(price),
        strategy="manual",
        correlation_id=cid,
    )


def test_a_manual_order_passes_the_same_checks(driver: Driver) -> None:
    # Arrange
    desk = Desk(driver)

    # Act: a limit 4.97% from the last price passes (rounded to the tick); 5.5% does not
    sent = desk.ask(manual("m1", "104.97"))
    refused = desk.ask(manual("m2", "105.50"))

    # Assert
    assert isinstance(sent, SubmitOrder) and sent.price == D("104.95")
    assert desk.router == [sent]
    assert isinstance(refused, RiskDenied) and refused.code is RiskCode.FAT_FINGER
    assert refused.figures["price"] == "105.5"


def test_a_manual_sell_of_part_of_a_position_is_an_exit_while_reducing(driver: Driver) -> None:
    desk = Desk(driver)
    desk.publish(TOPIC_POSITIONS, position("AAA", 100))
    desk.state(TradingState.REDUCING)
    sell = msgspec.structs.replace(manual("m1", None, quantity=60), side=OrderSide.SELL)

    answer = desk.ask(sell)

    # Sent as reduce-only: the router sends no more than is held when it gets there.
    reducing = msgspec.structs.replace(sell, reduce_only=True)
    assert answer == reducing and desk.router == [reducing]


def test_a_short_entry_when_allowed_has_its_stop_above(driver: Driver) -> None:
    desk = Desk(driver, msgspec.structs.replace(LIMITS, allow_short=True))

    desk.send(intent("BBB", OrderSide.SELL, stop="204.99", target="190"))

    [bracket] = desk.router
    assert isinstance(bracket, SubmitBracket)
    # the stop rounded down, towards the price: 10,000 / (204.95 - 200) = 2,020.2
    assert bracket.exits.stop == D("204.95") and bracket.entry.quantity == 2020
    assert bracket.entry.side is OrderSide.SELL


@pytest.mark.parametrize("price", ["NaN", "-5", "0", "Infinity"])
def test_a_malformed_price_is_refused_not_a_crash(driver: Driver, price: str) -> None:
    desk = Desk(driver)

    from_api = desk.ask(manual("m1", price))
    from_strategy = desk.ask(intent(cid="c1", entry=price))

    assert isinstance(from_api, RiskDenied) and from_api.code is RiskCode.PRICE_BAND
    assert isinstance(from_strategy, RiskDenied) and from_strategy.code is RiskCode.PRICE_BAND
    assert desk.router == []


# --- Kill switch, daily loss, square-off -----------------------------------------------------


def test_the_kill_switch_cancels_closes_every_position_and_halts(driver: Driver) -> None:
    # Arrange
    desk = Desk(driver)
    desk.publish(TOPIC_POSITIONS, position("AAA", 100), position("BBB", -40))

    # Act
    answer = desk.ask(FlattenAll(ts_event=1, ts_init=1, reason="operator"))

    # Assert
    assert isinstance(answer, FlattenOrdered) and answer.halted
    cancel, *rest = desk.router
    assert isinstance(cancel, CancelAllOrders) and cancel.instrument is None
    assert all(isinstance(m, ClosePosition) and m.reason == "operator" for m in rest)
    assert closes(desk) == answer.closing_orders
    assert [(o.instrument, o.side, o.quantity, o.order_type) for o in closes(desk)] == [
        ("NSE:AAA", OrderSide.SELL, 100, OrderType.MARKET),
        ("NSE:BBB", OrderSide.BUY, 40, OrderType.MARKET),
    ]
    [halt] = desk.trading
    assert isinstance(halt, HaltTrading) and halt.reason == "operator"
    assert desk.capture.messages(TOPIC_RISK, FlattenOrdered) == [answer]
    # and nothing new goes out afterwards
    desk.send(intent("CCC", cid="late"))
    assert desk.denials()[-1].code is RiskCode.TRADING_HALTED


def test_the_daily_loss_limit_flattens_and_halts_past_it_not_at_it(driver: Driver) -> None:
    # Arrange: 2% of 1,000,000 = 20,000
    desk = Desk(driver)
    desk.publish(TOPIC_POSITIONS, position("AAA", 100))
    desk.publish(TOPIC_ACCOUNT, account())

    # Act / Assert: at the limit nothing happens
    desk.publish(TOPIC_ACCOUNT, account(realized="-15000", unrealized="-5000"))
    assert desk.router == [] and desk.trading == []

    desk.publish(TOPIC_ACCOUNT, account(realized="-15000", unrealized="-5000.01"))
    cancel, _ = desk.router
    assert isinstance(cancel, CancelAllOrders)
    [close] = closes(desk)
    assert (close.side, close.quantity) == (OrderSide.SELL, 100)
    [halt] = desk.trading
    assert isinstance(halt, HaltTrading) and "daily loss 20000.01" in halt.reason

    # Once a day: a further loss does not flatten again
    desk.publish(TOPIC_ACCOUNT, account(realized="-25000"))
    assert len(desk.trading) == 1


def test_a_losing_streak_pauses_entries(driver: Driver) -> None:
    desk = Desk(driver, msgspec.structs.replace(LIMITS, max_consecutive_losses=2))
    desk.publish(
        TOPIC_POSITIONS,
        position("BBB", 10),
        position("BBB", 0, realized="-100"),
        position("BBB", 10, realized="-100"),
        position("BBB", 0, realized="-250"),
    )

    desk.send(intent())

    [denied] = desk.denials()
    assert denied.code is RiskCode.LOSS_COOLDOWN
    assert denied.figures["consecutive_losses"] == "2"


def wall_clock_in(driver: Driver, delay_ns: int) -> str:
    """The UTC wall-clock time ``delay_ns`` from now, rounded up to a whole second."""
    moment = to_exchange_time(driver.runtime.now_ns() + delay_ns + SECOND, "UTC")
    return moment.strftime("%H:%M:%S")


def test_the_square_off_closes_the_market_positions_at_its_time(driver: Driver) -> None:
    # Arrange: the ALWAYS market squares off (and stops entries) a second or two from now
    at = wall_clock_in(driver, SECOND)
    limits = msgspec.structs.replace(LIMITS, square_off={"ALWAYS": at}, entry_cutoff={})
    desk = Desk(driver, limits)
    desk.publish(TOPIC_POSITIONS, position("AAA", 100))

    # Act
    driver.wait_for(lambda: len(desk.router) >= 2, what="the square-off")
    driver.settle()

    # Assert: no halt, the position closed at market
    cancel, _ = desk.router
    assert isinstance(cancel, CancelAllOrders) and cancel.instrument == "NSE:AAA"
    [close] = closes(desk)
    assert close.client_order_id.startswith("square-off:") and close.quantity == 100
    assert desk.trading == []
    [done] = desk.capture.messages(TOPIC_RISK, FlattenOrdered)
    assert done.calendar == "ALWAYS" and not done.halted
    # and no new entry after it
    if isinstance(driver.runtime, SimulatedRuntime):
        driver.runtime.advance(MILLISECOND)  # past the cutoff, not at it
    desk.send(intent("BBB", cid="late", stop="190", target=None))
    assert desk.denials()[-1].code is RiskCode.AFTER_CUTOFF


def test_nse_positions_are_squared_off_at_15_15_ist_and_entries_stop_at_15_00() -> None:
    # Arrange: a Monday, 14:59 IST, on the simulated clock
    nse = {
        "NSE:INFY": instrument("INFY", time_zone="Asia/Kolkata", calendar="NSE"),
    }
    start = from_exchange_time("2025-06-02T14:59:00", "Asia/Kolkata")
    h = ActorHarness(
        lambda: RiskSupervisor(LIMITS, nse, equity=EQUITY),
        name=NAME,
        peers=["router", "trading"],
        start_ns=start,
    )
    h.runtime.publish("bars:NSE:INFY", bar("INFY", 1500.0))
    h.runtime.publish(TOPIC_POSITIONS, position("INFY", 10))

    # Act / Assert: an entry at 14:59 passes, one at 15:00:01 does not
    h.send(intent("INFY", cid="early", stop="1490", target=None))
    assert isinstance(h.received("router")[-1], SubmitBracket)
    h.advance(61 * SECOND)
    h.send(intent("INFY", cid="late", stop="1490", target=None))
    assert h.published(TOPIC_RISK, RiskDenied)[-1].code is RiskCode.AFTER_CUTOFF

    h.advance(from_exchange_time("2025-06-02T15:15:00", "Asia/Kolkata") - h.now_ns())
    [done] = h.published(TOPIC_RISK, FlattenOrdered)
    assert done.ts_event == from_exchange_time("2025-06-02T15:15:00", "Asia/Kolkata")
    assert [(o.instrument, o.quantity) for o in done.closing_orders] == [("NSE:INFY", 10)]


# --- Following orders; the report ------------------------------------------------------------


def test_fills_on_orders_and_fills_are_counted_once(driver: Driver) -> None:
    # Arrange: a 2,000-share entry working
    desk = Desk(driver)
    desk.send(intent("AAA", cid="c1"))

    # Act: 1,500 filled, the fill seen on both topics
    fill = OrderFilled(
        ts_event=1,
        ts_init=1,
        client_order_id="c1:entry",
        venue_order_id="v1",
        trade_id="t1",
        instrument="NSE:AAA",
        strategy="sma_fast",
        side=OrderSide.BUY,
        last_qty=1500,
        last_price=D("100"),
        fee=D("0"),
        currency="INR",
    )
    desk.publish(TOPIC_ORDERS, fill)
    desk.publish(TOPIC_FILLS, fill)
    desk.publish(TOPIC_POSITIONS, position("AAA", 1500))

    # Assert: 500 still working, 1,500 held: the heat counts both to the stop (5 away)
    usage = desk.ask(DescribeRisk(ts_event=1, ts_init=1)).usage
    assert (usage.open_trades, usage.open_orders) == (1, 1)
    assert usage.heat == D("10000")


def test_the_report_shows_limits_usage_state_and_denials(driver: Driver) -> None:
    # Arrange
    desk = Desk(driver)
    desk.send(intent("AAA", cid="c1"))
    desk.send(intent("CCC", cid="c2"))  # no price: denied
    desk.publish(
        TOPIC_ORDERS,
        OrderAccepted(
            ts_event=1,
            ts_init=1,
            client_order_id="c1:entry",
            venue_order_id="v1",
            instrument="NSE:AAA",
            strategy="sma_fast",
        ),
    )

    # Act
    report = desk.ask(DescribeRisk(ts_event=1, ts_init=1))

    # Assert
    assert isinstance(report, RiskReport)
    assert report.state is TradingState.ACTIVE and report.limits == LIMITS
    usage = report.usage
    assert (usage.open_trades, usage.open_orders, usage.trades_today) == (1, 1, 1)
    assert usage.heat == D("10000")  # 2,000 shares, 5 to the stop
    assert usage.order_tokens == LIMITS.order_burst - 1
    assert [d.code for d in report.recent_denials] == [RiskCode.NO_PRICE]
    assert driver.runtime.dead_letters == 0


def test_an_entry_the_venue_rejects_no_longer_counts(driver: Driver) -> None:
    desk = Desk(driver)
    desk.send(intent("AAA", cid="c1"))

    desk.publish(
        TOPIC_ORDERS,
        OrderRejected(
            ts_event=1,
            ts_init=1,
            client_order_id="c1:entry",
            instrument="NSE:AAA",
            strategy="sma_fast",
            reason="insufficient funds",
        ),
    )

    usage = desk.ask(DescribeRisk(ts_event=1, ts_init=1)).usage
    assert (usage.open_trades, usage.open_orders, usage.trades_today) == (0, 0, 0)


@pytest.mark.parametrize("state", [TradingState.ACTIVE, TradingState.HALTED])
def test_the_state_at_start_can_be_read_from_the_engine(
    driver: Driver, state: TradingState
) -> None:
    desk = Desk(driver, state=lambda: state)

    assert desk.ask(DescribeRisk(ts_event=1, ts_init=1)).state is state


def test_the_feeds_price_board_is_the_freshest_last_price(driver: Driver) -> None:
    # The bars said 100; the board (written by the feed as ticks pass) says 120: an entry is
    # valued at 120, so the stop 5 below 100 (95) risks 25 a share: 400 shares for 10,000.
    board = PriceBoard()
    desk = Desk(driver, price_board=board, price_topics=("bars:*",))
    board.update("NSE:AAA", 120.0)

    desk.publish(TOPIC_INTENTS, intent(cid="board-1"))

    [bracket] = desk.router
    assert isinstance(bracket, SubmitBracket)
    assert bracket.entry.quantity == 400


def test_without_bracket_exits_an_entry_goes_alone_but_its_stop_still_sizes_it(
    driver: Driver,
) -> None:
    desk = Desk(driver, limits=msgspec.structs.replace(LIMITS, bracket_exits=False))

    desk.publish(TOPIC_INTENTS, intent(cid="alone-1"))

    [bracket] = desk.router
    assert isinstance(bracket, SubmitBracket)
    assert bracket.exits == ExitPlan()
    assert bracket.entry.quantity == 2000  # 10,000 risked to the intent's stop 5 below


# --- stop_loss_pct and exit-only intents -----------------------------------------------------


def test_stop_loss_pct_gives_each_entry_its_stop_whatever_bracket_exits_says(
    driver: Driver,
) -> None:
    limits = msgspec.structs.replace(LIMITS, stop_loss_pct=2.0)
    desk = Desk(driver, limits=msgspec.structs.replace(limits, bracket_exits=False))

    desk.publish(TOPIC_INTENTS, intent(cid="alone-1"))

    [bracket] = desk.router
    assert isinstance(bracket, SubmitBracket)
    assert bracket.exits == ExitPlan(stop_pct=D("2.0"))  # the stop only, no target
    assert bracket.entry.quantity == 5000  # 10,000 risked to 98.00, 2 % below the price 100


def test_an_exit_only_intent_while_its_entry_works_closes_what_it_may_have_filled(
    driver: Driver,
) -> None:
    # The entry went out, its fill is not seen yet: the exit is not refused; the router
    # cancels the entry and closes what filled, if anything.
    desk = Desk(driver)
    desk.send(intent(cid="in"))
    [entry] = desk.router

    desk.send(exit_intent("out"))

    assert desk.denials() == []
    [close] = desk.router[1:]
    assert isinstance(close, ClosePosition) and isinstance(entry, SubmitBracket)
    assert [(o.client_order_id, o.quantity) for o in close.orders] == [
        ("out:exit", entry.entry.quantity)
    ]


def test_an_exit_only_intent_with_nothing_to_exit_is_refused_even_when_shorts_are_allowed(
    driver: Driver,
) -> None:
    desk = Desk(driver, limits=msgspec.structs.replace(LIMITS, allow_short=True))

    desk.send(exit_intent("out"))

    [denied] = desk.denials()
    assert denied.code is RiskCode.ZERO_SIZE and "exit-only SELL" in denied.message
    assert desk.router == []


def exit_intent(cid: str) -> TradeIntent:
    return msgspec.structs.replace(
        intent(side=OrderSide.SELL, cid=cid, stop=None, target=None), exit_only=True
    )
