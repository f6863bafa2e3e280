"""Indicators on the rolling window agree with TA-Lib (or the plain definition) run once over
the whole series: the rule stated in :mod:`engine.indicators`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from talib._ta_lib import MA_Type

from engine.indicators import (
    SETTLE_DECAY,
    TOLERANCE,
    BarWindow,
    Indicator,
    IndicatorSet,
    atr,
    bbands,
    ema,
    highest,
    lowest,
    macd,
    rsi,
    session_vwap,
    settle_bars,
    sma,
    supertrend,
    vwma,
    wma,
)
from engine.messages.market import Bar

BARS = 3000
SESSION_BARS = 375
MINUTE = 60_000_000_000


class Series:
    """A random-walk OHLCV series with sessions of ``SESSION_BARS`` bars and a few bars that
    traded nothing."""

    def __init__(self, seed: int = 7, n: int = BARS) -> None:
        rng = np.random.default_rng(seed)
        self.close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
        self.open = np.concatenate(([100.0], self.close[:-1]))
        spread = np.abs(rng.normal(0.0, 0.002, n)) * self.close
        self.high = np.maximum(self.open, self.close) + spread
        self.low = np.minimum(self.open, self.close) - spread
        self.volume = rng.integers(100, 5000, n).astype(np.float64)
        self.volume[rng.random(n) < 0.02] = 0.0
        self.vwap = (self.high + self.low + self.close) / 3.0
        self.session = np.arange(n) // SESSION_BARS
        self.n = n

    def bar(self, i: int) -> Bar:
        return Bar(
            ts_event=i * MINUTE,
            ts_init=i * MINUTE,
            instrument="T:X",
            interval="1m",
            ts_close=(i + 1) * MINUTE,
            open=float(self.open[i]),
            high=float(self.high[i]),
            low=float(self.low[i]),
            close=float(self.close[i]),
            volume=float(self.volume[i]),
            trade_count=int(self.volume[i] > 0),
            vwap=float(self.vwap[i]),
        )


SPECS: dict[str, Indicator] = {
    "sma": sma(20),
    "sma_volume": sma(20, source="volume"),
    "ema": ema(20),
    "wma": wma(15),
    "rsi": rsi(14),
    "macd": macd(12, 26, 9),
    "bb": bbands(20, 2.0),
    "atr": atr(14),
    "hh": highest(20),
    "ll": lowest(20),
    "vwma": vwma(20),
    "vwap": session_vwap(),
    "st": supertrend(10, 3.0),
}


@pytest.fixture(scope="module")
def series() -> Series:
    return Series()


@pytest.fixture(scope="module")
def latest(series: Series) -> dict[str, np.ndarray]:
    """Each indicator's value at each bar, fed one bar at a time through window and set."""
    indicators = IndicatorSet(SPECS)
    window = BarWindow(indicators.capacity)
    out = {name: np.full(series.n, np.nan) for name in indicators.names}
    for i in range(series.n):
        window.append(series.bar(i), int(series.session[i]))
        indicators.update(window)
        for name in indicators.names:
            out[name][i] = indicators.value(name)
    return out


def _after_warmup(spec: Indicator) -> slice:
    return slice(spec.span - 1, None)


# --- non-recursive: equal to floating rounding --------------------------------------------

NON_RECURSIVE = [
    ("sma", lambda s: talib.SMA(s.close, 20)),
    ("sma_volume", lambda s: talib.SMA(s.volume, 20)),
    ("wma", lambda s: talib.WMA(s.close, 15)),
    ("bb.upper", lambda s: talib.BBANDS(s.close, 20, 2.0, 2.0, MA_Type.SMA)[0]),
    ("bb.middle", lambda s: talib.BBANDS(s.close, 20, 2.0, 2.0, MA_Type.SMA)[1]),
    ("bb.lower", lambda s: talib.BBANDS(s.close, 20, 2.0, 2.0, MA_Type.SMA)[2]),
    ("hh", lambda s: talib.MAX(s.high, 20)),
    ("ll", lambda s: talib.MIN(s.low, 20)),
]


