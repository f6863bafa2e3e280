"""``trend_pullback``: in an uptrend, buy when RSI recovers from a pullback; in a downtrend,
sell when RSI falls back from a bounce.

Rule (on bar t's close; ``trend`` = EMA(trend_ema) of close; ``rsi`` = Wilder's RSI(rsi_period)
of close; ``level = pullback_below``):

* BUY when ``close[t] > trend[t]`` and ``rsi[t-1] < level <= rsi[t]`` (RSI crosses up through
  the level from below);
* SELL when ``close[t] < trend[t]`` and ``rsi[t-1] > 100 - level >= rsi[t]`` (RSI crosses down
  through the mirror level from above).

Strength: ``min(1, 0.5 + 50 * |close[t] / trend[t] - 1|)``: 1 once the close is 1 % from the
trend line. Entry at market; stop at the trend EMA; target twice that distance beyond the
close (2R). Features: ``trend``, ``rsi``, ``trend_gap_pct``, ``momentum`` (close over the
close ``rsi_period`` bars before, minus 1). With ``long_only`` (the default) a SELL is still
emitted and means "exit the long".
"""

from __future__ import annotations

from collections.abc import Mapping

from actors.strategies.features import momentum
from engine.indicators import Indicator, ema, rsi
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class TrendPullbackParams(StrategyParams, frozen=True, kw_only=True):
    trend_ema: int = 50
    """Bars in the trend EMA (>= 2)."""
    rsi_period: int = 14
    """Bars in Wilder's RSI (>= 2)."""
    pullback_below: float = 40.0
    """RSI level a pullback must have gone under (0 < level < 50); the sell side mirrors it
    at ``100 - level``."""

    def __post_init__(self) -> None:
        if self.trend_ema < 2 or self.rsi_period < 2:
            raise ValueError(
                f"trend_pullback: trend_ema {self.trend_ema} and rsi_period "
                f"{self.rsi_period} must be >= 2"
            )
        if not 0 < self.pullback_below < 50:
            raise ValueError(
                f"trend_pullback: pullback_below {self.pullback_below} must be in (0, 50)"
            )


class TrendPullback(Strategy[TrendPullbackParams]):
    name = "trend_pullback"
    summary = "Buy an RSI recovery from a pullback above the trend EMA; sell the mirror image."
    rule = (
        "on bar t's close: BUY when close[t] > EMA(trend_ema)[t] and "
        "rsi[t-1] < pullback_below <= rsi[t]; SELL when close[t] < EMA(trend_ema)[t] and "
        "rsi[t-1] > 100 - pullback_below >= rsi[t]; rsi = Wilder's RSI(rsi_period) "
        "(with long_only a SELL means exit)"
    )
    Params = TrendPullbackParams

    def indicators(self) -> Mapping[str, Indicator]:
        return {"trend": ema(self.params.trend_ema), "rsi": rsi(self.params.rsi_period)}

    def min_bars(self) -> int:
        return 1  # the RSI cross looks one bar back

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        trend, value, before = ctx.value("trend"), ctx.value("rsi"), ctx.value("rsi", 1)
        level = self.params.pullback_below
        if bar.close > trend and before < level <= value:
            side = OrderSide.BUY
        elif bar.close < trend and before > 100.0 - level >= value:
            side = OrderSide.SELL
        else:
            return
        gap = bar.close / trend - 1.0
        ctx.signal(
            side,
            min(1.0, 0.5 + 50.0 * abs(gap)),
            stop=trend,
            target=bar.close + 2.0 * (bar.close - trend),
            features={
                "trend": trend,
                "rsi": value,
                "trend_gap_pct": 100.0 * gap,
                "momentum": momentum(ctx, self.params.rsi_period),
            },
            reason=(
                f"RSI {before:.1f} -> {value:.1f} crossed "
                f"{level if side is OrderSide.BUY else 100.0 - level:g} with close "
                f"{'above' if side is OrderSide.BUY else 'below'} EMA {self.params.trend_ema}"
            ),
        )
