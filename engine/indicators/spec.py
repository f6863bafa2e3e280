"""What an indicator is: a frozen description (:class:`Indicator`) that knows how many bars
it reads and how long it takes to warm up, and makes the :class:`Calculator` that computes
it bar by bar.

The warm-up arithmetic lives here too: a recursive average (EMA, Wilder's RSI and ATR) still
carries the weight ``(1 - alpha) ** k`` of where it started ``k`` bars later, so it needs
:func:`settle_bars` extra bars before that weight falls below :data:`SETTLE_DECAY`.
"""

from __future__ import annotations

import abc
import math
from typing import Protocol

from engine.indicators.bar_window import PRICE_FIELDS, BarWindow

SETTLE_DECAY = 1e-10
"""The weight a recursive indicator's starting point may still have once warm. Ten times
below :data:`TOLERANCE`: the start's error is scaled by how far the seed was from the true
value (at most the price range) and, for RSI, by the ratio of average gain to average move."""

TOLERANCE = 1e-9
"""How close a warm recursive indicator is to TA-Lib run over the whole history, relative to
its scale (the price level for EMA and MACD; the ATR itself for ATR; 100 for RSI)."""


def settle_bars(alpha: float) -> int:
    """Bars ``k`` after which a recursive average with smoothing ``alpha`` (EMA: ``2/(n+1)``;
    Wilder: ``1/n``) keeps at most :data:`SETTLE_DECAY` of its starting point:
    the least ``k`` with ``(1 - alpha) ** k <= SETTLE_DECAY``. 0 for ``alpha >= 1``."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"smoothing factor {alpha} must be in (0, 1]")
    if alpha == 1.0:
        return 0
    return math.ceil(math.log(SETTLE_DECAY) / math.log1p(-alpha))


class Calculator(Protocol):
    """Computes one indicator after each bar appended to a window."""

    @property
    def stateful(self) -> bool:
        """True when the value depends on state carried from bar to bar (so every bar must be
        shown, in order); False when it is a function of the window alone."""
        ...

    def update(self, window: BarWindow) -> tuple[float, ...]:
        """The indicator's outputs at the window's newest bar (NaN where none yet)."""
        ...


class Indicator(abc.ABC):
    """A declared indicator: what to compute, how many bars it reads and when it is warm.

    Built by the factories (:func:`~engine.indicators.sma`, ...). Equal descriptions compare
    equal, so a configuration change is visible.
    """

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """How it reads in a log line: ``"ema(20, close)"``."""

    @property
    @abc.abstractmethod
    def outputs(self) -> tuple[str, ...]:
        """Names of the outputs of a multi-output indicator (``("macd", "signal", "hist")``),
        read as ``"name.output"``; empty for a single-valued one."""

    @property
    @abc.abstractmethod
    def lookback(self) -> int:
        """Bars before the first value (TA-Lib's lookback): the first value is at the bar with
        index ``lookback``, counting from 0."""

    @property
    @abc.abstractmethod
    def settle(self) -> int:
        """Extra bars a recursive indicator needs for its starting point to fade below
        :data:`SETTLE_DECAY`; 0 for a non-recursive one."""

    @property
    def span(self) -> int:
        """Bars read for each value, and bars before the value is warm:
        ``lookback + settle + 1``."""
        return self.lookback + self.settle + 1

    @abc.abstractmethod
    def start(self) -> Calculator:
        """A calculator for one instrument (fresh state)."""

    def __repr__(self) -> str:
        return self.label


def check_period(what: str, n: object, minimum: int = 2) -> int:
    """``n`` if it is an ``int >= minimum``; else ``ValueError`` naming ``what``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ValueError(f"{what} period {n!r} must be an integer >= {minimum}")
    return n


def check_source(what: str, source: object) -> str:
    """``source`` if it is a bar field a window keeps; else ``ValueError`` listing them."""
    if source not in PRICE_FIELDS:
        raise ValueError(
            f"{what} source {source!r} is not a bar field; allowed: {', '.join(PRICE_FIELDS)}"
        )
    assert isinstance(source, str)
    return source


def check_positive(what: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0; else ``ValueError`` naming it."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{what} {value!r} must be a number > 0")
    return float(value)
