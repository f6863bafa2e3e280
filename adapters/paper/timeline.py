"""What the paper broker does later: latency and session-close expiry, in a fixed order.

The broker defers an action (an order reaching the venue after the ack latency, a fill's
report after the fill latency, an order's expiry at the session close) with :meth:`Timeline.
defer`; the scheduler calls back at the due time and :meth:`Timeline.take_due` gives the
actions due by then in (due time, arrival) order. The order does not rest on the scheduler
keeping callbacks with equal times in order (the threaded runtime's conversion from wall clock
to monotonic time does not promise that): each callback runs every action due by its own time.

Reports of one order keep their order: :meth:`Timeline.report_due` never gives a report of an
order an earlier due time than the report of that order before it (a cancel is not reported
before the delayed report of the fill that preceded it).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

__all__ = ["Timeline"]

Action = Callable[[], None]


class Timeline:
    """Deferred actions; used under the broker's lock."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Action]] = []
        self._arrival = itertools.count()
        self._last_report: dict[str, int] = {}
        self._wakeups: set[int] = set()
        self.running_due: int | None = None
        """While :meth:`take_due`'s actions run: the due time being served."""

    def defer(self, due_ns: int, action: Action) -> None:
        """Run ``action`` at ``due_ns``; :meth:`wakeups` then names the time to call back."""
        heapq.heappush(self._heap, (due_ns, next(self._arrival), action))
        self._wakeups.add(due_ns)

    def report_due(self, order_id: str, now_ns: int, delay_ns: int) -> int:
        """When a report of ``order_id`` made now with ``delay_ns`` may go: not before the
        order's previous report. A time <= :meth:`served_until` means at once."""
        due = now_ns + delay_ns
        last = self._last_report.get(order_id)  # no 0 stands in: times before 1970 are < 0
        if last is not None and last > due:
            due = last
        if due > self.served_until(now_ns):
            self._last_report[order_id] = due
        return due

    def served_until(self, now_ns: int) -> int:
        """Actions due by this time have run or are running."""
        return now_ns if self.running_due is None else max(now_ns, self.running_due)

    def wakeups(self) -> list[int]:
        """The due times deferred since the last call, for the scheduler; clears them."""
        times = sorted(self._wakeups)
        self._wakeups.clear()
        return times

    def take_due(self, due_ns: int) -> list[Action]:
        """The actions due by ``due_ns``, in (due time, arrival) order; removes them."""
        taken = []
        while self._heap and self._heap[0][0] <= due_ns:
            taken.append(heapq.heappop(self._heap)[2])
        # Forget report times that have passed: they no longer hold anything back.
        for order_id in [k for k, t in self._last_report.items() if t <= due_ns]:
            del self._last_report[order_id]
        return taken
