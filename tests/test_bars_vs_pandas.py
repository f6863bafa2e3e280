"""Property: time bars equal pandas' resample(label="left", closed="left") of the same trades,
and the ways of closing them (next tick, clock, bars from bars) never change them.

pandas is an independent reference: its bins, ohlc, sum and count share no code with
engine.bars. Sizes are whole numbers, so volumes are exact sums either way; VWAPs are
compared to 1e-9 relative (pandas sums in another order).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.core.resample import Resampler

from engine.bars import INTERVALS, EmptyPolicy, TimeBarBuilder
from engine.messages.market import Bar

SECOND_NS = 1_000_000_000
T0 = 1_704_067_200 * SECOND_NS

Row = tuple[int, float, float, float, float, float, int, float]
"""start, open, high, low, close, volume, trade count, vwap."""


@dataclass(frozen=True)
class Case:
    interval: str
    origin: int
    ticks: list[tuple[int, float, float]]
    watermarks: list[int | None]
    """Per tick, a time to tell the builder before it (never after the tick's time)."""


@st.composite
def cases(draw: st.DrawFn, intervals: tuple[str, ...] = tuple(INTERVALS)) -> Case:
    interval = draw(st.sampled_from(intervals))
    step = INTERVALS[interval]
    origin = draw(st.sampled_from([0, draw(st.integers(-10 * step, 10 * step))]))
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from([0, 1, step // 7, step // 2, step, 2 * step + 3, 5 * step]),
                st.floats(0.01, 1e6),
                st.integers(1, 10_000),
                st.sampled_from([None, 0.0, 0.5, 1.0]),
            ),
            min_size=1,
            max_size=40,
        )
    )
    ts = T0 + draw(st.integers(0, 2 * step))
    ticks: list[tuple[int, float, float]] = []
    watermarks: list[int | None] = []
    for gap, price, size, lag in steps:
        ts += gap
        ticks.append((ts, price, float(size)))
        # Tell the clock a time between the previous tick and this one.
        watermarks.append(None if lag is None else ts - int(gap * lag))
    return Case(interval, origin, ticks, watermarks)


def rows(bars: list[Bar]) -> list[Row]:
    return [
        (b.ts_event, b.open, b.high, b.low, b.close, b.volume, b.trade_count, b.vwap) for b in bars
    ]


def ours(case: Case, *, flat: bool, clock: bool = False) -> list[Row]:
    bars: list[Bar] = []
    builder = TimeBarBuilder(
        "X", case.interval, bars.append, origin=case.origin, empty="flat" if flat else "skip"
    )
    for (ts, price, size), watermark in zip(case.ticks, case.watermarks, strict=True):
        if clock and watermark is not None:
            builder.close_until(watermark)
        builder.update(ts, price, size)
    builder.flush()
    assert builder.late_ticks == 0
    return rows(bars)


def pandas_bars(case: Case, *, flat: bool) -> list[Row]:
    index = pd.to_datetime([ts for ts, _, _ in case.ticks], unit="ns", utc=True)
    price = pd.Series([p for _, p, _ in case.ticks], index=index)
    size = pd.Series([s for _, _, s in case.ticks], index=index)
    step = pd.Timedelta(INTERVALS[case.interval], unit="ns")
    origin = pd.Timestamp(case.origin, unit="ns", tz="UTC")

    def resample(series: pd.Series[float]) -> Resampler[pd.Series[float]]:
        return series.resample(step, label="left", closed="left", origin=origin)

    ohlc = resample(price).ohlc()
    volume = resample(size).sum()
    count = resample(price).count()
    vwap = resample(price * size).sum() / volume
    out: list[Row] = []
    last_close = None
    for start in ohlc.index:
        trades = int(count[start])
        if trades:
            o, h, lo, c = (float(ohlc[k][start]) for k in ("open", "high", "low", "close"))
            out.append((start.value, o, h, lo, c, float(volume[start]), trades, vwap[start]))
            last_close = c
        elif flat:
            assert last_close is not None
            out.append((start.value, *([last_close] * 4), 0.0, 0, last_close))
    return out


def assert_same(actual: list[Row], expected: list[Row]) -> None:
    assert [row[:7] for row in actual] == [row[:7] for row in expected]
    for mine, theirs in zip(actual, expected, strict=True):
        assert mine[7] == pytest.approx(theirs[7], rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(cases(), st.booleans())
def test_time_bars_equal_pandas_resample(case: Case, flat: bool) -> None:
    assert_same(ours(case, flat=flat), pandas_bars(case, flat=flat))


@settings(max_examples=100, deadline=None)
@given(cases(), st.booleans())
def test_closing_on_the_clock_gives_the_same_bars(case: Case, flat: bool) -> None:
    assert ours(case, flat=flat, clock=True) == ours(case, flat=flat)


@settings(max_examples=60, deadline=None)
@given(cases(intervals=("5m", "15m", "1h")), st.booleans(), st.sampled_from(["1m", "5m"]))
def test_bars_from_bars_equal_bars_from_ticks(case: Case, flat: bool, source: str) -> None:
    if INTERVALS[case.interval] <= INTERVALS[source]:
        source = "1m"
    empty: EmptyPolicy = "flat" if flat else "skip"
    higher: list[Bar] = []
    direct: list[Bar] = []
    to_higher = TimeBarBuilder("X", case.interval, higher.append, origin=case.origin, empty=empty)
    lower = TimeBarBuilder("X", source, to_higher.update_bar, origin=case.origin, empty=empty)
    straight = TimeBarBuilder("X", case.interval, direct.append, origin=case.origin, empty=empty)
    for ts, price, size in case.ticks:
        lower.update(ts, price, size)
        straight.update(ts, price, size)
    lower.flush()
    to_higher.flush()
    straight.flush()

    assert_same(rows(higher), rows(direct))
