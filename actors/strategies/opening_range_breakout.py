"""``opening_range_breakout``: buy the first close above the session's opening range, sell
the first close below it.

Rule:

* the session starts at the time ``on_session_open`` gives, or, without one, at the
  ``ts_event`` of the session's first bar (a new session = a new session key);
* the opening range is the highest high and lowest low of the session's bars that end
  (``ts_close``) no later than ``start + range_minutes``;
* after it, BUY on the first bar whose close is above the range high, SELL on the first bar
  whose close is below the range low: at most one BUY and one SELL per session.

A strategy that joins a session already under way with no saved state (the window's previous
bar belongs to the same session) does not know the range and waits for the next session.
Strength: ``min(1, 0.5 + 0.5 * beyond / height)``, ``beyond`` how far past the range the close
is, ``height`` the range's. Entry at market; stop at the other side of the range; target the
range height beyond the close. Features: ``range_high``, ``range_low``, ``range_pct``
(height in percent of the low). With ``long_only`` (the default) a SELL is still emitted and
means "exit the long". The range and what was signalled live in ``state``, so a restart in the
middle of a session keeps them.
"""

from __future__ import annotations

from typing import Any

from engine.bars.interval import MINUTE_NS
from engine.messages.market import Bar
from engine.messages.trading import OrderSide
from engine.strategy import Strategy, StrategyContext, StrategyParams


class OpeningRangeBreakoutParams(StrategyParams, frozen=True, kw_only=True):
    range_minutes: int = 15
    """Length of the opening range from the session's start, in minutes (>= 1)."""

    def __post_init__(self) -> None:
        if self.range_minutes < 1:
            raise ValueError(
                f"opening_range_breakout: range_minutes {self.range_minutes} must be >= 1"
            )


def _fresh(session: int | None, start_ns: int, *, known: bool = True) -> dict[str, Any]:
    return {
        "session": session,
        "start_ns": start_ns,
        "high": None,
        "low": None,
        "known": known,
        "bought": False,
        "sold": False,
    }


class OpeningRangeBreakout(Strategy[OpeningRangeBreakoutParams]):
    name = "opening_range_breakout"
    summary = "Buy the first close above the opening range's high; sell the first below its low."
    rule = (
        "range = highest high / lowest low of the session's bars with ts_close <= session "
        "start + range_minutes; after it, BUY on the first close > range high and SELL on the "
        "first close < range low; at most one BUY and one SELL per session "
        "(with long_only a SELL means exit)"
    )
    Params = OpeningRangeBreakoutParams

    def on_session_open(self, ctx: StrategyContext, session_open_ns: int) -> None:
        # The session key is learnt from its first bar.
        self.state = _fresh(None, session_open_ns)

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        state = self.state
        session = ctx.session
        if not state or (state["session"] is not None and state["session"] != session):
            sessions = ctx.series("session")
            joined_late = not state and len(sessions) >= 2 and int(sessions[-2]) == session
            state = self.state = _fresh(session, bar.ts_event, known=not joined_late)
        elif state["session"] is None:
            state["session"] = session
        if not state["known"]:
            return
        if bar.ts_close <= state["start_ns"] + self.params.range_minutes * MINUTE_NS:
            state["high"] = bar.high if state["high"] is None else max(state["high"], bar.high)
            state["low"] = bar.low if state["low"] is None else min(state["low"], bar.low)
            return
        high, low = state["high"], state["low"]
        if high is None or low is None:
            return  # no bar in the range period: no range this session
        height = high - low
        if bar.close > high and not state["bought"]:
            state["bought"] = True
            side, beyond, stop, target = OrderSide.BUY, bar.close - high, low, bar.close + height
        elif bar.close < low and not state["sold"]:
            state["sold"] = True
            side, beyond, stop, target = OrderSide.SELL, low - bar.close, high, bar.close - height
        else:
            return
        ctx.signal(
            side,
            min(1.0, 0.5 + 0.5 * beyond / height) if height > 0 else 1.0,
            stop=stop,
            target=target,
            features={"range_high": high, "range_low": low, "range_pct": 100.0 * height / low},
            reason=(
                f"close {bar.close:.4g} broke the {self.params.range_minutes}-minute range "
                f"{'high' if side is OrderSide.BUY else 'low'} "
                f"{high if side is OrderSide.BUY else low:.4g}"
            ),
        )
