"""Volume-weighted prices TA-Lib does not have: the volume-weighted moving average and the
session VWAP, in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.indicators.bar_window import BarWindow
from engine.indicators.spec import Indicator, check_period

_NAN = float("nan")


@dataclass(frozen=True, repr=False)
class Vwma(Indicator):
    """``sum(close * volume) / sum(volume)`` over the last ``n`` bars; NaN when those bars
    traded nothing. Stateless: it is its own calculator."""

    n: int

    @property
    def label(self) -> str:
        return f"vwma({self.n})"

    @property
    def outputs(self) -> tuple[str, ...]:
        return ()

    @property
    def lookback(self) -> int:
        return self.n - 1

    @property
    def settle(self) -> int:
        return 0

    @property
    def stateful(self) -> bool:
        return False

    def start(self) -> Vwma:
        return self

    def update(self, window: BarWindow) -> tuple[float, ...]:
        if window.size < self.n:
            return (_NAN,)
        volume = window.view("volume", self.n)
        total = float(volume.sum())
        if total <= 0.0:
            return (_NAN,)
        return (float(np.dot(window.view("close", self.n), volume)) / total,)


def vwma(n: int = 20) -> Vwma:
    """Volume-weighted moving average of close over ``n`` bars."""
    return Vwma(check_period("vwma", n, minimum=1))


@dataclass(frozen=True, repr=False)
class SessionVwap(Indicator):
    """``sum(vwap * volume) / sum(volume)`` over the bars of the current session so far (the
    bars whose session key equals the newest bar's); bars with no volume add nothing; NaN
    until the session has traded.

    Kept as two running sums reset when the session key changes, so a session longer than
    the window is still whole. The flip side: it covers the session's bars this calculator was
    shown, so after a restart it is exact only if the warm-up history starts at (or before)
    the session's first bar.
    """

    @property
    def label(self) -> str:
        return "session_vwap()"

    @property
    def outputs(self) -> tuple[str, ...]:
        return ()

    @property
    def lookback(self) -> int:
        return 0

    @property
    def settle(self) -> int:
        return 0

    def start(self) -> _SessionVwapCalculator:
        return _SessionVwapCalculator()


class _SessionVwapCalculator:
    __slots__ = ("_session", "_traded_value", "_volume")

    def __init__(self) -> None:
        self._session: int | None = None
        self._traded_value = 0.0
        self._volume = 0.0

    @property
    def stateful(self) -> bool:
        return True

    def update(self, window: BarWindow) -> tuple[float, ...]:
        session = int(window.latest("session"))
        if session != self._session:
            self._session = session
            self._traded_value = 0.0
            self._volume = 0.0
        volume = window.latest("volume")
        if volume > 0.0:
            self._traded_value += window.latest("vwap") * volume
            self._volume += volume
        if self._volume <= 0.0:
            return (_NAN,)
        return (self._traded_value / self._volume,)


def session_vwap() -> SessionVwap:
    """Volume-weighted average price of the current session (from each bar's vwap)."""
    return SessionVwap()
