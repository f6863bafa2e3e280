"""The strategy host under both runtimes: warm-up from history, bars that wait for it, a crash
restored to the state before it without disturbing the others, fills, reloads at a bar
boundary, and session hooks."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from actors.strategies.sma_cross import SmaCross, SmaCrossParams
from actors.strategy_host import ReloadAnswer, StrategyHost, StrategyPlan
from engine.bar_history import ListHistory
from engine.indicators import Indicator, sma
from engine.messages.market import Bar
from engine.messages.ranking import TOPIC_SIGNALS
from engine.messages.strategy import TOPIC_STRATEGIES, ReloadStrategy, StrategyReloaded
from engine.messages.trading import LiquiditySide, OrderFilled, OrderSide, Signal, fills_topic
from engine.spec import ActorSpec, SupervisorSpec
from engine.strategy import Strategy, StrategyContext, StrategyParams
from engine.strategy_vault import StrategyVault
from engine.testing import Capture, Driver
from tests.strategy_support import START_NS, make_bar

MINUTE = 60_000_000_000
INFY, TCS = "NSE:INFY", "NSE:TCS"


class TallyParams(StrategyParams, frozen=True, kw_only=True):
    period: int = 3


class Tally(Strategy[TallyParams]):
    """Counts its bars in ``state``, signals on every warm bar, and can be told to raise."""

    name = "tally"
    summary = "test strategy"
    rule = "a BUY on every warm bar"
    Params = TallyParams

    fail_on: ClassVar[set[tuple[str, int]]] = set()
    """(instrument, bar start) to raise on, once each (shared by every incarnation)."""
    started_with: ClassVar[list[tuple[str, dict[str, Any], int]]] = []
    """(instrument, state, position) seen by each ``on_start``."""
    sessions: ClassVar[list[tuple[str, int]]] = []

    def indicators(self) -> Mapping[str, Indicator]:
        return {"avg": sma(self.params.period)}

    def on_start(self, ctx: StrategyContext) -> None:
        Tally.started_with.append((ctx.instrument, dict(self.state), ctx.position))

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        key = (bar.instrument, bar.ts_event)
        if key in Tally.fail_on:
            Tally.fail_on.discard(key)
            raise RuntimeError(f"injected failure at {bar.ts_event}")
        self.state["bars"] = self.state.get("bars", 0) + 1
        self.state["last_close"] = bar.close
        ctx.signal(OrderSide.BUY, 0.5, features={"avg": ctx.value("avg")}, reason="tally")

    def on_session_open(self, ctx: StrategyContext, session_open_ns: int) -> None:
        Tally.sessions.append(("open", session_open_ns))

    def on_session_close(self, ctx: StrategyContext, session_close_ns: int) -> None:
        Tally.sessions.append(("close", session_close_ns))


@pytest.fixture(autouse=True)
def _fresh_tally() -> None:
    Tally.fail_on.clear()
    Tally.started_with.clear()
    Tally.sessions.clear()


def bar(i: int, instrument: str = INFY, close: float | None = None) -> Bar:
    return make_bar(i, 100.0 + i if close is None else close, instrument=instrument)


def plan(instrument: str = INFY, **params: Any) -> StrategyPlan:
    return StrategyPlan("tally", Tally, TallyParams(**params), instrument, "1m")


def start_hosts(
    driver: Driver,
    plans: list[StrategyPlan],
    *,
    history: list[Bar] | None = None,
    vault: StrategyVault | None = None,
    **options: Any,
) -> StrategyVault:
    vault = vault or StrategyVault()
    source = ListHistory(history) if history is not None else None
    if driver.simulated:  # the simulated clock starts at 0: move it past the test's bars
        driver.runtime.run(until_ns=START_NS + 100 * MINUTE)  # type: ignore[attr-defined]

    def spec(p: StrategyPlan) -> ActorSpec:
        return ActorSpec(p.name, lambda: StrategyHost(p, vault=vault, history=source, **options))

    driver.start(SupervisorSpec("strategies", [spec(p) for p in plans], intensity=20))
    driver.settle()
    return vault


def publish(driver: Driver, bars: list[Bar]) -> None:
    for b in bars:
        driver.runtime.publish(f"bars:{b.instrument}", b)
        driver.settle()


def signals(capture: Capture, instrument: str = INFY) -> list[Signal]:
    return [s for s in capture.messages(TOPIC_SIGNALS, Signal) if s.instrument == instrument]


def incarnation(driver: Driver, name: str) -> int:
    [status] = [a for a in driver.runtime.describe().actors if a.name == name]
    return status.incarnation


def test_warms_up_from_history_then_signals_on_the_first_live_bar(driver: Driver) -> None:
    # Arrange: three bars of history make SMA(3) warm.
    capture = Capture(driver.runtime, [TOPIC_SIGNALS])
    vault = start_hosts(driver, [plan()], history=[bar(0), bar(1), bar(2)])

    # Act
    publish(driver, [bar(3)])

    # Assert: history filled the window without hooks; the live bar is the first on_bar.
    [signal] = signals(capture)
    assert signal.ts_event == bar(3).ts_close
    assert signal.features == {"avg": pytest.approx((101 + 102 + 103) / 3)}
    assert Tally.started_with == [(INFY, {}, 0)]
    # The vault keeps the window's worth (3 bars) for a restart.
    assert [b.ts_event for b in vault.memory(plan().name).bars] == [
        bar(i).ts_event for i in (1, 2, 3)
    ]


def test_without_history_signals_wait_until_the_window_is_warm(driver: Driver) -> None:
    capture = Capture(driver.runtime, [TOPIC_SIGNALS])
    start_hosts(driver, [plan()])

    publish(driver, [bar(i) for i in range(5)])

    assert [s.ts_event for s in signals(capture)] == [bar(i).ts_close for i in (2, 3, 4)]


def test_a_crash_restores_the_state_before_it_and_leaves_the_others_alone(
    driver: Driver,
) -> None:
    # Arrange: two hosts; INFY's strategy raises once on bar 4.
    capture = Capture(driver.runtime, [TOPIC_SIGNALS])
    vault = start_hosts(driver, [plan(INFY), plan(TCS)])
    publish(driver, [bar(i, INFY) for i in range(4)] + [bar(i, TCS) for i in range(6)])
    before = vault.memory(plan(INFY).name).snapshot
    Tally.fail_on.add((INFY, bar(4).ts_event))

    # Act
    publish(driver, [bar(4, INFY)])
    driver.wait_for(lambda: incarnation(driver, plan(INFY).name) == 2, what="INFY restarted")
    driver.settle()
    publish(driver, [bar(5, INFY)])

    # Assert: the new incarnation started from the state after bar 3 (4 bars, close 103)...
    assert Tally.started_with[-1] == (INFY, {"bars": 4, "last_close": 103.0}, 0)
    assert before is not None
    # ...handled the bar that failed (redelivered) and the next, exactly once each.
    assert [s.ts_event for s in signals(capture, INFY)] == [bar(i).ts_close for i in (2, 3, 4, 5)]
    assert incarnation(driver, plan(TCS).name) == 1
    assert len(signals(capture, TCS)) == 4


def test_fills_of_its_strategy_move_its_position(driver: Driver) -> None:
    start_hosts(driver, [plan()])
    now = driver.runtime.now_ns()

    def fill(strategy: str, side: OrderSide, qty: int, trade_id: str) -> OrderFilled:
        return OrderFilled(
            ts_event=now,
            ts_init=now,
            client_order_id="o1",
            venue_order_id="v1",
            trade_id=trade_id,
            instrument=INFY,
            strategy=strategy,
            side=side,
            last_qty=qty,
            last_price=Decimal("100"),
            fee=Decimal("0"),
            currency="INR",
            liquidity_side=LiquiditySide.NO_LIQUIDITY_SIDE,
        )

    for message in (
        fill("tally", OrderSide.BUY, 10, "t1"),
        fill("other", OrderSide.BUY, 99, "t2"),
        fill("tally", OrderSide.SELL, 4, "t3"),
        fill("tally", OrderSide.SELL, 4, "t3"),  # the same execution again
    ):
        driver.runtime.publish(fills_topic(INFY), message)
    driver.settle()

    # A restart reports the position it restored.
    Tally.fail_on.add((INFY, bar(0).ts_event))
    publish(driver, [bar(0)])
    driver.wait_for(lambda: len(Tally.started_with) == 2, what="a restart")
    assert Tally.started_with[-1][2] == 6


def test_a_reload_is_refused_with_its_reason_or_applied_at_the_next_bar(driver: Driver) -> None:
    # Arrange
    capture = Capture(driver.runtime, [TOPIC_SIGNALS, TOPIC_STRATEGIES])
    start_hosts(driver, [plan(period=3)])
    publish(driver, [bar(i) for i in range(4)])
    now = driver.runtime.now_ns()

    def reload(**params: Any) -> ReloadAnswer:
        command = ReloadStrategy(
            ts_event=now, ts_init=now, strategy_id="tally", instrument=INFY, params=params
        )
        answer = driver.runtime.ask(plan().name, command)
        assert isinstance(answer, ReloadAnswer)
        return answer

    # Act / Assert: a bad value is refused, naming it; nothing changes.
    refused = reload(period="three")
    assert refused.applied is None and refused.refused is not None
    assert "period" in refused.refused
    unknown = reload(periods=2)
    assert unknown.refused is not None and "periods" in unknown.refused
    assert capture.messages(TOPIC_STRATEGIES) == []

    # A good one answers at once and applies before the next bar, state carried.
    accepted = reload(period=2)
    assert accepted.applied == {"long_only": True, "period": 2}
    assert capture.messages(TOPIC_STRATEGIES) == []
    publish(driver, [bar(4)])
    [reloaded] = capture.messages(TOPIC_STRATEGIES, StrategyReloaded)
    assert reloaded.params == {"long_only": True, "period": 2}
    last = signals(capture)[-1]
    assert last.ts_event == bar(4).ts_close
    assert last.features == {"avg": pytest.approx((103 + 104) / 2)}


def test_session_hooks_open_before_the_first_bar_and_close_at_the_close(
    driver: Driver,
) -> None:
    # Arrange: a session of 10 minutes from START_NS, already over on the clock of a
    # threaded runtime (its close timer fires at once) and reached by the simulated one.
    close = START_NS + 10 * MINUTE

    def sessions(ts_ns: int) -> tuple[int, int] | None:
        return (START_NS, close) if START_NS <= ts_ns < close else None

    start_hosts(driver, [plan()], sessions=sessions)

    # Act
    publish(driver, [bar(0), bar(1)])
    if driver.simulated:
        driver.runtime.run(until_ns=close + MINUTE)  # type: ignore[attr-defined]
    driver.wait_for(lambda: ("close", close) in Tally.sessions, what="the session close")

    # Assert
    assert Tally.sessions == [("open", START_NS), ("close", close)]


def test_a_built_in_strategy_runs_in_a_host(driver: Driver) -> None:
    # sma_cross(2, 3): a step up after a flat run is a cross up on the step's bar.
    capture = Capture(driver.runtime, [TOPIC_SIGNALS])
    built_in = StrategyPlan("sma_fast", SmaCross, SmaCrossParams(fast=2, slow=3), INFY, "1m")
    vault = StrategyVault()
    driver.start(
        SupervisorSpec(
            "strategies",
            [ActorSpec(built_in.name, lambda: StrategyHost(built_in, vault=vault))],
        )
    )
    driver.settle()

    publish(driver, [bar(i, close=100.0) for i in range(5)] + [bar(5, close=103.0)])

    [signal] = signals(capture)
    assert (signal.side, signal.strategy, signal.ts_event) == (
        OrderSide.BUY,
        "sma_fast",
        bar(5).ts_close,
    )
