"""Indicators TA-Lib computes: moving averages, RSI, MACD, Bollinger bands, ATR, highest and
lowest.

Each value is one TA-Lib call (vectorised C) on the newest :attr:`Indicator.span` bars of the
window, of which the last output is kept. That makes a value a function of those bars only,
so a backtest and a live run that have seen the same recent bars agree exactly, and the cost
per bar does not grow with history. TA-Lib's global unstable-period setting is read (through
each function's lookback), never changed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import talib
from talib import abstract

from engine.indicators.bar_window import BarWindow
from engine.indicators.spec import (
    Indicator,
    check_period,
    check_positive,
    check_source,
    settle_bars,
)


@dataclass(frozen=True, repr=False)
class TalibIndicator(Indicator):
    """One TA-Lib function on bar fields, with its parameters (positional, in TA-Lib's order).

    Stateless: it is its own calculator.
    """

    function: str
    """TA-Lib's name: ``"SMA"``, ``"MACD"``..."""
    sources: tuple[str, ...]
    """The bar fields passed as TA-Lib's inputs, in its order."""
    args: tuple[float, ...]
    """TA-Lib's parameters after the inputs, in its order."""
    names: tuple[str, ...]
    """Output names for a multi-output function; empty for one output."""
    recursive_alphas: tuple[float, ...]
    """Smoothing factors of the recursive averages inside, chained (MACD: slow EMA, then the
    signal EMA of the MACD line); empty for a non-recursive function."""
    text: str
    _lookback: int = field(init=False, compare=False)
    _settle: int = field(init=False, compare=False)
    _call: Callable[..., Any] = field(init=False, compare=False)
    _span: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        params = dict(zip(_PARAMETER_NAMES[self.function], self.args, strict=True))
        # The abstract interface's lookback includes TA-Lib's (global) unstable period. It is
        # missing from TA-Lib's type stubs, hence the ignore.
        function = abstract.Function(self.function, **params)  # type: ignore[attr-defined]
        lookback = int(function.lookback)
        object.__setattr__(self, "_lookback", lookback)
        object.__setattr__(self, "_settle", sum(settle_bars(a) for a in self.recursive_alphas))
        object.__setattr__(self, "_call", talib_function(self.function))
        object.__setattr__(self, "_span", self._lookback + self._settle + 1)

    @property
    def label(self) -> str:
        return self.text

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.names

    @property
    def lookback(self) -> int:
        return self._lookback

    @property
    def settle(self) -> int:
        return self._settle

    @property
    def stateful(self) -> bool:
        return False

    def start(self) -> TalibIndicator:
        return self

    def update(self, window: BarWindow) -> tuple[float, ...]:
        span = self._span
        sources = self.sources
        if len(sources) == 1:  # the usual case, without building a list per bar
            result = self._call(window.view(sources[0], span), *self.args)
        else:
            result = self._call(*[window.view(source, span) for source in sources], *self.args)
        if isinstance(result, np.ndarray):
            return (float(result[-1]),)
        return tuple(float(output[-1]) for output in result)


def talib_function(name: str) -> Callable[..., Any]:
    """TA-Lib's compiled function ``name`` itself. With pandas or polars installed,
    ``talib.SMA`` is a wrapper that first checks every argument for a pandas or polars series
    (``functools.wraps`` keeps the original as ``__wrapped__``); on our short numpy views
    that check costs about as much as the computation."""
    function: Callable[..., Any] = inspect.unwrap(getattr(talib, name))
    return function


_PARAMETER_NAMES: dict[str, tuple[str, ...]] = {
    "SMA": ("timeperiod",),
    "EMA": ("timeperiod",),
    "WMA": ("timeperiod",),
    "RSI": ("timeperiod",),
    "ATR": ("timeperiod",),
    "MAX": ("timeperiod",),
    "MIN": ("timeperiod",),
    "SUM": ("timeperiod",),
    "MACD": ("fastperiod", "slowperiod", "signalperiod"),
    "BBANDS": ("timeperiod", "nbdevup", "nbdevdn", "matype"),
}


def _single(
    function: str, n: int, source: str, what: str, alpha: float | None = None
) -> TalibIndicator:
    n = check_period(what, n)
    source = check_source(what, source)
    return TalibIndicator(
        function=function,
        sources=(source,),
        args=(n,),
        names=(),
        recursive_alphas=() if alpha is None else (alpha,),
        text=f"{what}({n}, {source})",
    )


def sma(n: int, source: str = "close") -> TalibIndicator:
    """Simple moving average of ``source`` over ``n`` bars (TA-Lib ``SMA``)."""
    return _single("SMA", n, source, "sma")


def ema(n: int, source: str = "close") -> TalibIndicator:
    """Exponential moving average, ``alpha = 2 / (n + 1)``, seeded with the SMA of the first
    ``n`` values (TA-Lib ``EMA``)."""
    n = check_period("ema", n)
    return _single("EMA", n, source, "ema", alpha=2.0 / (n + 1))


def wma(n: int, source: str = "close") -> TalibIndicator:
    """Linearly weighted moving average over ``n`` bars, newest weighted ``n`` (TA-Lib
    ``WMA``)."""
    return _single("WMA", n, source, "wma")


def rsi(n: int = 14, source: str = "close") -> TalibIndicator:
    """Wilder's relative strength index over ``n`` bars, 0 to 100 (TA-Lib ``RSI``)."""
    n = check_period("rsi", n)
    return _single("RSI", n, source, "rsi", alpha=1.0 / n)


def highest(n: int, source: str = "high") -> TalibIndicator:
    """The highest ``source`` over the last ``n`` bars, current bar included (TA-Lib ``MAX``)."""
    return _single("MAX", n, source, "highest")


def lowest(n: int, source: str = "low") -> TalibIndicator:
    """The lowest ``source`` over the last ``n`` bars, current bar included (TA-Lib ``MIN``)."""
    return _single("MIN", n, source, "lowest")


def atr(n: int = 14) -> TalibIndicator:
    """Wilder's average true range over ``n`` bars, in price units (TA-Lib ``ATR``)."""
    n = check_period("atr", n, minimum=1)
    return TalibIndicator(
        function="ATR",
        sources=("high", "low", "close"),
        args=(n,),
        names=(),
        recursive_alphas=(1.0 / n,),
        text=f"atr({n})",
    )


def macd(fast: int = 12, slow: int = 26, signal: int = 9) -> TalibIndicator:
    """MACD of close: ``macd`` = EMA(fast) - EMA(slow), ``signal`` = EMA(signal) of the macd
    line, ``hist`` = macd - signal (TA-Lib ``MACD``). Outputs ``"macd"``, ``"signal"``,
    ``"hist"``. Raises ``ValueError`` unless ``2 <= fast < slow``."""
    fast = check_period("macd fast", fast)
    slow = check_period("macd slow", slow)
    signal = check_period("macd signal", signal)
    if fast >= slow:
        raise ValueError(f"macd fast period {fast} must be below the slow period {slow}")
    return TalibIndicator(
        function="MACD",
        sources=("close",),
        args=(fast, slow, signal),
        names=("macd", "signal", "hist"),
        # The macd line settles with its slower EMA; its signal EMA starts from a seed made of
        # macd values, so it needs its own settling after that.
        recursive_alphas=(2.0 / (slow + 1), 2.0 / (signal + 1)),
        text=f"macd({fast}, {slow}, {signal})",
    )


def bbands(n: int = 20, k: float = 2.0, source: str = "close") -> TalibIndicator:
    """Bollinger bands: ``middle`` = SMA(n), ``upper``/``lower`` = middle +/- k population
    standard deviations over ``n`` bars (TA-Lib ``BBANDS``, SMA). Outputs ``"upper"``,
    ``"middle"``, ``"lower"``."""
    n = check_period("bbands", n)
    k = check_positive("bbands k", k)
    source = check_source("bbands", source)
    return TalibIndicator(
        function="BBANDS",
        sources=(source,),
        args=(n, k, k, 0),
        names=("upper", "middle", "lower"),
        recursive_alphas=(),
        text=f"bbands({n}, {k:g}, {source})",
    )


def rolling_sum(n: int, source: str = "volume") -> TalibIndicator:
    """The sum of ``source`` over the last ``n`` bars (TA-Lib ``SUM``)."""
    return _single("SUM", n, source, "sum")
