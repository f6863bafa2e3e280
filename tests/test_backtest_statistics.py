"""The backtest's statistics against figures worked out by hand (engine/backtest/statistics.py).

The curve: nine points an eighth of a year apart (so exactly one year in all), equity
100, 110, 99, 104.5, 121, 115, 120, 118, 119:

* a 10% drawdown from 110 to 99, recovered at 121 three bars later;
* a shallower one (121 to 115, 4.96%) never recovered: four bars to the end, the longest;
* total return 19/100, CAGR the same over one year, Calmar 0.19 / 0.1.

Ratios that need a square root are computed here with ``math`` from the returns written out
as fractions, and compared to a relative tolerance of 1e-12.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.backtest.statistics import (
    YEAR_NS,
    ClosedTrade,
    compute_statistics,
    curve_statistics,
    trade_statistics,
)

D = Decimal
DAY_NS = 86_400 * 10**9
STEP_NS = 3_944_700 * 10**9  # 365.25 days / 8
VALUES = ["100", "110", "99", "104.5", "121", "115", "120", "118", "119"]
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
CURVE = [(T0 + i * STEP_NS, D(v)) for i, v in enumerate(VALUES)]
EXPOSED = [False, True, True, False, True, True, False, False, False]
# The returns, (E_i - E_{i-1}) / E_{i-1}:
RETURNS = [10 / 100, -11 / 110, 5.5 / 99, 16.5 / 104.5, -6 / 121, 5 / 115, -2 / 120, 1 / 118]
TOLERANCE = 1e-12


def by_hand(periods_per_year: float) -> tuple[float, float]:
    """Sharpe and Sortino of RETURNS, straight from the module docstring's formulas."""
    n = len(RETURNS)
    mean = sum(RETURNS) / n
    sd = math.sqrt(sum((r - mean) ** 2 for r in RETURNS) / (n - 1))
    dd = math.sqrt(sum(min(r, 0.0) ** 2 for r in RETURNS) / n)
    scale = math.sqrt(periods_per_year)
    return mean / sd * scale, mean / dd * scale


def test_the_curve_figures_are_the_hand_computed_ones() -> None:
    assert STEP_NS * 8 == YEAR_NS  # the setup: one year of calendar time exactly

    figures = curve_statistics(CURVE, EXPOSED)

    assert figures.bars == 9
    assert figures.start_equity == D("100")
    assert figures.end_equity == D("119")
    assert figures.total_return == 0.19
    assert figures.years == 1.0
    assert figures.cagr == pytest.approx(0.19, rel=TOLERANCE)
    assert figures.periods_per_year == 8.0  # 8 returns over 1 year
    sharpe, sortino = by_hand(8.0)
    assert figures.sharpe == pytest.approx(sharpe, rel=TOLERANCE)
    assert figures.sortino == pytest.approx(sortino, rel=TOLERANCE)
    assert figures.max_drawdown == 0.1
    # Longest underwater: from 121 (index 4) to the end (index 8), never recovered.
    assert figures.max_drawdown_duration_bars == 4
    assert figures.max_drawdown_duration_days == 4 * 365.25 / 8
    assert figures.calmar == pytest.approx(1.9, rel=TOLERANCE)
    assert figures.exposure == 4 / 9


def test_a_recovered_drawdown_lasts_from_its_peak_to_its_recovery() -> None:
    # 100, 110 (peak), 99, 104.5, 110 (recovered: equal counts), 120: one stretch of 3 bars.
    values = ["100", "110", "99", "104.5", "110", "120"]
    curve = [(T0 + i * DAY_NS, D(v)) for i, v in enumerate(values)]

    figures = curve_statistics(curve, [False] * 6)

    assert figures.max_drawdown == 0.1
    assert figures.max_drawdown_duration_bars == 3
    assert figures.max_drawdown_duration_days == 3.0


def test_a_flat_top_moves_the_peak_to_its_last_point() -> None:
    # 100, 100, 100 (the peak, last at that level), 90, 100: underwater 2 bars, not 4.
    curve = [(T0 + i * DAY_NS, D(v)) for i, v in enumerate(["100", "100", "100", "90", "100"])]

    figures = curve_statistics(curve, [False] * 5)

    assert figures.max_drawdown_duration_bars == 2
    assert figures.max_drawdown == 0.1


def test_periods_per_year_given_replaces_the_inferred_one() -> None:
    figures = curve_statistics(CURVE, EXPOSED, periods_per_year=252)

    sharpe, sortino = by_hand(252.0)
    assert figures.periods_per_year == 252
    assert figures.sharpe == pytest.approx(sharpe, rel=TOLERANCE)
    assert figures.sortino == pytest.approx(sortino, rel=TOLERANCE)


