"""When one series crosses another, the way every built-in crossing rule defines it.

A cross *up* at bar t: ``a[t-1] <= b[t-1]`` and ``a[t] > b[t]``; a cross *down* is the mirror
image, ``a[t-1] >= b[t-1]`` and ``a[t] < b[t]``. Touching (equal) and moving away again is not
a cross; a missing value (NaN) is never one.
"""

from __future__ import annotations


def crossed_above(a_before: float, b_before: float, a_now: float, b_now: float) -> bool:
    """``a`` crossed above ``b`` at this bar."""
    return a_before <= b_before and a_now > b_now


def crossed_below(a_before: float, b_before: float, a_now: float, b_now: float) -> bool:
    """``a`` crossed below ``b`` at this bar."""
    return a_before >= b_before and a_now < b_now


def cross_strength(a_now: float, b_now: float, close: float) -> float:
    """``min(1, 0.5 + 100 * |a - b| / close)``: 0.5 for a bare cross, 1 once the two lines are
    half a percent of the price apart (a cross with some push behind it)."""
    return min(1.0, 0.5 + 100.0 * abs(a_now - b_now) / close)
