"""``supertrend_volume``: buy when Supertrend turns up on a close above the volume-weighted
average and on heavy volume; sell on the mirror image.

Rule (on bar t's close; ``direction`` is Supertrend(atr_period, multiplier)'s, +1 up / -1 down
(see :mod:`engine.indicators.supertrend`); ``vwma`` the volume-weighted average of close over
``vwma_period`` bars; ``average_volume`` the SMA of volume over the ``vwma_period`` bars
*before* t, so a spike does not raise its own bar):

* BUY when ``direction[t-1] == -1`` and ``direction[t] == +1`` and ``close[t] > vwma[t]`` and
  ``volume[t] > volume_factor * average_volume``;
* SELL when ``direction[t-1] == +1`` and ``direction[t] == -1`` and ``close[t] < vwma[t]`` and
  ``volume[t] > volume_factor * average_volume``.

Strength: ``min(1, 0.5 * volume[t] / (volume_factor * average_volume))``: 0.5 at the volume
threshold, 1 at twice it. Entry at market; stop at the Supertrend line (the band on the other
side of the close after the flip); target twice the stop distance beyond the close (2R).
Features: ``supertrend``, ``vwma``, ``volume_ratio`` (volume over its average). With
``long_only`` (the default) a SELL is still emitted and means "exit the long".
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.indicators import Indicator, sma, supertrend, vwma
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class SupertrendVolumeParams(StrategyParams, frozen=True, kw_only=True):
    atr_period: int = 10
    """Bars in Supertrend's ATR (>= 1)."""
    multiplier: float = 3.0
    """Supertrend band distance in ATRs (> 0)."""
    vwma_period: int = 20
    """Bars in the VWMA and in the average volume (>= 2)."""
    volume_factor: float = 1.5
    """How many times the average volume the bar must trade (> 0)."""

    def __post_init__(self) -> None:
        if self.atr_period < 1:
            raise ValueError(f"supertrend_volume: atr_period {self.atr_period} must be >= 1")
        if self.vwma_period < 2:
            raise ValueError(f"supertrend_volume: vwma_period {self.vwma_period} must be >= 2")
        for name in ("multiplier", "volume_factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"supertrend_volume: {name} {getattr(self, name)} must be > 0")


class SupertrendVolume(Strategy[SupertrendVolumeParams]):
    name = "supertrend_volume"
    summary = "Buy a Supertrend flip up confirmed by a close above VWMA and heavy volume."
    rule = (
        "on bar t's close: BUY when supertrend direction goes from -1 at t-1 to +1 at t and "
        "close[t] > vwma[t] and volume[t] > volume_factor * SMA(volume, vwma_period) of bars "
        "t-vwma_period..t-1; SELL when it goes from +1 to -1 and close[t] < vwma[t] with the "
        "same volume test (with long_only a SELL means exit)"
    )
    Params = SupertrendVolumeParams

    def indicators(self) -> Mapping[str, Indicator]:
        p = self.params
        return {
            "st": supertrend(p.atr_period, p.multiplier),
            "vwma": vwma(p.vwma_period),
            "average_volume": sma(p.vwma_period, source="volume"),
        }

    def min_bars(self) -> int:
        return 1  # the flip and the average volume look one bar back

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        direction, before = ctx.value("st.direction"), ctx.value("st.direction", 1)
        average = ctx.value("vwma")
        average_volume = ctx.value("average_volume", 1)
        if not bar.volume > self.params.volume_factor * average_volume:
            return
        if before == -1 and direction == 1 and bar.close > average:
            side = OrderSide.BUY
        elif before == 1 and direction == -1 and bar.close < average:
            side = OrderSide.SELL
        else:
            return
        line = ctx.value("st.line")
        volume_ratio = bar.volume / average_volume
        ctx.signal(
            side,
            min(1.0, 0.5 * volume_ratio / self.params.volume_factor),
            stop=line,
            target=bar.close + 2.0 * (bar.close - line),
            features={"supertrend": line, "vwma": average, "volume_ratio": volume_ratio},
            reason=(
                f"supertrend turned {'up' if side is OrderSide.BUY else 'down'} on "
                f"{volume_ratio:.1f}x average volume, close {bar.close:.4g} vs VWMA {average:.4g}"
            ),
        )
