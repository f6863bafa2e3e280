"""Per-actor figures the runtime keeps: counters and recent handler latencies."""

from __future__ import annotations

LATENCY_WINDOW = 4096  # power of two: the ring index is a mask


class ActorFigures:
    """Counters for one actor, across incarnations.

    Written by the thread that runs the actor (and, for the mailbox counters, by senders under
    the mailbox lock); read by introspection without a lock, so a reading is a snapshot that
    may be a message or two behind.
    """

    __slots__ = (
        "_latency_count",
        "_latency_ns",
        "backpressure_ns",
        "backpressure_waits",
        "conflated",
        "dead_lettered",
        "failures",
        "last_error",
        "over_capacity_admits",
        "restarts",
    )

    def __init__(self) -> None:
        self.failures = 0
        self.restarts = 0
        self.dead_lettered = 0
        self.conflated = 0
        self.backpressure_waits = 0
        self.backpressure_ns = 0
        self.over_capacity_admits = 0
        self.last_error: str | None = None
        self._latency_ns = [0] * LATENCY_WINDOW
        self._latency_count = 0

    def record_latency(self, ns: int) -> None:
        """Keep one handler duration (ns) in the ring of the latest ``LATENCY_WINDOW``."""
        self._latency_ns[self._latency_count & (LATENCY_WINDOW - 1)] = ns
        self._latency_count += 1

    def latency_percentiles_us(self, *qs: float) -> list[float | None]:
        """Percentiles (0-100) of the recent handler durations in microseconds, or ``None``s
        before the first message. Nearest-rank on the recent window."""
        n = min(self._latency_count, LATENCY_WINDOW)
        if n == 0:
            return [None for _ in qs]
        window = sorted(self._latency_ns[:n])
        return [window[min(n - 1, max(0, round(q / 100 * n + 0.5) - 1))] / 1000 for q in qs]
