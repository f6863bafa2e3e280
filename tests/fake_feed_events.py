"""A fake feed for data-client tests: it records what a client reports, from any thread."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from engine.data_client import Tick
from engine.messages.market import Bar, QuoteTick, TradeTick


class TickOnlyFeedEvents:
    """Implements ``FeedEvents`` by recording: a feed that knows only ticks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ticks: list[Tick] = []
        self.bars: list[Bar] = []
        self.batches: list[Sequence[Tick] | Sequence[Bar]] = []
        self.log: list[str] = []
        """``"connected"``, ``"ticks"``, ``"bars"`` and ``"disconnected: <reason>"`` in order."""

    def on_connected(self) -> None:
        with self._lock:
            self.log.append("connected")

    def on_ticks(self, ticks: Sequence[Tick]) -> None:
        with self._lock:
            self.ticks.extend(ticks)
            self.batches.append(ticks)
            self.log.append("ticks")

    def on_disconnected(self, reason: str) -> None:
        with self._lock:
            self.log.append(f"disconnected: {reason}")

    def trades(self) -> list[TradeTick]:
        with self._lock:
            return [t for t in self.ticks if isinstance(t, TradeTick)]

    def quotes(self) -> list[QuoteTick]:
        with self._lock:
            return [t for t in self.ticks if isinstance(t, QuoteTick)]

    def tick_count(self) -> int:
        with self._lock:
            return len(self.ticks)


class FakeFeedEvents(TickOnlyFeedEvents):
    """Also takes bars, through the replay's optional ``on_bars``."""

    def on_bars(self, bars: Sequence[Bar]) -> None:
        with self._lock:
            self.bars.extend(bars)
            self.batches.append(bars)
            self.log.append("bars")
