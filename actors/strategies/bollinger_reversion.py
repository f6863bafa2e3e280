"""``bollinger_reversion``: buy a close that breaks below the lower Bollinger band, sell one
that breaks above the upper band, betting on a return to the middle.

Rule (on bar t's close; ``upper``, ``middle``, ``lower`` = SMA(period) of close plus and minus
``k`` population standard deviations over ``period`` bars, the current bar included):

* BUY when ``close[t] < lower[t]`` and ``close[t-1] >= lower[t-1]`` (the first close below the
  band: one signal per excursion, not one per bar outside);
* SELL when ``close[t] > upper[t]`` and ``close[t-1] <= upper[t-1]``.

Strength: ``min(1, 0.5 + 2 * depth)`` with ``depth`` how far outside the band the close is, as
a fraction of the band width (``(lower - close) / (upper - lower)`` for a BUY). Entry at
market; target the middle band; stop half the distance to the target on the other side of
the close (risk 1 to make 2). Features: ``upper``, ``middle``, ``lower``, ``percent_b``
(``(close - lower) / (upper - lower)``), ``bandwidth_pct``. With ``long_only`` (the default) a
SELL is still emitted and means "exit the long".
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.indicators import Indicator, bbands
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class BollingerReversionParams(StrategyParams, frozen=True, kw_only=True):
    period: int = 20
    """Bars in the bands' average and deviation (>= 2)."""
    k: float = 2.0
    """Band half-width in standard deviations (> 0)."""

    def __post_init__(self) -> None:
        if self.period < 2:
            raise ValueError(f"bollinger_reversion: period {self.period} must be >= 2")
        if not self.k > 0:
            raise ValueError(f"bollinger_reversion: k {self.k} must be > 0")


class BollingerReversion(Strategy[BollingerReversionParams]):
    name = "bollinger_reversion"
    summary = "Buy the first close below the lower Bollinger band; sell the first above the upper."
    rule = (
        "on bar t's close, bands = SMA(period) +/- k population std devs of close: "
        "BUY when close[t] < lower[t] and close[t-1] >= lower[t-1]; "
        "SELL when close[t] > upper[t] and close[t-1] <= upper[t-1] "
        "(with long_only a SELL means exit)"
    )
    Params = BollingerReversionParams

    def indicators(self) -> Mapping[str, Indicator]:
        return {"bb": bbands(self.params.period, self.params.k)}

    def min_bars(self) -> int:
        return 1  # compares with the previous bar

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        upper, middle, lower = ctx.value("bb.upper"), ctx.value("bb.middle"), ctx.value("bb.lower")
        closes = ctx.series("close")
        if len(closes) < 2:
            return
        close, close_before = bar.close, float(closes[-2])
        width = upper - lower
        if close < lower and close_before >= ctx.value("bb.lower", 1):
            side, depth = OrderSide.BUY, (lower - close) / width
        elif close > upper and close_before <= ctx.value("bb.upper", 1):
            side, depth = OrderSide.SELL, (close - upper) / width
        else:
            return
        band, level = ("lower", lower) if side is OrderSide.BUY else ("upper", upper)
        ctx.signal(
            side,
            min(1.0, 0.5 + 2.0 * depth),
            stop=close - (middle - close) / 2.0,
            target=middle,
            features={
                "upper": upper,
                "middle": middle,
                "lower": lower,
                "percent_b": (close - lower) / width,
                "bandwidth_pct": 100.0 * width / middle,
            },
            reason=f"close {close:.4g} outside the {band} band ({level:.4g})",
        )
