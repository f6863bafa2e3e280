"""A replay of bars already in memory: merged across instruments by close (then in the order
the instruments were given), each delivered at its close on the replay's clock, or in batches
as fast as possible."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.replay.bars_replay import BarsReplay
from engine.data_client import FeedEvents, Tick
from engine.messages.market import Bar
from tests.paper_support import ManualScheduler

MINUTE = 60_000_000_000
T0 = 1_736_918_100_000_000_000


def bars(instrument: str, count: int, length: int = MINUTE, offset: int = 0) -> list[Bar]:
    return [
        Bar(
            ts_event=T0 + offset + i * length,
            ts_init=T0 + offset + (i + 1) * length,
            instrument=instrument,
            interval="1m" if length == MINUTE else "2m",
            ts_close=T0 + offset + (i + 1) * length,
            open=100.0 + i,
            high=101.0 + i,
            low=99.0 + i,
            close=100.5 + i,
            volume=1000.0,
            trade_count=10,
            vwap=100.2 + i,
        )
        for i in range(count)
    ]


class Recorder(FeedEvents):
    def __init__(self, clock: ManualScheduler) -> None:
        self.clock = clock
        self.received: list[tuple[int, str, int]] = []
        self.batches = 0

    def on_connected(self) -> None:
        pass

    def on_ticks(self, ticks: Sequence[Tick]) -> None:
        raise AssertionError("a replay of bars delivers no ticks")

    def on_bars(self, batch: Sequence[Bar]) -> None:
        self.batches += 1
        self.received.extend((self.clock.now_ns(), b.instrument, b.ts_close) for b in batch)

    def on_disconnected(self, reason: str) -> None:
        raise AssertionError(reason)


def test_bars_arrive_at_their_close_merged_by_close_then_given_order() -> None:
    # Arrange: B's 1-minute bars and A's 2-minute bars, B given first
    clock = ManualScheduler(T0)
    replay = BarsReplay(
        {"B": bars("B", 4), "A": bars("A", 2, length=2 * MINUTE)}, speed=1.0, start_at_ns=T0
    )
    events = Recorder(clock)

    # Act
    replay.connect(events, clock)
    replay.subscribe(["A", "B"])
    clock.advance(10 * MINUTE)

    # Assert: each at its close; at a shared close, B (given first) before A
    assert events.received == [
        (T0 + MINUTE, "B", T0 + MINUTE),
        (T0 + 2 * MINUTE, "B", T0 + 2 * MINUTE),
        (T0 + 2 * MINUTE, "A", T0 + 2 * MINUTE),
        (T0 + 3 * MINUTE, "B", T0 + 3 * MINUTE),
        (T0 + 4 * MINUTE, "B", T0 + 4 * MINUTE),
        (T0 + 4 * MINUTE, "A", T0 + 4 * MINUTE),
    ]
    assert replay.finished
    assert replay.expected_interval_ns("A") == 2 * MINUTE


def test_as_fast_as_possible_delivers_batches_without_waiting_for_the_clock() -> None:
    # Arrange
    clock = ManualScheduler(T0)
    replay = BarsReplay({"A": bars("A", 5)}, speed=None, batch_size=2)
    events = Recorder(clock)

    # Act
    replay.connect(events, clock)
    replay.subscribe(["A"])
    clock.advance(0)

    # Assert
    assert [close for _, _, close in events.received] == [T0 + (i + 1) * MINUTE for i in range(5)]
    assert events.batches == 3
    assert {at for at, _, _ in events.received} == {T0}


def test_no_instruments_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one instrument"):
        BarsReplay({})