@pytest.mark.parametrize(("name", "reference"), NON_RECURSIVE, ids=[n for n, _ in NON_RECURSIVE])
def test_non_recursive_indicators_equal_talib_over_the_full_series(
    series: Series, latest: dict[str, np.ndarray], name: str, reference: object
) -> None:
    assert callable(reference)
    expected = reference(series)
    spec = SPECS[name.split(".", maxsplit=1)[0]]
    warm = _after_warmup(spec)

    # TA-Lib's full-series run keeps running sums; the window starts a fresh sum each bar, so
    # the two round differently in the last bits: equal to 1e-12 relative, not bit for bit.
    np.testing.assert_allclose(latest[name][warm], expected[warm], rtol=1e-12, atol=0)
    assert np.isnan(latest[name][: spec.lookback]).all()


def test_vwma_equals_its_definition(series: Series, latest: dict[str, np.ndarray]) -> None:
    value = sliding_window_view(series.close * series.volume, 20).sum(axis=1)
    volume = sliding_window_view(series.volume, 20).sum(axis=1)
    expected = np.concatenate((np.full(19, np.nan), value / volume))

    np.testing.assert_allclose(latest["vwma"][19:], expected[19:], rtol=1e-12, atol=0)
    assert np.isnan(latest["vwma"][:19]).all()


def test_session_vwap_restarts_each_session_and_skips_bars_without_volume(
    series: Series, latest: dict[str, np.ndarray]
) -> None:
    expected = np.full(series.n, np.nan)
    for start in range(0, series.n, SESSION_BARS):
        part = slice(start, min(start + SESSION_BARS, series.n))
        traded = np.cumsum(series.vwap[part] * series.volume[part])
        volume = np.cumsum(series.volume[part])
        with np.errstate(invalid="ignore", divide="ignore"):
            expected[part] = np.where(volume > 0, traded / volume, np.nan)

    np.testing.assert_allclose(latest["vwap"], expected, rtol=1e-12, atol=0)
    assert (
        latest["vwap"][SESSION_BARS] == series.vwap[SESSION_BARS]
        or series.volume[SESSION_BARS] == 0
    )


# --- recursive: equal within TOLERANCE once warm ------------------------------------------


def _assert_within(ours: np.ndarray, full: np.ndarray, scale: np.ndarray | float) -> None:
    error = np.abs(ours - full) / scale
    assert not np.isnan(ours).any()
    assert error.max() <= TOLERANCE, f"worst error {error.max():.3g} x scale"


def test_ema_within_tolerance_of_talib_once_warm(
    series: Series, latest: dict[str, np.ndarray]
) -> None:
    warm = _after_warmup(SPECS["ema"])
    full = talib.EMA(series.close, 20)
    _assert_within(latest["ema"][warm], full[warm], series.close[warm])


def test_ema_is_talib_exactly_before_the_window_wraps(
    series: Series, latest: dict[str, np.ndarray]
) -> None:
    # Until the span is full the window holds the whole history: the very same computation,
    # seeded (as TA-Lib seeds an EMA) with the SMA of the first n closes.
    span = SPECS["ema"].span
    full = talib.EMA(series.close, 20)

    np.testing.assert_array_equal(latest["ema"][:span], full[:span])
    assert latest["ema"][19] == pytest.approx(series.close[:20].mean(), rel=1e-15)


def test_rsi_within_tolerance_of_talib_once_warm(
    series: Series, latest: dict[str, np.ndarray]
) -> None:
    warm = _after_warmup(SPECS["rsi"])
    _assert_within(latest["rsi"][warm], talib.RSI(series.close, 14)[warm], 100.0)


def test_atr_within_tolerance_of_talib_once_warm(
    series: Series, latest: dict[str, np.ndarray]
) -> None:
    warm = _after_warmup(SPECS["atr"])
    full = talib.ATR(series.high, series.low, series.close, 14)
    _assert_within(latest["atr"][warm], full[warm], full[warm])


