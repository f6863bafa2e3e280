"""Each built-in strategy on a series built so that the bars where it must signal are known in
advance, run through the StrategyRunner."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from actors.strategies import BUILT_INS, strategy_class
from actors.strategies.bollinger_reversion import BollingerReversion, BollingerReversionParams
from actors.strategies.macd_cross import MacdCross, MacdCrossParams
from actors.strategies.opening_range_breakout import (
    OpeningRangeBreakout,
    OpeningRangeBreakoutParams,
)
from actors.strategies.rsi_threshold import RsiThreshold, RsiThresholdParams
from actors.strategies.sma_cross import SmaCross, SmaCrossParams
from actors.strategies.supertrend_volume import SupertrendVolume, SupertrendVolumeParams
from actors.strategies.trend_pullback import TrendPullback, TrendPullbackParams
from actors.strategies.vwap_reversion import VwapReversion, VwapReversionParams
from engine.bars.interval import DAY_NS
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy
from tests.strategy_support import START_NS, Harness, bars_from_closes, make_bar

DAY_BARS = DAY_NS // 60_000_000_000
"""Index of the first bar of the next day, counted in minutes from ``START_NS``."""


def _closes(changes: list[float], start: float = 100.0) -> list[float]:
    """Closes from a start and a change per bar (bar i+1 = bar i + changes[i])."""
    closes = [start]
    for change in changes:
        closes.append(closes[-1] + change)
    return closes


def _alternating(n: int) -> list[float]:
    """+1, -1, +1, ...: a market going nowhere (RSI about 50)."""
    return [1.0 if i % 2 == 0 else -1.0 for i in range(n)]


def _run(strategy: Strategy[Any], bars: list[Bar]) -> Harness:
    harness = Harness(strategy)
    harness.runner.start()
    harness.feed(bars)
    return harness


def _assert_none_before_warm(harness: Harness) -> None:
    first_warm_bar = harness.runner.warmup_bars - 1
    assert all(bar >= first_warm_bar for bar, _ in harness.signalled())


# --- sma_cross ----------------------------------------------------------------------------


def test_sma_cross_signals_on_the_step_bars() -> None:
    # Flat at 100, a step to 110 at bar 60, a step to 90 at bar 120. At bar 60 the fast SMA
    # (one bar of 110 in 10) is 101 > the slow (one in 30) 100.33, after both were 100; at bar
    # 120 both were 110 and the fast drops to 108 < 109.33; then both sink to 90 without
    # crossing back.
    closes = [100.0] * 60 + [110.0] * 60 + [90.0] * 20

    harness = _run(SmaCross(SmaCrossParams()), bars_from_closes(closes))

    assert harness.signalled() == [(60, "BUY"), (120, "SELL")]
    assert harness.runner.warmup_bars == 31
    buy = harness.signals[0]
    assert buy.stop == Decimal("100.0")  # lowest low of the last 30 bars
    assert buy.target == Decimal("130.0")  # 2R above the close
    assert buy.strength == pytest.approx(min(1.0, 0.5 + 100 * (101 - 100 - 1 / 3) / 110))
    assert buy.features["fast"] == pytest.approx(101.0)


def test_sma_cross_with_emas() -> None:
    # EMA(10) and EMA(30) are exactly 100 on the flat start. A step to 110 at bar 400 lifts the
    # fast one more: BUY. After 5 bars at 110, the fast EMA (106.3) is above the slow (102.8);
    # a drop to 70 at bar 405 takes the fast to 99.7, below the slow's 100.7: SELL.
    closes = [100.0] * 400 + [110.0] * 5 + [70.0] * 10

    harness = _run(SmaCross(SmaCrossParams(ma="ema")), bars_from_closes(closes))

    assert harness.signalled() == [(400, "BUY"), (405, "SELL")]
    _assert_none_before_warm(harness)


# --- rsi_threshold ------------------------------------------------------------------------


def test_rsi_threshold_signals_on_every_bar_past_a_level() -> None:
    # Alternating +1/-1 settles Wilder's average gain and loss at 14/27 and 13/27 of a point
    # after an up move (13/27 and 14/27 after a down move): RSI 48 to 52, no signal. From an up
    # move, j straight rises give RSI = 100 * (1 - 13/27 * (13/14)**j): 69.1 at j=6, 71.3 at
    # j=7 > 70: SELL on rises 7 to 10. A fall of 10 then takes RSI to about 42. From a down
    # move, j straight falls give RSI = 100 * 13/27 * (13/14)**j: 30.9 at j=6, 28.7 at j=7 < 30:
    # BUY on falls 7 to 10. A rally of 12 in the warm-up (from a down move: rises 8 to 12 are
    # above 70) would have sold 5 times: held back.
    changes = _alternating(50) + [1.0] * 12 + [-6.0] + _alternating(337)
    first_rise = len(changes) + 1
    changes += [1.0] * 10 + [-10.0] + _alternating(200)
    first_fall = len(changes) + 1
    changes += [-1.0] * 10 + [10.0] + _alternating(20)

    harness = _run(RsiThreshold(RsiThresholdParams()), bars_from_closes(_closes(changes)))

    assert harness.signalled() == [(first_rise + j, "SELL") for j in range(6, 10)] + [
        (first_fall + j, "BUY") for j in range(6, 10)
    ]
    assert harness.runner.held_back == 5
    _assert_none_before_warm(harness)
    assert all(s.stop is None and s.target is None for s in harness.signals)


# --- macd_cross ---------------------------------------------------------------------------


def test_macd_cross_at_the_turns_of_a_ramp() -> None:
    # Flat: MACD and its signal line are exactly 0. A ramp up from bar 500 makes MACD positive
    # and rising, with its signal line (an average of it) below: BUY at 500 only. A ramp down
    # from bar 600 drops MACD below the signal at once, and it keeps falling: SELL at 600.
    closes = (
        [100.0] * 500
        + [100.0 + 0.5 * i for i in range(1, 101)]
        + [150.0 - 0.5 * i for i in range(1, 101)]
    )

    harness = _run(MacdCross(MacdCrossParams()), bars_from_closes(closes))

    assert harness.signalled() == [(500, "BUY"), (600, "SELL")]
    _assert_none_before_warm(harness)
    assert set(harness.signals[0].features) == {"macd", "signal", "hist", "momentum"}


# --- bollinger_reversion ------------------------------------------------------------------


def test_bollinger_reversion_on_the_first_close_outside_a_band() -> None:
    # Flat at 100: the bands collapse onto the close (no signal). A drop to 95 at bar 40 is
    # one outlier in 20, sqrt(19) = 4.4 deviations out: BUY. The next bars at 95 stay outside
    # for a while (the same excursion: no new signal), then inside. A jump to 100 at bar 80
    # after 40 bars at 95: SELL.
    closes = [100.0] * 40 + [95.0] * 40 + [100.0] * 10

    harness = _run(BollingerReversion(BollingerReversionParams()), bars_from_closes(closes))

    assert harness.signalled() == [(40, "BUY"), (80, "SELL")]
    buy = harness.signals[0]
    middle = (19 * 100.0 + 95.0) / 20
    assert float(buy.target or 0) == pytest.approx(middle)
    assert float(buy.stop or 0) == pytest.approx(95.0 - (middle - 95.0) / 2)


# --- vwap_reversion -----------------------------------------------------------------------


def test_vwap_reversion_on_the_first_bar_of_a_stretch_per_session() -> None:
    # Day 1, equal volumes: 10 bars at 100, then 99 at bar 10: VWAP 99.91, close 0.91 % below:
    # BUY. Still below until VWAP sinks under 99.50 (bar 20); a jump to 101 at bar 22 is 1.5 %
    # above the VWAP 99.52: SELL. Day 2 starts a new VWAP: 98 from its 4th bar is 1.5 % below
    # but before the 5th bar of the session, and the run goes on: no BUY; 100 on bar 6 is
    # 0.86 % above the VWAP 99.14: SELL.
    day_two = START_NS + DAY_NS
    bars = bars_from_closes([100.0] * 10 + [99.0] * 12 + [101.0] * 5) + [
        make_bar(i, close, start_ns=day_two)
        for i, close in enumerate([100.0, 100.0, 100.0, 98.0, 98.0, 98.0, 100.0, 100.0])
    ]

    harness = _run(VwapReversion(VwapReversionParams()), bars)

    assert harness.signalled() == [(10, "BUY"), (22, "SELL"), (DAY_BARS + 6, "SELL")]
    buy = harness.signals[0]
    assert buy.features["vwap"] == pytest.approx(1099 / 11)
    assert buy.target == Decimal(repr(1099 / 11))
    assert buy.stop == Decimal(repr(99.0 * (1 - 0.005)))


# --- opening_range_breakout ---------------------------------------------------------------


def _session(
    start_ns: int, closes: list[float], high: dict[int, float], low: dict[int, float]
) -> list[Bar]:
    return [
        make_bar(
            i,
            close,
            high=high.get(i, close + 0.2),
            low=low.get(i, close - 0.2),
            start_ns=start_ns,
        )
        for i, close in enumerate(closes)
    ]


DAY_ONE = _session(
    START_NS,
    [100.0] * 15 + [100.5, 101.5, 102.0, 100.0, 98.5, 98.0],
    high={3: 101.0},
    low={7: 99.0},
)
"""Range from the first 15 one-minute bars: 99 to 101. Closes above 101 at bars 16 and 17,
below 99 at bars 19 and 20."""
DAY_TWO = _session(
    START_NS + DAY_NS,
    [102.0] * 15 + [103.5, 100.5, 100.0],
    high={3: 103.0},
    low={7: 101.0},
)
"""Range 101 to 103; above at bar 15, below at bars 16 and 17."""


def test_opening_range_breakout_once_per_side_per_session() -> None:
    strategy = OpeningRangeBreakout(OpeningRangeBreakoutParams())
    harness = Harness(strategy)
    harness.runner.start()

    harness.runner.session_open(START_NS)
    harness.feed(DAY_ONE)
    harness.feed(DAY_TWO)  # no session_open: the new session key starts a new range

    assert harness.signalled() == [
        (16, "BUY"),
        (19, "SELL"),
        (DAY_BARS + 15, "BUY"),
        (DAY_BARS + 16, "SELL"),
    ]
    buy = harness.signals[0]
    assert (buy.stop, buy.target) == (Decimal("99.0"), Decimal("103.5"))
    assert buy.strength == pytest.approx(0.5 + 0.5 * 0.5 / 2.0)
    assert strategy.state["high"] == 103.0 and strategy.state["low"] == 101.0


def test_opening_range_breakout_joining_a_session_late_waits_for_the_next() -> None:
    harness = Harness(OpeningRangeBreakout(OpeningRangeBreakoutParams()))
    harness.runner.warm_up(DAY_ONE[:6])
    harness.runner.start()

    harness.feed(DAY_ONE[6:])
    harness.feed(DAY_TWO)

    assert harness.signalled() == [(DAY_BARS + 15, "BUY"), (DAY_BARS + 16, "SELL")]


def test_opening_range_breakout_keeps_its_range_across_a_restart() -> None:
    first = Harness(OpeningRangeBreakout(OpeningRangeBreakoutParams()))
    first.runner.session_open(START_NS)
    first.feed(DAY_ONE[:17])
    saved = first.runner.snapshot()

    again = Harness(OpeningRangeBreakout(OpeningRangeBreakoutParams()))
    again.runner.warm_up(first.runner.kept_bars())
    again.runner.restore(saved)
    again.runner.start()
    again.feed(DAY_ONE)  # replayed from the session's start: the seen bars are ignored

    assert again.signalled() == [(19, "SELL")]  # the BUY at 16 was already made


# --- supertrend_volume --------------------------------------------------------------------


def test_supertrend_volume_on_flips_with_heavy_volume() -> None:
    # Bars 1 wide (ATR 1), volume 1000. Supertrend starts down with its upper band at 103.
    # Bar 300 closes at 105 on 3000: above the band (up), above the VWMA (100.7), volume 3x
    # the average: BUY. Bar 360 closes at 95 on 3000: below the lower band (about 102), below
    # the VWMA: SELL. The same up-and-down at bars 100 and 110 falls in the warm-up.
    bars = []
    for i in range(380):
        close = 105.0 if 100 <= i < 110 or 300 <= i < 360 else 95.0 if i >= 360 else 100.0
        volume = 3000.0 if i in (100, 110, 300, 360) else 1000.0
        bars.append(make_bar(i, close, high=close + 0.5, low=close - 0.5, volume=volume))

    harness = _run(SupertrendVolume(SupertrendVolumeParams()), bars)

    assert harness.signalled() == [(300, "BUY"), (360, "SELL")]
    assert harness.runner.held_back == 2
    buy = harness.signals[0]
    assert buy.features["volume_ratio"] == 3.0
    assert buy.strength == 1.0  # 0.5 * 3 / 1.5
    assert float(buy.stop or 0) == pytest.approx(buy.features["supertrend"])


def test_supertrend_volume_needs_the_volume() -> None:
    bars = [make_bar(i, 100.0, high=100.5, low=99.5) for i in range(300)]
    bars.append(make_bar(300, 105.0, high=105.5, low=104.5, volume=1400.0))

    harness = _run(SupertrendVolume(SupertrendVolumeParams()), bars)

    assert harness.signals == []


# --- trend_pullback -----------------------------------------------------------------------


def test_trend_pullback_on_the_rsi_recovery_inside_the_trend() -> None:
    # A steady rise (RSI 100, close 24.5 above its EMA(50)). 13 falls take RSI to
    # 100 * (13/14)**13 = 38.2, one rise back to 42.6: a cross up through 40 with the close
    # still above the EMA: BUY. Then the mirror image in a steady fall: 13 rises to RSI 61.8,
    # one fall to 57.4, close below the EMA: SELL. The turn from the rise to the fall crosses
    # RSI 60 downward while the close is still above the EMA: nothing. The same pullback at
    # bar 314 falls in the warm-up.
    changes = [1.0] * 300 + [-1.0] * 13 + [1.0] * 387 + [-1.0] * 13
    buy_bar = len(changes) + 1
    changes += [1.0] * 101 + [-1.0] * 300 + [1.0] * 13
    sell_bar = len(changes) + 1
    changes += [-1.0] * 5

    harness = _run(TrendPullback(TrendPullbackParams()), bars_from_closes(_closes(changes)))

    assert harness.signalled() == [(buy_bar, "BUY"), (sell_bar, "SELL")]
    assert (buy_bar, sell_bar) == (714, 1128)
    assert harness.runner.held_back == 1
    _assert_none_before_warm(harness)
    buy = harness.signals[0]
    assert buy.features["rsi"] == pytest.approx(100 * (1 - (13 / 14) * (1 - (13 / 14) ** 13)))


# --- parameters and lookup ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "values", "message"),
    [
        (SmaCrossParams, {"fast": 30, "slow": 10}, "fast 30 must be below slow 10"),
        (SmaCrossParams, {"ma": "wma"}, "'wma'"),
        (RsiThresholdParams, {"buy_below": 80}, "buy_below 80"),
        (MacdCrossParams, {"fast": 26, "slow": 12}, "fast 26 must be below slow 12"),
        (BollingerReversionParams, {"k": 0}, "k 0"),
        (VwapReversionParams, {"threshold_pct": -1}, "threshold_pct -1"),
        (OpeningRangeBreakoutParams, {"range_minutes": 0}, "range_minutes 0"),
        (SupertrendVolumeParams, {"volume_factor": 0}, "volume_factor 0"),
        (TrendPullbackParams, {"pullback_below": 60}, "pullback_below 60"),
        (SmaCrossParams, {"fastt": 5}, "fastt"),
    ],
)
def test_bad_parameters_are_refused_with_the_value(
    params: type[msgspec.Struct], values: dict[str, Any], message: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(values, params)


@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_each_built_in_is_complete_and_runs_with_its_defaults(name: str) -> None:
    cls = strategy_class(name)
    strategy = cls(cls.Params())

    harness = _run(strategy, bars_from_closes([100.0 + (i % 7) for i in range(50)]))

    assert cls.name == name and cls.summary and "BUY" in cls.rule and "SELL" in cls.rule
    assert strategy.params.long_only is True
    assert harness.runner.bar_count == 50
    assert cls.__module__ == f"actors.strategies.{name}"


def test_strategy_class_by_module_path() -> None:
    assert strategy_class("actors.strategies.sma_cross:SmaCross") is SmaCross
    assert strategy_class("tests.test_strategy_runner:EveryBar").name == "every_bar"


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ("sma_crossover", "no built-in strategy 'sma_crossover'; built-ins: sma_cross, "),
        ("no_such.module:X", "cannot import module 'no_such.module'"),
        ("actors.strategies.sma_cross:Nope", "no such name .* strategies there: SmaCross"),
        ("actors.strategies.sma_cross:SmaCrossParams", "is not a Strategy subclass"),
        ("actors.strategies.sma_cross:", "expected 'package.module:ClassName'"),
    ],
)
def test_strategy_class_errors_name_what_was_asked_and_what_exists(
    asked: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        strategy_class(asked)


def test_long_only_sells_are_still_emitted() -> None:
    closes = [100.0] * 60 + [110.0] * 60 + [90.0] * 20

    harness = _run(SmaCross(SmaCrossParams(long_only=True)), bars_from_closes(closes))

    assert [s.side for s in harness.signals] == [OrderSide.BUY, OrderSide.SELL]
