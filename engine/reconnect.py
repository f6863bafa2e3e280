"""When to try a lost connection again: the restart back-off applied to a broker connection.

The ``k``-th failure in a row waits :meth:`engine.backoff.Backoff.delay_s` ``(k, u)`` with
``u`` drawn from the generator the caller supplies (seed it for a backtest: the waits are then
the same every run). ``k`` goes back to 0 once a connection has stayed up for the back-off's
``reset_after_s``; a connection that drops sooner counts as one more failure in the row.
"""

from __future__ import annotations

import random

from engine.backoff import Backoff

_NS_PER_S = 1_000_000_000


class ReconnectSchedule:
    """The back-off state of one connection. Times are the owner's clock, ns. Owned by one
    actor; not thread-safe."""

    def __init__(self, backoff: Backoff, rng: random.Random) -> None:
        self.backoff = backoff
        self._rng = rng
        self._reset_after_ns = round(backoff.reset_after_s * _NS_PER_S)
        self.failures = 0
        """Consecutive failures, the last one included."""
        self._up_since_ns: int | None = None

    def connected(self, now_ns: int) -> None:
        """The connection is up (it counts as stable from ``now_ns``)."""
        self._up_since_ns = now_ns

    def failed(self, now_ns: int) -> int:
        """The connection dropped, or an attempt failed, at ``now_ns``: the wait before the
        next attempt, ns. Draws one number from the generator."""
        up_since = self._up_since_ns
        if up_since is not None and now_ns - up_since >= self._reset_after_ns:
            self.failures = 0
        self._up_since_ns = None
        self.failures += 1
        return round(self.backoff.delay_s(self.failures, self._rng.random()) * _NS_PER_S)