def test_daily_bars_on_weekdays_infer_about_252_periods_a_year() -> None:
    # Five bars a week for a year: the weekends lengthen the mean spacing.
    days = [d for d in range(365) if d % 7 < 5]
    curve = [(T0 + d * DAY_NS, D(100 + d % 3)) for d in days]

    figures = curve_statistics(curve, [False] * len(curve))

    expected = (len(days) - 1) / ((days[-1] - days[0]) * DAY_NS / YEAR_NS)
    assert figures.periods_per_year == pytest.approx(expected, rel=TOLERANCE)
    assert 255 < expected < 265


def test_floats_are_taken_as_their_shortest_decimal() -> None:
    floats = [(ts, float(value)) for ts, value in CURVE]

    assert curve_statistics(floats, EXPOSED) == curve_statistics(CURVE, EXPOSED)


def test_undefined_curve_figures_are_none() -> None:
    flat = [(T0 + i * DAY_NS, D(100)) for i in range(5)]

    figures = curve_statistics(flat, [False] * 5)

    assert figures.total_return == 0.0
    assert figures.max_drawdown == 0.0
    assert figures.max_drawdown_duration_bars == 0
    assert figures.sharpe is None  # sd 0
    assert figures.sortino is None  # no losing period
    assert figures.calmar is None  # no drawdown
    assert figures.cagr == 0.0


def test_a_rising_curve_has_a_sharpe_but_no_sortino() -> None:
    rising = [(T0 + i * DAY_NS, D(v)) for i, v in enumerate(["100", "101", "103", "104"])]

    figures = curve_statistics(rising, [True] * 4)

    assert figures.sharpe is not None
    assert figures.sortino is None
    assert figures.exposure == 1.0


@pytest.mark.parametrize(
    "curve",
    [
        [],
        [(T0, D(100))],
        [(T0, D(0)), (T0 + DAY_NS, D(10))],
    ],
    ids=["empty", "one point", "no base"],
)
def test_a_curve_without_a_base_has_no_ratios(curve: list[tuple[int, Decimal]]) -> None:
    figures = curve_statistics(curve, [False] * len(curve))

    assert figures.total_return is None
    assert figures.sharpe is None
    assert figures.max_drawdown is None
    assert figures.bars == len(curve)


def test_points_at_one_instant_have_no_cagr_and_no_inferred_periods() -> None:
    curve = [(T0, D(100)), (T0, D(90)), (T0, D(95))]

    figures = curve_statistics(curve, [False] * 3)

    assert figures.total_return == -0.05
    assert figures.cagr is None
    assert figures.periods_per_year is None
    assert figures.sharpe is None
    assert figures.calmar is None
    assert figures.max_drawdown == 0.1


def test_equity_lost_entirely_has_a_cagr_of_minus_one() -> None:
    curve = [(T0, D(100)), (T0 + DAY_NS, D(50)), (T0 + 2 * DAY_NS, D(0))]

    figures = curve_statistics(curve, [True] * 3)

    assert figures.cagr == -1.0
    assert figures.max_drawdown == 1.0
    assert figures.sharpe is not None  # the returns -0.5 and -1 have a base


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_periods_per_year_must_be_a_positive_number(bad: float) -> None:
    with pytest.raises(ValueError, match="periods_per_year"):
        curve_statistics(CURVE, EXPOSED, periods_per_year=bad)


def test_exposure_needs_one_flag_per_point() -> None:
    with pytest.raises(ValueError, match="8 flags for 9 equity points"):
        curve_statistics(CURVE, EXPOSED[:-1])


def test_an_equity_point_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        curve_statistics([(T0, 100.0), (T0 + DAY_NS, math.nan)], [False, False])


# -- trades ----------------------------------------------------------------------------------


def trade(pnl: str, *, instrument: str = "NSE:INFY", reason: str = "signal") -> ClosedTrade:
    return ClosedTrade(
        instrument=instrument,
        strategy="sma",
        side="long",
        qty=10,
        entry_ns=T0,
        entry_price=D("100"),
        exit_ns=T0 + DAY_NS,
        exit_price=D("100"),
        gross_pnl=D(pnl) + D("1.00"),
        fees=D("1.00"),
        pnl=D(pnl),
        exit_reason=reason,
    )


# In order of exit: win, win, loss, scratch, loss, loss, win.
PNLS = ["100.00", "30.00", "-50.00", "0.00", "-20.00", "-10.00", "60.00"]


def test_the_trade_figures_are_the_hand_computed_ones() -> None:
    figures = trade_statistics([trade(p) for p in PNLS])

    assert figures.trades == 7
    assert figures.wins == 3
    assert figures.losses == 3
    assert figures.win_rate == 3 / 7
    assert figures.gross_profit == D("190.00")
    assert figures.gross_loss == D("-80.00")
    assert figures.profit_factor == 2.375  # 190 / 80
    assert figures.net_pnl == D("110.00")
    assert figures.expectancy == D("15.71")  # 110 / 7 = 15.714...
    assert figures.average_win == D("63.33")  # 190 / 3
    assert figures.average_loss == D("-26.67")  # -80 / 3
    assert figures.fees == D("7.00")
    assert figures.max_consecutive_wins == 2
    # -50 | 0 | -20, -10: the scratch ends the run, so 2, not 3.
    assert figures.max_consecutive_losses == 2


