"""Features several built-in strategies attach to their signals, for the ranker."""

from __future__ import annotations

from engine.strategy import StrategyContext


def momentum(ctx: StrategyContext, bars: int) -> float:
    """``close[t] / close[t - bars] - 1`` (a fraction: 0.01 is +1 %); NaN when fewer bars are
    kept. A signal leaves NaN features out."""
    closes = ctx.series("close")
    if len(closes) <= bars:
        return float("nan")
    return float(closes[-1] / closes[-1 - bars] - 1.0)