@pytest.mark.parametrize("output", ["macd", "signal", "hist"])
def test_macd_within_tolerance_of_talib_once_warm(
    series: Series, latest: dict[str, np.ndarray], output: str
) -> None:
    warm = _after_warmup(SPECS["macd"])
    full = dict(zip(("macd", "signal", "hist"), talib.MACD(series.close, 12, 26, 9), strict=True))
    _assert_within(latest[f"macd.{output}"][warm], full[output][warm], series.close[warm])


def _supertrend_reference(s: Series, n: int, multiplier: float) -> tuple[np.ndarray, np.ndarray]:
    """Supertrend written out bar by bar, as TradingView's ta.supertrend (+1 = up)."""
    average_range = talib.ATR(s.high, s.low, s.close, n)
    line = np.full(s.n, np.nan)
    direction = np.full(s.n, np.nan)
    upper = lower = math.nan
    trend = 0
    for i in range(s.n):
        if math.isnan(average_range[i]):
            continue
        mid = (s.high[i] + s.low[i]) / 2
        basic_upper = mid + multiplier * average_range[i]
        basic_lower = mid - multiplier * average_range[i]
        if trend == 0:
            upper, lower, trend = basic_upper, basic_lower, -1
        else:
            if basic_upper < upper or s.close[i - 1] > upper:
                upper = basic_upper
            if basic_lower > lower or s.close[i - 1] < lower:
                lower = basic_lower
            if trend == -1:
                trend = 1 if s.close[i] > upper else -1
            else:
                trend = -1 if s.close[i] < lower else 1
        line[i] = lower if trend == 1 else upper
        direction[i] = trend
    return line, direction


def test_supertrend_matches_a_bar_by_bar_reference(
    series: Series, latest: dict[str, np.ndarray]
) -> None:
    line, direction = _supertrend_reference(series, 10, 3.0)
    warm = _after_warmup(SPECS["st"])

    _assert_within(latest["st.line"][warm], line[warm], series.close[warm])
    np.testing.assert_array_equal(latest["st.direction"][warm], direction[warm])
    assert set(np.unique(direction[warm])) == {-1.0, 1.0}


# --- warm-up lengths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "lookback", "alphas"),
    [
        (sma(20), 19, []),
        (bbands(20), 19, []),
        (vwma(20), 19, []),
        (session_vwap(), 0, []),
        (ema(20), 19, [2 / 21]),
        (rsi(14), 14, [1 / 14]),
        (atr(14), 14, [1 / 14]),
        (macd(12, 26, 9), 33, [2 / 27, 2 / 10]),
        (supertrend(10, 3.0), 10, [1 / 10]),
    ],
    ids=lambda v: getattr(v, "label", None),
)
def test_span_is_lookback_plus_settling_plus_one(
    spec: Indicator, lookback: int, alphas: list[float]
) -> None:
    settle = sum(settle_bars(a) for a in alphas)

    assert (spec.lookback, spec.settle, spec.span) == (lookback, settle, lookback + settle + 1)


@pytest.mark.parametrize("alpha", [2 / 11, 2 / 51, 1 / 14, 0.5])
def test_settle_bars_is_the_least_k_whose_decay_is_below_the_target(alpha: float) -> None:
    k = settle_bars(alpha)

    assert (1 - alpha) ** k <= SETTLE_DECAY < (1 - alpha) ** (k - 1)


def test_set_warmup_and_capacity_are_its_longest_span() -> None:
    indicators = IndicatorSet({"fast": sma(10), "slow": ema(30), "r": rsi(14)})

    assert indicators.warmup == ema(30).span == 29 + settle_bars(2 / 31) + 1
    assert indicators.required_capacity == indicators.capacity == indicators.warmup
    assert IndicatorSet({}).warmup == 0


def test_talib_unstable_period_is_left_alone(latest: dict[str, np.ndarray]) -> None:
    unstable = talib.get_unstable_period  # type: ignore[attr-defined]  # not in TA-Lib's stubs

    assert all(unstable(name) == 0 for name in ("EMA", "RSI", "ATR"))


