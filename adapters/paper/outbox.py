"""Reports leave the paper broker in the order it made them, outside its lock.

The broker changes its book under a lock and appends what it has to report to an
:class:`Outbox`; once the lock is released, :meth:`Outbox.drain` hands the reports to the
:class:`~engine.execution_client.ExecutionEvents`. Reports made on several threads at once (a
tick on the feed's thread, a submit on the router's) still leave in the order they were made:
one thread at a time drains, and it drains until the box is empty. A report that calls back
into the broker on the same thread (a test's events submitting a stop from ``on_filled``)
only adds to the box the running drain is emptying.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from engine.execution_client import ExecutionEvents

__all__ = ["Outbox", "Report"]

Report = Callable[[ExecutionEvents], None]
"""One report: calls one method of the events."""


class Outbox:
    """Reports waiting to be made. :meth:`put` only while holding ``lock`` (the broker's)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._reports: deque[Report] = deque()
        self._draining = False
        self.events: ExecutionEvents | None = None
        """Where reports go; ``None`` (disconnected) drops them."""

    def put(self, report: Report) -> None:
        """Queue ``report``; the caller holds the broker's lock."""
        self._reports.append(report)

    def drain(self) -> None:
        """Make every queued report, in order. Call without holding the lock; returns at once
        if another drain is running (it will make this caller's reports too)."""
        with self._lock:
            if self._draining:
                return
            self._draining = True
        try:
            while True:
                with self._lock:
                    # The emptiness test and the flag change are one step under the lock, so
                    # a report put after it is drained by its own putter.
                    if not self._reports:
                        self._draining = False
                        return
                    report = self._reports.popleft()
                    events = self.events
                if events is not None:
                    report(events)
        except BaseException:
            with self._lock:
                self._draining = False
            raise
