"""``vwap_reversion``: buy when the close has fallen well below the session's VWAP, sell when
it has risen well above it, betting on a return to the VWAP.

Rule (on bar t's close; ``vwap`` = the session's volume-weighted average price so far, this
bar included; ``deviation = 100 * (close[t] / vwap[t] - 1)`` in percent):

* BUY on the first bar of a run of bars with ``deviation < -threshold_pct`` (the session's
  previous bar was not in that zone);
* SELL on the first bar of a run with ``deviation > threshold_pct``;
* only from the session's ``min_session_bars``-th bar on (an early VWAP rests on a handful of
  trades); a run that began earlier gives no signal.

Strength: ``min(1, |deviation| / (3 * threshold_pct))``. Entry at market; target the VWAP;
stop another ``threshold_pct`` beyond the close. Features: ``vwap``, ``deviation_pct``. With
``long_only`` (the default) a SELL is still emitted and means "exit the long". State
(``session``, ``bars``, ``zone``) is reset when the bar's session key changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from engine.indicators import Indicator, session_vwap
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class VwapReversionParams(StrategyParams, frozen=True, kw_only=True):
    threshold_pct: float = 0.5
    """How far from the VWAP, in percent of it, the close must be (> 0)."""
    min_session_bars: int = 5
    """The session's bar from which signals may come (>= 1; 1 = from its first bar)."""

    def __post_init__(self) -> None:
        if not self.threshold_pct > 0:
            raise ValueError(f"vwap_reversion: threshold_pct {self.threshold_pct} must be > 0")
        if self.min_session_bars < 1:
            raise ValueError(
                f"vwap_reversion: min_session_bars {self.min_session_bars} must be >= 1"
            )


class VwapReversion(Strategy[VwapReversionParams]):
    name = "vwap_reversion"
    summary = "Buy a close stretched below the session VWAP; sell one stretched above it."
    rule = (
        "on bar t's close, deviation = 100 * (close[t] / session_vwap[t] - 1): "
        "BUY on the first bar of a run with deviation < -threshold_pct, "
        "SELL on the first bar of a run with deviation > threshold_pct, "
        "from the session's min_session_bars-th bar on (with long_only a SELL means exit)"
    )
    Params = VwapReversionParams

    def indicators(self) -> Mapping[str, Indicator]:
        return {"vwap": session_vwap()}

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        state = self.state
        if state.get("session") != ctx.session:
            state.update(session=ctx.session, bars=0, zone=0)
        state["bars"] += 1
        vwap = ctx.value("vwap")
        if math.isnan(vwap):
            state["zone"] = 0
            return
        deviation = 100.0 * (bar.close / vwap - 1.0)
        threshold = self.params.threshold_pct
        zone = -1 if deviation < -threshold else 1 if deviation > threshold else 0
        entered = zone != 0 and zone != state["zone"]
        state["zone"] = zone
        if not entered or state["bars"] < self.params.min_session_bars:
            return
        side = OrderSide.BUY if zone < 0 else OrderSide.SELL
        ctx.signal(
            side,
            min(1.0, abs(deviation) / (3.0 * threshold)),
            stop=bar.close * (1.0 + zone * threshold / 100.0),
            target=vwap,
            features={"vwap": vwap, "deviation_pct": deviation},
            reason=f"close {abs(deviation):.2f}% {'below' if zone < 0 else 'above'} session VWAP",
        )
