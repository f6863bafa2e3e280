"""``sma_cross``: buy when a fast moving average of the close crosses above a slow one, sell
when it crosses below.

Rule (on bar t's close; ``fast`` and ``slow`` are the SMA, or with ``ma = "ema"`` the EMA, of
close over ``fast`` and ``slow`` bars):

* BUY when ``fast[t-1] <= slow[t-1]`` and ``fast[t] > slow[t]``;
* SELL when ``fast[t-1] >= slow[t-1]`` and ``fast[t] < slow[t]``.

Strength: ``min(1, 0.5 + 100 * |fast[t] - slow[t]| / close[t])``. Entry at market; stop at the
lowest low of the last ``slow`` bars (BUY) or the highest high (SELL); target twice the stop
distance on the other side of the close (2R). Features: ``fast``, ``slow``, ``gap_pct``
(``100 * (fast - slow) / slow``), ``momentum`` (close over the close ``slow`` bars before,
minus 1). With ``long_only`` (the default) a SELL is still emitted and means "exit the long".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from actors.strategies.crossings import cross_strength, crossed_above, crossed_below
from actors.strategies.features import momentum
from engine.indicators import Indicator, ema, highest, lowest, sma
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class SmaCrossParams(StrategyParams, frozen=True, kw_only=True):
    fast: int = 10
    """Bars in the fast average (>= 2, below ``slow``)."""
    slow: int = 30
    """Bars in the slow average."""
    ma: Literal["sma", "ema"] = "sma"
    """Which moving average: simple or exponential."""

    def __post_init__(self) -> None:
        if self.fast < 2:
            raise ValueError(f"sma_cross: fast {self.fast} must be >= 2")
        if self.fast >= self.slow:
            raise ValueError(f"sma_cross: fast {self.fast} must be below slow {self.slow}")
        if self.ma not in ("sma", "ema"):
            raise ValueError(f"sma_cross: ma {self.ma!r} must be 'sma' or 'ema'")


class SmaCross(Strategy[SmaCrossParams]):
    name = "sma_cross"
    summary = "Buy when the fast moving average crosses above the slow one; sell on the reverse."
    rule = (
        "on bar t's close, fast/slow = SMA (or EMA with ma='ema') of close over fast/slow bars: "
        "BUY when fast[t-1] <= slow[t-1] and fast[t] > slow[t]; "
        "SELL when fast[t-1] >= slow[t-1] and fast[t] < slow[t] "
        "(with long_only a SELL means exit)"
    )
    Params = SmaCrossParams

    def indicators(self) -> Mapping[str, Indicator]:
        average = sma if self.params.ma == "sma" else ema
        return {
            "fast": average(self.params.fast),
            "slow": average(self.params.slow),
            "lowest_low": lowest(self.params.slow),
            "highest_high": highest(self.params.slow),
        }

    def min_bars(self) -> int:
        return 1  # the cross compares with the previous bar's averages

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        fast, slow = ctx.value("fast"), ctx.value("slow")
        fast_before, slow_before = ctx.value("fast", ago=1), ctx.value("slow", ago=1)
        if crossed_above(fast_before, slow_before, fast, slow):
            side, stop = OrderSide.BUY, ctx.value("lowest_low")
        elif crossed_below(fast_before, slow_before, fast, slow):
            side, stop = OrderSide.SELL, ctx.value("highest_high")
        else:
            return
        ctx.signal(
            side,
            cross_strength(fast, slow, bar.close),
            stop=stop,
            target=bar.close + 2.0 * (bar.close - stop),
            features={
                "fast": fast,
                "slow": slow,
                "gap_pct": 100.0 * (fast - slow) / slow,
                "momentum": momentum(ctx, self.params.slow),
            },
            reason=(
                f"{self.params.ma} {self.params.fast} crossed "
                f"{'above' if side is OrderSide.BUY else 'below'} {self.params.ma} "
                f"{self.params.slow} ({fast:.4g} vs {slow:.4g})"
            ),
        )
