"""Supertrend: a trailing band ``multiplier`` ATRs from the bar's midpoint that flips side
when the close crosses it.

The recursion is TradingView's ``ta.supertrend`` with the direction's sign reversed (here +1
is up). With ``mid = (high + low) / 2``, ``atr`` = Wilder's ATR(n) from TA-Lib::

    basic_upper = mid + multiplier * atr          basic_lower = mid - multiplier * atr
    upper[t] = basic_upper if basic_upper < upper[t-1] or close[t-1] > upper[t-1] else upper[t-1]
    lower[t] = basic_lower if basic_lower > lower[t-1] or close[t-1] < lower[t-1] else lower[t-1]
    if direction[t-1] == -1: direction[t] = +1 if close[t] > upper[t] else -1
    else:                    direction[t] = -1 if close[t] < lower[t] else +1
    line[t] = lower[t] if direction[t] == +1 else upper[t]

At the first bar with an ATR the bands are the basic bands and the direction is -1 (down),
as TradingView starts. The bands ratchet, so the recursion is kept bar by bar (O(1) per bar)
rather than replayed over the window; its ATR is TA-Lib's on the window, like :func:`atr`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.indicators.bar_window import BarWindow
from engine.indicators.spec import Indicator, check_period, check_positive, settle_bars
from engine.indicators.talib_based import atr, talib_function

_NAN = float("nan")
_ATR = talib_function("ATR")


@dataclass(frozen=True, repr=False)
class Supertrend(Indicator):
    """Outputs ``"line"`` (the active band, price units) and ``"direction"`` (+1 up, -1
    down)."""

    n: int
    multiplier: float

    @property
    def label(self) -> str:
        return f"supertrend({self.n}, {self.multiplier:g})"

    @property
    def outputs(self) -> tuple[str, ...]:
        return ("line", "direction")

    @property
    def lookback(self) -> int:
        return atr(self.n).lookback

    @property
    def settle(self) -> int:
        return settle_bars(1.0 / self.n)

    def start(self) -> _SupertrendCalculator:
        return _SupertrendCalculator(self.n, self.multiplier, self.span)


class _SupertrendCalculator:
    __slots__ = ("_direction", "_lower", "_multiplier", "_n", "_span", "_upper")

    def __init__(self, n: int, multiplier: float, span: int) -> None:
        self._n = n
        self._multiplier = multiplier
        self._span = span
        self._upper = _NAN
        self._lower = _NAN
        self._direction = 0
        """0 until the first ATR value; then +1 or -1."""

    @property
    def stateful(self) -> bool:
        return True

    def update(self, window: BarWindow) -> tuple[float, ...]:
        span = self._span
        high = window.view("high", span)
        low = window.view("low", span)
        close = window.view("close", span)
        average_range = float(_ATR(high, low, close, self._n)[-1])
        if math.isnan(average_range):
            return (_NAN, _NAN)
        mid = (float(high[-1]) + float(low[-1])) / 2.0
        basic_upper = mid + self._multiplier * average_range
        basic_lower = mid - self._multiplier * average_range
        last_close = float(close[-1])
        if self._direction == 0:
            self._upper, self._lower, self._direction = basic_upper, basic_lower, -1
        else:
            previous_close = float(close[-2])
            if basic_upper < self._upper or previous_close > self._upper:
                self._upper = basic_upper
            if basic_lower > self._lower or previous_close < self._lower:
                self._lower = basic_lower
            if self._direction == -1:
                self._direction = 1 if last_close > self._upper else -1
            else:
                self._direction = -1 if last_close < self._lower else 1
        line = self._lower if self._direction == 1 else self._upper
        return (line, float(self._direction))


def supertrend(n: int = 10, multiplier: float = 3.0) -> Supertrend:
    """Supertrend over Wilder's ATR(n), bands ``multiplier`` ATRs from the bar midpoint."""
    return Supertrend(
        check_period("supertrend", n, minimum=1), check_positive("multiplier", multiplier)
    )
