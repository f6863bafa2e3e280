"""A token bucket for the order rate, in exact integer nanoseconds.

The bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second. It is kept as
nanoseconds of credit (one token is ``1e9 / rate`` ns) so that refilling is integer addition:
no float drifts the count, and the same clock readings always give the same answer. The
clock is the caller's (the actor's ``ctx.now_ns()``), never read here.
"""

from __future__ import annotations

_NS_PER_S = 1_000_000_000


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` per second, full at ``start_ns``.

    Raises ``ValueError`` if ``rate`` is not > 0 or ``burst`` is not an int >= 1.
    """

    __slots__ = ("_cost_ns", "_credit_ns", "_full_ns", "_last_ns", "burst", "rate")

    def __init__(self, rate: float, burst: int, start_ns: int) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 tokens per second, got {rate!r}")
        if not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._cost_ns = max(1, round(_NS_PER_S / rate))
        self._full_ns = self._cost_ns * burst
        self._credit_ns = self._full_ns
        self._last_ns = start_ns

    def _refill(self, now_ns: int) -> None:
        if now_ns > self._last_ns:
            self._credit_ns = min(self._full_ns, self._credit_ns + now_ns - self._last_ns)
            self._last_ns = now_ns

    def available(self, now_ns: int) -> int:
        """Whole tokens in the bucket at ``now_ns`` (a clock going backwards adds none)."""
        self._refill(now_ns)
        return self._credit_ns // self._cost_ns

    def take(self, now_ns: int) -> bool:
        """Spend one token if there is one; whether there was."""
        self._refill(now_ns)
        if self._credit_ns < self._cost_ns:
            return False
        self._credit_ns -= self._cost_ns
        return True
