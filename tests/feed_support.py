"""A hand-written data client for feed tests (the broker boundary's test double), and ticks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.data_client import DataClient, FeedEvents, Scheduler
from engine.messages.market import QuoteTick, TradeTick
from engine.testing import SECOND


class FakeClient(DataClient):
    """A broker connection the test drives: it records the feed's calls; the test makes it
    deliver ticks and drop. ``refuse`` connects fail at once, ``fail`` raise."""

    def __init__(self, *, refuse: int = 0, fail: int = 0, confirm: bool = True) -> None:
        self.name = "fake"
        self.events: FeedEvents | None = None
        self.connects: list[int] = []
        self.subscriptions: list[list[str]] = []
        self.unsubscriptions: list[list[str]] = []
        self.disconnects = 0
        self.refuse, self.fail, self.confirm = refuse, fail, confirm

    def connect(self, events: FeedEvents, scheduler: Scheduler) -> None:
        self.connects.append(scheduler.now_ns())
        if self.fail:
            self.fail -= 1
            raise ConnectionError("no route to host")
        self.events = events
        if self.refuse:
            self.refuse -= 1
            events.on_disconnected("refused")
        elif self.confirm:
            events.on_connected()

    def subscribe(self, instruments: Sequence[str]) -> None:
        self.subscriptions.append(list(instruments))

    def unsubscribe(self, instruments: Sequence[str]) -> None:
        self.unsubscriptions.append(list(instruments))

    def disconnect(self) -> None:
        self.disconnects += 1

    def expected_interval_ns(self, instrument: str) -> int | None:
        return SECOND

    def deliver(self, *ticks: Any) -> None:
        assert self.events is not None
        self.events.on_ticks(list(ticks))

    def drop(self, reason: str = "socket closed") -> None:
        assert self.events is not None
        self.events.on_disconnected(reason)


def trade(instrument: str, ts: int, price: float = 100.0, **extra: Any) -> TradeTick:
    return TradeTick(ts_event=ts, ts_init=ts, instrument=instrument, price=price, size=5.0, **extra)


def quote(instrument: str, ts: int, bid: float = 99.5, ask: float = 100.5) -> QuoteTick:
    return QuoteTick(
        ts_event=ts, ts_init=ts, instrument=instrument, bid=bid, ask=ask, bid_size=1, ask_size=2
    )
