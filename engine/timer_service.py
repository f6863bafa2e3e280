"""One thread that fires every timer of the threaded runtime, in deadline order."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("troupe.timers")


class TimerService:
    """Runs callbacks at monotonic deadlines (ns). Callbacks must be quick and never block."""

    def __init__(self, on_thread_start: Callable[[], None] | None = None) -> None:
        self._on_thread_start = on_thread_start
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="troupe-timers", daemon=True)
        self._thread.start()

    def call_at(self, deadline_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the timer thread at ``time.monotonic_ns() >= deadline_ns``."""
        with self._cond:
            heapq.heappush(self._heap, (deadline_ns, next(self._seq), fn))
            if self._heap[0][2] is fn:
                self._cond.notify()

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        self.call_at(time.monotonic_ns() + int(delay_s * 1e9), fn)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        if self._on_thread_start is not None:
            self._on_thread_start()
        while True:
            with self._cond:
                while not self._stopped:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait_ns = self._heap[0][0] - time.monotonic_ns()
                    if wait_ns <= 0:
                        break
                    self._cond.wait(wait_ns / 1e9)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("timer callback failed")
