"""``macd_cross``: buy when the MACD line crosses above its signal line, sell when it crosses
below.

Rule (on bar t's close; ``macd`` = EMA(fast) - EMA(slow) of close, ``signal`` = EMA(signal)
of ``macd``, as TA-Lib's MACD):

* BUY when ``macd[t-1] <= signal[t-1]`` and ``macd[t] > signal[t]``;
* SELL when ``macd[t-1] >= signal[t-1]`` and ``macd[t] < signal[t]``.

Strength: ``min(1, 0.5 + 100 * |macd[t] - signal[t]| / close[t])``. No stop or target (the
indicator gives no natural price level; exits are left to the opposite cross and risk rules).
Features: ``macd``, ``signal``, ``hist``, ``momentum`` (close over the close ``slow`` bars
before, minus 1). With ``long_only`` (the default) a SELL is still emitted and means "exit".
"""

from __future__ import annotations

from collections.abc import Mapping

from actors.strategies.crossings import cross_strength, crossed_above, crossed_below
from actors.strategies.features import momentum
from engine.indicators import Indicator, macd
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class MacdCrossParams(StrategyParams, frozen=True, kw_only=True):
    fast: int = 12
    """Bars in the fast EMA (>= 2, below ``slow``)."""
    slow: int = 26
    """Bars in the slow EMA."""
    signal: int = 9
    """Bars in the signal line's EMA (>= 2)."""

    def __post_init__(self) -> None:
        if self.fast < 2 or self.signal < 2:
            raise ValueError(f"macd_cross: fast {self.fast} and signal {self.signal} must be >= 2")
        if self.fast >= self.slow:
            raise ValueError(f"macd_cross: fast {self.fast} must be below slow {self.slow}")


class MacdCross(Strategy[MacdCrossParams]):
    name = "macd_cross"
    summary = "Buy when the MACD line crosses above its signal line; sell on the reverse."
    rule = (
        "on bar t's close, macd = EMA(fast) - EMA(slow) of close, signal = EMA(signal) of macd: "
        "BUY when macd[t-1] <= signal[t-1] and macd[t] > signal[t]; "
        "SELL when macd[t-1] >= signal[t-1] and macd[t] < signal[t] "
        "(with long_only a SELL means exit)"
    )
    Params = MacdCrossParams

    def indicators(self) -> Mapping[str, Indicator]:
        return {"macd": macd(self.params.fast, self.params.slow, self.params.signal)}

    def min_bars(self) -> int:
        return 1  # the cross compares with the previous bar

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        line, signal = ctx.value("macd.macd"), ctx.value("macd.signal")
        line_before, signal_before = ctx.value("macd.macd", 1), ctx.value("macd.signal", 1)
        if crossed_above(line_before, signal_before, line, signal):
            side = OrderSide.BUY
        elif crossed_below(line_before, signal_before, line, signal):
            side = OrderSide.SELL
        else:
            return
        ctx.signal(
            side,
            cross_strength(line, signal, bar.close),
            features={
                "macd": line,
                "signal": signal,
                "hist": ctx.value("macd.hist"),
                "momentum": momentum(ctx, self.params.slow),
            },
            reason=(
                f"MACD crossed {'above' if side is OrderSide.BUY else 'below'} its signal line "
                f"({line:.4g} vs {signal:.4g})"
            ),
        )
