"""``rsi_threshold``: buy while RSI is oversold, sell while it is overbought.

Rule (on bar t's close; ``rsi`` is Wilder's RSI of close over ``period`` bars):

* BUY when ``rsi[t] < buy_below``;
* SELL when ``rsi[t] > sell_above``.

Levels, not crosses: every bar on which a level holds gives a signal (the ranker and risk
decide whether another one adds anything). Strength: how deep into the zone,
``(buy_below - rsi) / buy_below`` for a BUY and ``(rsi - sell_above) / (100 - sell_above)``
for a SELL. No stop or target: exits are left to the opposite level and risk rules. Features:
``rsi``. With ``long_only`` (the default) a SELL is still emitted and means "exit the long".
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.indicators import Indicator, rsi
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class RsiThresholdParams(StrategyParams, frozen=True, kw_only=True):
    period: int = 14
    """Bars in Wilder's RSI (>= 2)."""
    buy_below: float = 30.0
    """Oversold level, in RSI points (0 < buy_below < sell_above)."""
    sell_above: float = 70.0
    """Overbought level, in RSI points (< 100)."""

    def __post_init__(self) -> None:
        if self.period < 2:
            raise ValueError(f"rsi_threshold: period {self.period} must be >= 2")
        if not 0 < self.buy_below < self.sell_above < 100:
            raise ValueError(
                f"rsi_threshold: levels buy_below {self.buy_below} and sell_above "
                f"{self.sell_above} must satisfy 0 < buy_below < sell_above < 100"
            )


class RsiThreshold(Strategy[RsiThresholdParams]):
    name = "rsi_threshold"
    summary = "Buy on every bar RSI is below the oversold level; sell above the overbought one."
    rule = (
        "on bar t's close, rsi = Wilder's RSI(period) of close: "
        "BUY when rsi[t] < buy_below; SELL when rsi[t] > sell_above "
        "(levels, not crosses: a signal on every such bar; with long_only a SELL means exit)"
    )
    Params = RsiThresholdParams

    def indicators(self) -> Mapping[str, Indicator]:
        return {"rsi": rsi(self.params.period)}

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        value = ctx.value("rsi")
        low, high = self.params.buy_below, self.params.sell_above
        if value < low:
            ctx.signal(
                OrderSide.BUY,
                (low - value) / low,
                features={"rsi": value},
                reason=f"RSI {value:.1f} below {low:g}",
            )
        elif value > high:
            ctx.signal(
                OrderSide.SELL,
                (value - high) / (100.0 - high),
                features={"rsi": value},
                reason=f"RSI {value:.1f} above {high:g}",
            )