# --- names, ago, errors -------------------------------------------------------------------


def test_unknown_name_is_a_key_error_listing_the_declared_names() -> None:
    indicators = IndicatorSet({"fast": sma(10), "m": macd()})

    with pytest.raises(KeyError, match=r"no indicator 'slow'; declared: fast, m\.macd"):
        indicators.value("slow")
    with pytest.raises(KeyError, match=r"m\.hist"):
        indicators.values("m")


def test_value_ago_is_the_value_seen_bars_ago(series: Series) -> None:
    indicators = IndicatorSet({"s": sma(5)}, capacity=8)
    window = BarWindow(8)
    seen = []
    for i in range(20):
        window.append(series.bar(i))
        indicators.update(window)
        seen.append(indicators.value("s"))

    assert [indicators.value("s", ago) for ago in range(8)] == seen[::-1][:8]
    np.testing.assert_array_equal(indicators.values("s"), seen[-8:])
    with pytest.raises(IndexError, match="ago"):
        indicators.value("s", ago=8)


def test_bad_names_and_specs_are_refused() -> None:
    with pytest.raises(ValueError, match=r"without '\.'"):
        IndicatorSet({"a.b": sma(3)})
    with pytest.raises(ValueError, match="not an Indicator"):
        IndicatorSet({"a": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="below the 20 bars"):
        IndicatorSet({"a": sma(20)}, capacity=5)
    with pytest.raises(ValueError, match="fast period 26 must be below the slow period 12"):
        macd(26, 12)
    with pytest.raises(ValueError, match="sma source 'price'"):
        sma(3, source="price")
    with pytest.raises(ValueError, match="rsi period 1 must be an integer >= 2"):
        rsi(1)


def test_an_update_without_its_bar_is_refused(series: Series) -> None:
    indicators = IndicatorSet({"a": sma(3)})
    window = BarWindow(indicators.capacity)
    window.append(series.bar(0))
    indicators.update(window)

    with pytest.raises(ValueError, match="out of step"):
        indicators.update(window)


# --- the ring buffer ----------------------------------------------------------------------


def test_window_view_is_oldest_first_and_exact_after_many_wraps(series: Series) -> None:
    window = BarWindow(7)
    for i in range(7 * 40 + 3):
        window.append(series.bar(i), session=i // 10)

        start = max(0, i - 6)
        np.testing.assert_array_equal(window.view("close"), series.close[start : i + 1])
        np.testing.assert_array_equal(window.view("ts_event"), np.arange(start, i + 1) * MINUTE)
        np.testing.assert_array_equal(window.view("session"), np.arange(start, i + 1) // 10)
    np.testing.assert_array_equal(window.view("high", last=3), series.high[i - 2 : i + 1])
    assert window.latest("close", ago=6) == series.close[i - 6]
    assert len(window) == 7 and window.appended == 7 * 40 + 3


def test_window_view_is_a_read_only_view_not_a_copy(series: Series) -> None:
    window = BarWindow(5)
    for i in range(12):
        window.append(series.bar(i))
    view = window.view("close")

    assert view.base is not None and view.flags.c_contiguous
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 1.0
    with pytest.raises(KeyError, match="keeps: open, high"):
        window.view("price")


@given(capacity=st.integers(1, 20), count=st.integers(0, 100))
def test_window_holds_the_last_capacity_values(capacity: int, count: int) -> None:
    window = BarWindow(capacity)
    for i in range(count):
        window.append_values(
            open_=i,
            high=i,
            low=i,
            close=float(i),
            volume=1.0,
            vwap=i,
            trade_count=1,
            ts_event=i,
            ts_close=i + 1,
            session=0,
        )

    expected = np.arange(max(0, count - capacity), count, dtype=np.float64)
    np.testing.assert_array_equal(window.view("close"), expected)
    assert [tuple(row)[3] for row in window.rows()] == expected.tolist()
