"""StrategyRunner: warm-up, signals, ordering, fills, and saving and restoring state."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import pytest

from engine.bars.interval import DAY_NS, MINUTE_NS
from engine.indicators import Indicator, ema, session_vwap, sma, supertrend
from engine.messages.market import Bar
from engine.messages.trading import LiquiditySide, OrderFilled, OrderSide
from engine.signal_prices import SignalPrices
from engine.strategy import Strategy, StrategyContext, StrategyParams
from engine.strategy_runner import StrategyRunner
from tests.strategy_support import INSTRUMENT, START_NS, Harness, bars_from_closes, make_bar


class EveryBarParams(StrategyParams, frozen=True, kw_only=True):
    n: int = 5
    extra: int = 0


class EveryBar(Strategy[EveryBarParams]):
    """Signals BUY on every bar, with the prices and features the test sets."""

    name = "every_bar"
    summary = "test strategy"
    rule = "BUY on every bar"
    Params = EveryBarParams

    def __init__(self, params: EveryBarParams) -> None:
        super().__init__(params)
        self.calls: list[str] = []
        self.signal_options: dict[str, Any] = {}
        self.signals_per_bar = 1
        self.fail = False

    def indicators(self) -> Mapping[str, Indicator]:
        return {"avg": sma(self.params.n)}

    def min_bars(self) -> int:
        return self.params.extra

    def on_start(self, ctx: StrategyContext) -> None:
        self.calls.append("start")

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        self.calls.append(f"bar {bar.close:g}")
        if self.fail:
            raise RuntimeError("strategy bug")
        self.state["bars"] = self.state.get("bars", 0) + 1
        for _ in range(self.signals_per_bar):
            ctx.signal(OrderSide.BUY, 0.7, **self.signal_options)

    def on_fill(self, ctx: StrategyContext, fill: OrderFilled) -> None:
        self.calls.append(f"fill {ctx.position}")

    def on_timer(self, ctx: StrategyContext, key: str) -> None:
        ctx.signal(OrderSide.SELL, 2.0, reason=f"timer {key}")

    def on_session_open(self, ctx: StrategyContext, session_open_ns: int) -> None:
        self.calls.append(f"open {session_open_ns}")


def _fill(trade_id: str, side: OrderSide, qty: int, strategy: str = "s1") -> OrderFilled:
    return OrderFilled(
        ts_event=START_NS,
        ts_init=START_NS,
        client_order_id="c1",
        venue_order_id="v1",
        trade_id=trade_id,
        instrument=INSTRUMENT,
        strategy=strategy,
        side=side,
        last_qty=qty,
        last_price=Decimal("100"),
        fee=Decimal("0"),
        currency="INR",
        liquidity_side=LiquiditySide.TAKER,
    )


def _harness(n: int = 5, extra: int = 0, **options: Any) -> tuple[Harness, EveryBar]:
    strategy = EveryBar(EveryBarParams(n=n, extra=extra))
    return Harness(strategy, **options), strategy


def test_the_runner_is_a_strategy_context() -> None:
    harness, _ = _harness()
    context: StrategyContext = harness.runner  # checked by mypy

    assert context.instrument == INSTRUMENT and context.interval == "1m"


def test_warmup_bars_are_the_indicators_span_plus_min_bars() -> None:
    harness, _ = _harness(n=5, extra=3)

    assert harness.runner.warmup_bars == 8
    assert harness.runner.capacity == 8


def test_signals_are_held_back_until_warm() -> None:
    harness, strategy = _harness(n=5)

    harness.feed(bars_from_closes([100.0 + i for i in range(8)]))

    assert harness.signalled() == [(4, "BUY"), (5, "BUY"), (6, "BUY"), (7, "BUY")]
    assert harness.runner.held_back == 4
    assert len([c for c in strategy.calls if c.startswith("bar")]) == 8  # hooks ran throughout


def test_warm_up_fills_window_and_indicators_without_hooks() -> None:
    harness, strategy = _harness(n=5)
    history = bars_from_closes([100.0 + i for i in range(12)])

    harness.runner.warm_up(history)

    assert strategy.calls == [] and harness.signals == []
    assert harness.runner.warm and harness.runner.bar_count == 12
    assert harness.runner.value("avg") == pytest.approx(np.mean([107, 108, 109, 110, 111]))
    np.testing.assert_array_equal(harness.runner.series("close"), [107, 108, 109, 110, 111])

    harness.runner.start()
    harness.feed([make_bar(12, 112.0)])

    assert strategy.calls == ["start", "bar 112"]
    assert harness.signalled() == [(12, "BUY")]


def test_signal_fields() -> None:
    harness, strategy = _harness(n=2, tick_size=0.05)
    strategy.signals_per_bar = 2
    strategy.signal_options = {
        "entry": 100.03,
        "stop": 99.97,
        "target": 101.025,  # exactly half a tick: rounds to the even tick
        "features": {"a": 1, "nan": float("nan")},
        "reason": "because",
    }
    bars = bars_from_closes([100.0, 100.0])

    harness.feed(bars)

    first, second = harness.signals
    assert first.ts_event == bars[1].ts_close
    assert first.ts_init == bars[1].ts_close + 1_000_000
    assert (first.strategy, first.instrument, first.side) == ("s1", INSTRUMENT, OrderSide.BUY)
    assert first.strength == 0.7
    assert (first.entry, first.stop, first.target) == (
        Decimal("100.05"),
        Decimal("99.95"),
        Decimal("101.00"),
    )
    assert first.valid_until_ns == bars[1].ts_close + MINUTE_NS
    assert first.features == {"a": 1.0} and isinstance(first.features["a"], float)
    assert first.reason == "because"
    assert first.correlation_id == f"s1:{INSTRUMENT}:{bars[1].ts_close}:0"
    assert second.correlation_id == f"s1:{INSTRUMENT}:{bars[1].ts_close}:1"


def test_prices_without_tick_size_keep_the_float_repr_and_valid_for_is_honoured() -> None:
    harness, strategy = _harness(n=2)
    strategy.signal_options = {"entry": 0.1 + 0.2, "valid_for_ns": 5}

    harness.feed(bars_from_closes([1.0, 1.0]))

    assert harness.signals[0].entry == Decimal("0.30000000000000004")
    assert harness.signals[0].valid_until_ns == harness.signals[0].ts_event + 5


def test_a_timer_signal_is_timed_by_the_clock_and_strength_is_clipped() -> None:
    harness, _ = _harness(n=2)
    harness.feed(bars_from_closes([1.0, 1.0]))
    harness.now_ns = START_NS + 10 * MINUTE_NS + 7

    harness.runner.on_timer("later")

    signal = harness.signals[-1]
    assert (signal.side, signal.strength, signal.reason) == (OrderSide.SELL, 1.0, "timer later")
    assert signal.ts_event == harness.now_ns
    assert signal.valid_until_ns == harness.now_ns + MINUTE_NS


def test_bad_signal_arguments_raise_even_before_warm() -> None:
    harness, strategy = _harness(n=5)
    strategy.signal_options = {"stop": float("inf")}

    with pytest.raises(ValueError, match="stop price inf is not finite"):
        harness.feed(bars_from_closes([1.0]))


def test_older_duplicate_and_foreign_bars_are_ignored_and_counted() -> None:
    harness, strategy = _harness(n=2)
    bars = bars_from_closes([1.0, 2.0, 3.0])

    harness.feed([bars[0], bars[1], bars[0], bars[1]])
    harness.feed([make_bar(2, 9.0, instrument="NSE:OTHER"), make_bar(2, 9.0, interval="5m")])
    harness.feed([bars[2]])

    assert [c for c in strategy.calls] == ["bar 1", "bar 2", "bar 3"]
    assert harness.runner.bar_count == 3
    assert harness.runner.ignored == {"out_of_order": 2, "other_instrument": 1, "other_interval": 1}


def test_fills_update_the_position_once() -> None:
    harness, strategy = _harness()

    harness.runner.on_fill(_fill("t1", OrderSide.BUY, 10))
    harness.runner.on_fill(_fill("t2", OrderSide.SELL, 4))
    harness.runner.on_fill(_fill("t2", OrderSide.SELL, 4))
    harness.runner.on_fill(_fill("t3", OrderSide.BUY, 5, strategy="other"))

    assert harness.runner.position == 6
    assert strategy.calls == ["fill 10", "fill 6"]
    assert harness.runner.ignored == {"duplicate": 1, "other_strategy": 1}


def test_a_strategy_exception_propagates() -> None:
    harness, strategy = _harness()
    strategy.fail = True

    with pytest.raises(RuntimeError, match="strategy bug"):
        harness.feed(bars_from_closes([1.0]))


def test_snapshot_restore_round_trip() -> None:
    harness, strategy = _harness(n=3)
    bars = bars_from_closes([100.0 + i for i in range(10)])
    harness.feed(bars[:8])
    harness.runner.on_fill(_fill("t1", OrderSide.BUY, 7))
    saved = harness.runner.snapshot()

    again, restored_strategy = _harness(n=3)
    again.runner.warm_up(harness.runner.kept_bars())
    again.runner.restore(saved)

    assert again.runner.snapshot() == saved
    assert restored_strategy.state == strategy.state == {"bars": 8}
    assert again.runner.position == 7 and again.runner.bar_count == 8
    # The kept bars are enough for the newest value (and min_bars more), not for every value
    # the window holds.
    assert again.runner.value("avg") == harness.runner.value("avg")

    # A replay of bars the first runner saw is not counted twice; new bars go on as before.
    again.feed(bars[6:])
    harness.feed(bars[8:])
    assert again.runner.bar_count == harness.runner.bar_count == 10
    assert again.runner.ignored["out_of_order"] == 2
    assert again.signals == harness.signals[-2:]
    assert again.runner.snapshot() == harness.runner.snapshot()


def test_restore_counts_warmed_bars_newer_than_the_snapshot() -> None:
    harness, _ = _harness(n=3)
    bars = bars_from_closes([100.0 + i for i in range(10)])
    harness.feed(bars[:6])
    saved = harness.runner.snapshot()

    again, _ = _harness(n=3)
    again.runner.warm_up(bars)
    again.runner.restore(saved)

    assert again.runner.bar_count == 10


def test_restore_refuses_another_strategy_or_parameters() -> None:
    harness, _ = _harness(n=3)
    harness.feed(bars_from_closes([1.0, 2.0]))
    saved = harness.runner.snapshot()
    other_params, _ = _harness(n=4)

    with pytest.raises(ValueError, match=r"snapshot params is \{'long_only': True, 'n': 3"):
        other_params.runner.restore(saved)
    with pytest.raises(ValueError, match="snapshot strategy_id is 's1'"):
        Harness(EveryBar(EveryBarParams(n=3)), strategy_id="s2").runner.restore(saved)
    with pytest.raises(ValueError, match="not a snapshot"):
        harness.runner.restore(b"\x01garbage")


def test_state_that_is_not_json_like_cannot_be_saved() -> None:
    harness, strategy = _harness()
    strategy.state["when"] = object()

    with pytest.raises(TypeError, match="state must hold only numbers"):
        harness.runner.snapshot()


def test_kept_bars_are_the_window_oldest_first() -> None:
    harness, _ = _harness(n=3)
    bars = bars_from_closes([100.0 + i for i in range(10)])
    harness.runner.warm_up(bars)

    kept = harness.runner.kept_bars()

    assert [msgspec.structs.replace(bar, ts_init=0) for bar in kept] == [
        msgspec.structs.replace(bar, ts_init=0) for bar in bars[-3:]
    ]


def test_session_key_is_the_utc_day_by_default_or_what_the_host_says() -> None:
    harness, _ = _harness(n=2)
    harness.feed([make_bar(0, 1.0), make_bar(0, 1.0, start_ns=START_NS + DAY_NS)])
    assert harness.runner.session == (START_NS + DAY_NS) // DAY_NS

    runner = StrategyRunner(
        EveryBar(EveryBarParams(n=2)),
        strategy_id="s1",
        instrument=INSTRUMENT,
        interval="1m",
        emit=lambda signal: None,
        clock=lambda: 0,
        schedule=lambda delay, key: None,
        log=harness.runner.log,
        session_of=lambda ts: 42,
    )
    runner.warm_up([make_bar(0, 1.0)])
    assert runner.session == 42
    np.testing.assert_array_equal(runner.series("session"), [42])


def test_timers_and_session_hooks_reach_the_strategy() -> None:
    harness, strategy = _harness()

    harness.runner.schedule(5, "k")
    harness.runner.session_open(123)

    assert harness.timers == [(5, "k")]
    assert strategy.calls == ["open 123"]
    with pytest.raises(ValueError, match="negative"):
        harness.runner.schedule(-1, "k")


def test_tick_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tick size 0 must be a number > 0"):
        _harness(tick_size=0)


def test_carry_over_hands_state_and_position_to_a_reloaded_runner() -> None:
    old, old_strategy = _harness(n=3)
    bars = bars_from_closes([100.0 + i for i in range(8)])
    old.feed(bars[:6])
    old.runner.on_fill(_fill("t1", OrderSide.BUY, 3))

    new, new_strategy = _harness(n=4)
    new.runner.warm_up(old.runner.kept_bars())
    new.runner.carry_over(old.runner)
    new.feed(bars[5:])

    assert new_strategy.state == {"bars": 8} and new_strategy.state is not old_strategy.state
    assert new.runner.position == 3 and new.runner.bar_count == 8
    assert new.runner.ignored["out_of_order"] == 1
    assert new.runner.value("avg") == pytest.approx(np.mean([104, 105, 106, 107]))


def test_signal_prices_land_on_the_tick_with_its_decimal_places() -> None:
    on_tick, free = SignalPrices(0.05), SignalPrices(None)

    assert str(on_tick.price(100.0, "entry")) == "100.00"
    assert on_tick.price(100.07, "entry") == Decimal("100.05")
    assert on_tick.price(None, "stop") is None
    assert free.price(0.1, "entry") == Decimal("0.1")
    with pytest.raises(ValueError, match="target price nan is not finite"):
        free.price(float("nan"), "target")


class ManyIndicators(Strategy[StrategyParams]):
    name = "many"
    summary = "test strategy"
    rule = "none"

    def indicators(self) -> Mapping[str, Indicator]:
        return {"ema": ema(10), "st": supertrend(5, 2.0), "vwap": session_vwap(), "sma": sma(4)}


def test_warm_up_gives_the_values_bar_by_bar_feeding_gives() -> None:
    closes = [100.0 + 5 * math.sin(i / 7) + (i % 3) for i in range(600)]
    bars = [
        make_bar(i, c, high=c + 1, low=c - 1, volume=100.0 + i % 5, vwap=c - 0.1)
        for i, c in enumerate(closes)
    ]
    warmed = Harness(ManyIndicators(StrategyParams()))
    fed = Harness(ManyIndicators(StrategyParams()))

    warmed.runner.warm_up(bars)
    fed.feed(bars)

    names = ("ema", "st.line", "st.direction", "vwap", "sma")
    for name in names:
        np.testing.assert_array_equal(warmed.runner.values(name), fed.runner.values(name))
    assert not np.isnan(warmed.runner.values("ema")).any()


@pytest.mark.parametrize(("long_only", "exit_only"), [(True, True), (False, False)])
def test_a_sell_of_a_long_only_strategy_may_only_exit(long_only: bool, exit_only: bool) -> None:
    strategy = EveryBar(EveryBarParams(n=2, long_only=long_only))
    harness = Harness(strategy)
    harness.feed(bars_from_closes([100.0, 100.0]))
    harness.runner.on_timer("sell")  # the test strategy sells on a timer

    buy, sell = harness.signals[-2:]
    assert (buy.side, buy.exit_only) == (OrderSide.BUY, False)
    assert (sell.side, sell.exit_only) == (OrderSide.SELL, exit_only)