def test_means_keep_the_finest_place_of_the_pnl() -> None:
    figures = trade_statistics([trade("0.125"), trade("0.250"), trade("-0.001")])

    assert figures.expectancy == D("0.125")  # 0.374 / 3 = 0.12466... to 0.001
    assert figures.average_win == D("0.188")  # 0.375 / 2 = 0.1875, half even
    assert figures.average_loss == D("-0.001")


def test_no_losing_trade_has_no_profit_factor() -> None:
    figures = trade_statistics([trade("5"), trade("0")])

    assert figures.profit_factor is None
    assert figures.average_loss is None
    assert figures.win_rate == 0.5
    assert figures.expectancy == D("2.50")


def test_no_winning_trade_has_a_profit_factor_of_zero() -> None:
    figures = trade_statistics([trade("-5"), trade("-7")])

    assert figures.profit_factor == 0.0
    assert figures.average_win is None
    assert figures.max_consecutive_losses == 2


def test_no_trades() -> None:
    figures = trade_statistics([])

    assert figures.trades == 0
    assert figures.win_rate is None
    assert figures.profit_factor is None
    assert figures.expectancy is None
    assert figures.net_pnl == 0
    assert figures.max_consecutive_wins == 0


def test_figures_per_instrument_and_per_exit_reason() -> None:
    trades = [
        trade("100.00", instrument="NSE:INFY", reason="target"),
        trade("-40.00", instrument="NSE:TCS", reason="stop"),
        trade("-20.00", instrument="NSE:INFY", reason="stop"),
        trade("10.00", instrument="NSE:TCS", reason="signal"),
    ]
    infy = [False, True, True, False, False, False, False, False, False]

    figures = compute_statistics(CURVE, trades, EXPOSED, exposure_by_instrument={"NSE:INFY": infy})

    assert figures.overall.trades == 4
    assert figures.overall.net_pnl == D("50.00")
    assert figures.overall.max_drawdown == 0.1
    assert figures.overall.exposure == 4 / 9
    assert sorted(figures.by_instrument) == ["NSE:INFY", "NSE:TCS"]
    assert figures.by_instrument["NSE:INFY"].net_pnl == D("80.00")
    assert figures.by_instrument["NSE:INFY"].profit_factor == 5.0
    assert figures.by_instrument["NSE:INFY"].exposure == 2 / 9
    assert figures.by_instrument["NSE:TCS"].exposure is None  # no series given
    assert sorted(figures.by_exit_reason) == ["signal", "stop", "target"]
    stop = figures.by_exit_reason["stop"]
    assert (stop.trades, stop.net_pnl, stop.win_rate) == (2, D("-60.00"), 0.0)
    assert figures.by_exit_reason["target"].average_win == D("100.00")


def test_an_instrument_series_must_match_the_curve() -> None:
    with pytest.raises(ValueError, match="exposure of NSE:INFY has 2 flags"):
        compute_statistics(CURVE, [], EXPOSED, exposure_by_instrument={"NSE:INFY": [True, False]})


# -- the drawdown against a plain loop -------------------------------------------------------


def drawdown_by_loop(curve: list[tuple[int, Decimal]]) -> tuple[float, int, int]:
    """Max drawdown, and the longest underwater stretch (ns, bars), point by point."""
    peak_at, deepest = 0, Decimal(0)
    stretches: list[tuple[int, int]] = []
    for i, (_, value) in enumerate(curve):
        peak = curve[peak_at][1]
        if value >= peak:
            if i > 0 and curve[i - 1][1] < curve[peak_at][1]:
                stretches.append((peak_at, i))
            peak_at = i
        else:
            deepest = max(deepest, (peak - value) / peak)
    if curve[-1][1] < curve[peak_at][1]:
        stretches.append((peak_at, len(curve) - 1))
    if not stretches:
        return float(deepest), 0, 0
    start, end = max(stretches, key=lambda s: (curve[s[1]][0] - curve[s[0]][0], -s[0]))
    return float(deepest), curve[end][0] - curve[start][0], end - start


@given(
    values=st.lists(st.integers(min_value=1, max_value=50), min_size=2, max_size=40),
    gaps=st.lists(st.integers(min_value=1, max_value=5), min_size=40, max_size=40),
)
def test_drawdown_and_its_duration_match_a_plain_loop(values: list[int], gaps: list[int]) -> None:
    times = [T0 + sum(gaps[:i]) * DAY_NS for i in range(len(values))]
    curve = [(ts, Decimal(v)) for ts, v in zip(times, values, strict=True)]

    figures = curve_statistics(curve, [False] * len(curve))

    deepest, ns, bars = drawdown_by_loop(curve)
    assert figures.max_drawdown == deepest
    assert figures.max_drawdown_duration_days == ns / DAY_NS
    assert figures.max_drawdown_duration_bars == bars
