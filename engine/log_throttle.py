"""Bounded-rate logging: at most one line per kind of event per interval, with a count of
what was held back in between.

A feed that receives a million bad ticks must not write a million lines: it logs the first of
each reason, then at most one per ``interval_ns``, each saying how many it held back since the
previous one. The throttle only decides; the caller logs (so the line keeps its own fields).
"""

from __future__ import annotations

from collections.abc import Hashable


class LogThrottle:
    """Decides, per key, whether a line may be written now. Times are the caller's clock,
    ns. Owned by one actor; not thread-safe."""

    def __init__(self, interval_ns: int) -> None:
        if interval_ns < 0:
            raise ValueError(f"interval_ns must be >= 0 ns, got {interval_ns}")
        self.interval_ns = interval_ns
        self._last_ns: dict[Hashable, int] = {}
        self._held: dict[Hashable, int] = {}

    def admit(self, key: Hashable, now_ns: int) -> int | None:
        """``None``: stay quiet (the line is counted as held back). An ``int``: write the
        line now; the value is how many lines of ``key`` were held back since the last one."""
        last = self._last_ns.get(key)
        if last is not None and now_ns - last < self.interval_ns:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last_ns[key] = now_ns
        return self._held.pop(key, 0)

    def held_back(self, key: Hashable) -> int:
        """Lines of ``key`` held back since the last one written."""
        return self._held.get(key, 0)
