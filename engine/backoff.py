"""Restart back-off: exponential, capped, with jitter, reset after a stable period."""

from __future__ import annotations

import msgspec


class Backoff(msgspec.Struct, frozen=True, kw_only=True):
    """How long a supervisor waits before restarting a child that failed.

    The ``k``-th consecutive failure (``k >= 1``) waits::

        delay(k) = min(max_s, initial_s * multiplier ** (k - 1)) * (1 - jitter * u)

    with ``u`` uniform in ``[0, 1)``, so jitter only shortens a delay and ``max_s`` is never
    exceeded. ``k`` goes back to 0 when the child has run for ``reset_after_s`` without failing.
    The defaults restart a crashed actor within 10 ms the first time; broker connections
    configure seconds.
    """

    initial_s: float = 0.01
    multiplier: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.2
    reset_after_s: float = 30.0

    def __post_init__(self) -> None:
        problems = []
        if self.initial_s < 0:
            problems.append(f"initial_s must be >= 0, got {self.initial_s}")
        if self.multiplier < 1:
            problems.append(f"multiplier must be >= 1, got {self.multiplier}")
        if self.max_s < self.initial_s:
            problems.append(f"max_s must be >= initial_s ({self.initial_s}), got {self.max_s}")
        if not 0 <= self.jitter <= 1:
            problems.append(f"jitter must be within [0, 1], got {self.jitter}")
        if self.reset_after_s < 0:
            problems.append(f"reset_after_s must be >= 0, got {self.reset_after_s}")
        if problems:
            raise ValueError("; ".join(problems))

    def delay_s(self, consecutive_failures: int, u: float) -> float:
        """Seconds to wait after the ``consecutive_failures``-th failure in a row.

        ``u`` is a uniform draw in ``[0, 1)`` (the runtime supplies it, seeded in simulation).
        Raises ``ValueError`` for ``consecutive_failures < 1``.
        """
        if consecutive_failures < 1:
            raise ValueError(f"consecutive_failures must be >= 1, got {consecutive_failures}")
        # Cap the exponent first so a long failure streak cannot overflow a float.
        exponent = min(consecutive_failures - 1, 1024)
        try:
            base = self.initial_s * self.multiplier**exponent
        except OverflowError:
            base = self.max_s
        return min(self.max_s, base) * (1.0 - self.jitter * u)
