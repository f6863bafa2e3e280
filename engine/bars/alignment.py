"""Where time bars start and end: intervals ``[start, end)`` on a grid from an origin.

A bar of length ``step`` containing the instant ``ts`` starts at
``origin + floor((ts - origin) / step) * step`` and ends one step later. The origin is either
a fixed instant (``0``: the Unix epoch, so ``1m`` bars start on whole UTC minutes) or a
callable giving the origin in force at an instant, typically the open of the session that
``ts`` belongs to (``09:15`` IST for NSE): bars then start at the open whatever the day.

A callable origin may move by a length that is not a multiple of the step: a ``1d`` bar from
a New York open is 23 or 25 hours apart from the next open across a daylight-saving change.
Two rules keep bars from overlapping then:

* a bar ends early at the next origin if that falls inside it (``origin(end) in (ts, end)``),
  so the day bar before a spring-forward weekend ends at the next session's open;
* a bar never starts before the end of the previous one (``floor_ns``): it starts at that end
  instead, keeping the label ``>=`` the previous bar's end.

A callable origin should depend only on the session ``ts`` falls in; it is called twice per
new bar, never per tick.
"""

from __future__ import annotations

from collections.abc import Callable

Origin = int | Callable[[int], int]
"""A fixed alignment origin in ns since the epoch UTC, or ``ts_ns -> origin_ns``."""


class Alignment:
    """The grid of one bar interval: ``bounds(ts)`` is the interval containing ``ts``."""

    __slots__ = ("_origin_for", "_origin_ns", "step_ns")

    def __init__(self, step_ns: int, origin: Origin = 0) -> None:
        if step_ns <= 0:
            raise ValueError(f"a bar interval must be > 0 ns, got {step_ns}")
        self.step_ns = step_ns
        if callable(origin):
            self._origin_for: Callable[[int], int] | None = origin
            self._origin_ns = 0
        elif isinstance(origin, int) and not isinstance(origin, bool):
            self._origin_for = None
            self._origin_ns = origin
        else:
            raise TypeError(f"origin must be an int of ns or a callable, got {origin!r}")

    def bounds(self, ts_ns: int, floor_ns: int | None = None) -> tuple[int, int]:
        """``(start, end)`` in ns of the interval containing ``ts_ns``, where
        ``start <= ts_ns < end``; ``floor_ns`` is the end of the previous bar, if any, and
        ``ts_ns`` must not be before it."""
        step = self.step_ns
        origin_for = self._origin_for
        if origin_for is None:
            start = ts_ns - (ts_ns - self._origin_ns) % step
            return start, start + step
        start = ts_ns - (ts_ns - origin_for(ts_ns)) % step
        end = start + step
        next_origin = origin_for(end)
        if ts_ns < next_origin < end:
            end = next_origin
        if floor_ns is not None and start < floor_ns:
            start = floor_ns
        return start, end
