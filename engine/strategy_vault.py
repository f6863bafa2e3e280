"""What a strategy host leaves for its next incarnation, and for the next process.

A strategy that crashes is restarted by its supervisor; it must come back with the state it
had after the last hook that completed, and with its bars, without asking the database. The
vault keeps, per host key (strategy id and instrument):

* the last snapshot of the runner (:meth:`engine.strategy_runner.StrategyRunner.snapshot`),
  taken after every completed hook, so a hook that raises leaves the previous one in place;
* the bars the host handled, newest last, up to the window it needs: the next incarnation warms
  its indicators from them instead of reading the candle store.

Snapshots are also handed to ``write`` (the service writes them to the ``strategy_states``
table: :mod:`engine.store.strategy_states`), and a new process starts its vault from what was
written (``saved``), so a restarted process resumes each strategy's state too; its bars then
come from the candle store.

The vault is shared by every host of a process, on whatever threads they run: its map is
guarded by a lock. Each :class:`HostMemory` is used by one host incarnation at a time.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping
from typing import Any

from engine.messages.market import Bar

WriteSnapshot = Callable[[str, bytes, int], object]
"""``(key, snapshot, ts_ns)``: hand a snapshot to durable storage and return at once."""


class HostMemory:
    """One host's memory across incarnations."""

    __slots__ = ("bars", "plan", "session", "snapshot")

    def __init__(self, snapshot: bytes | None) -> None:
        self.snapshot = snapshot
        """The runner's last snapshot; ``None`` before the first."""
        self.bars: collections.deque[Bar] = collections.deque()
        """Bars handled, oldest first; bounded by :meth:`keep_at_most`."""
        self.plan: Any = None
        """What the host runs now, if a reload changed it (a restart keeps the reload)."""
        self.session: Any = None
        """The session the host last opened (a restart mid-session does not reopen it)."""

    def keep_at_most(self, count: int) -> None:
        """Keep at most ``count`` bars from now on (the runner's window)."""
        if self.bars.maxlen != count:
            self.bars = collections.deque(self.bars, maxlen=count)


class StrategyVault:
    """Memories of every strategy host of a process, by key."""

    def __init__(
        self, saved: Mapping[str, bytes] | None = None, write: WriteSnapshot | None = None
    ) -> None:
        self._saved = dict(saved or {})
        self._write = write
        self._memories: dict[str, HostMemory] = {}
        self._lock = threading.Lock()
        self.write_failures = 0

    def memory(self, key: str) -> HostMemory:
        """The memory of ``key``, made on first use from what the last process saved."""
        with self._lock:
            found = self._memories.get(key)
            if found is None:
                found = self._memories[key] = HostMemory(self._saved.pop(key, None))
            return found

    def save(self, key: str, snapshot: bytes, ts_ns: int) -> None:
        """Keep ``snapshot`` as the latest of ``key`` and hand it to durable storage. A write
        that raises is counted, not raised: the strategy goes on with its memory."""
        self.memory(key).snapshot = snapshot
        if self._write is not None:
            try:
                self._write(key, snapshot, ts_ns)
            except Exception:
                self.write_failures += 1

    def forget(self, key: str) -> None:
        """Drop the memory of ``key`` (a strategy taken out of the configuration)."""
        with self._lock:
            self._memories.pop(key, None)
            self._saved.pop(key, None)
