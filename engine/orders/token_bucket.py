"""A token bucket on integer nanoseconds: at most ``burst`` requests at once, then ``rate`` a
second.

Kept as the generic cell rate algorithm (one "theoretical arrival time" instead of a float
level), so it is exact on the clock's integers and gives the same answers on every run: a
request may go at ``now`` when ``now >= tat - (burst - 1) * interval``, and taking it moves
``tat`` to ``max(tat, now) + interval``. An idle bucket refills to ``burst`` and no further.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]

_NS_PER_S = 1_000_000_000


class TokenBucket:
    """``rate_per_s`` requests a second on average, up to ``burst`` back to back.

    Raises ``ValueError`` for a rate not above 0 or a burst below 1. Times are the owner's
    clock, ns. Not thread-safe: one owner.
    """

    __slots__ = ("_tat", "burst", "interval_ns", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: int) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        # Rounded up: the bucket may run a hair slower than asked, never faster.
        self.interval_ns = max(1, _ceil_div(rate_per_s))
        self._tat: int | None = None

    def available_at(self, now_ns: int) -> int:
        """The earliest time (>= ``now_ns``) a request may go."""
        if self._tat is None:
            return now_ns
        return max(now_ns, self._tat - (self.burst - 1) * self.interval_ns)

    def try_take(self, now_ns: int) -> bool:
        """Take a token if one is there at ``now_ns``."""
        if self.available_at(now_ns) > now_ns:
            return False
        tat = now_ns if self._tat is None else max(self._tat, now_ns)
        self._tat = tat + self.interval_ns
        return True


def _ceil_div(rate_per_s: float) -> int:
    """``ceil(1e9 / rate)`` ns, computed so a rate like 3.0 gives 333_333_334, not less."""
    interval = int(_NS_PER_S / rate_per_s)
    return interval + 1 if interval * rate_per_s < _NS_PER_S else interval
