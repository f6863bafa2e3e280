"""StoreReplay: bars written to a real SQLite candle store come back through a feed, identical
and in order, paced on the scheduler's clock; read failures are failed connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from actors.bar_aggregator import bars_topic
from actors.feed import Feed, FeedConfig
from adapters.replay import StoreReplay
from engine.data_client import DataClient
from engine.messages.feed import DescribeFeedHealth, FeedHealthReport
from engine.messages.market import Bar
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.store import CandleStore, Database
from engine.testing import SECOND, Capture, Driver
from tests.fake_feed_events import FakeFeedEvents

MINUTE = 60 * SECOND
T0 = 1_704_180_600 * SECOND  # 2024-01-02 07:30 UTC, a whole minute
START = 1_900_000_000 * SECOND  # the replay's clock, far from the data's own times
A, B, C = "NSE:A", "NSE:B", "NSE:C"


def bar(instrument: str, minute: int, interval: str = "1m", price: float = 100.0) -> Bar:
    start = T0 + minute * MINUTE
    length = {"1m": MINUTE, "5m": 5 * MINUTE}[interval]
    return Bar(
        ts_event=start,
        ts_init=start + length + 7,  # when it was recorded: kept as it is
        instrument=instrument,
        interval=interval,
        ts_close=start + length,
        open=price,
        high=price + 1,
        low=price - 1,
        close=price + 0.5,
        volume=10.0 * (minute + 1),
        trade_count=minute,
        vwap=price + 0.25,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CandleStore]:
    """A real SQLite candle store in ``tmp_path`` holding 1m bars of A (minutes 0..9) and B
    (minutes 0..9, every other one), 5m bars of A and 1m bars of C."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'candles.db'}")
    candles = CandleStore(database)
    bars = [bar(A, m, price=100.0 + m) for m in range(10)]
    bars += [bar(B, m, price=200.0 + m) for m in range(0, 10, 2)]
    bars += [bar(A, 0, "5m"), bar(A, 5, "5m"), bar(C, 3)]
    database.call(candles.write_bars(bars))
    try:
        yield candles
    finally:
        database.close()


def expected(instruments: Sequence[str], first: int, end: int) -> list[Bar]:
    """The 1m bars of ``instruments`` written by the fixture, minutes ``[first, end)``, in
    the order a replay plays them: by close, then by instrument."""
    bars = [bar(A, m, price=100.0 + m) for m in range(first, end) if A in instruments]
    bars += [bar(B, m, price=200.0 + m) for m in range(0, 10, 2) if first <= m < end]
    bars = [b for b in bars if b.instrument in instruments]
    return sorted(bars, key=lambda b: (b.ts_close, b.instrument))


def always_open(_instrument: str, _ts_ns: int) -> bool:
    return True


def feed_tree(client: DataClient, runtime: Any, instruments: Sequence[str]) -> SupervisorSpec:
    def make() -> Feed:
        return Feed(client, runtime, instruments, market_open=always_open, config=FeedConfig())

    return SupervisorSpec("root", [ActorSpec("feed", make)])


def replayed(capture: Capture, instruments: Sequence[str]) -> list[tuple[int, Bar]]:
    """(when published, bar) on the ``bars:`` topics of ``instruments``, in order."""
    topics = {bars_topic(i) for i in instruments}
    return [(at, m) for at, t, m in capture.items if t in topics and isinstance(m, Bar)]


def health(runtime: Any) -> FeedHealthReport:
    now = runtime.now_ns()
    report = runtime.ask("feed", DescribeFeedHealth(ts_event=now, ts_init=now))
    assert isinstance(report, FeedHealthReport)
    return report


# -- through a feed, under both runtimes ------------------------------------------------------


def test_stored_bars_come_back_through_the_feed_identical_and_in_order(
    driver: Driver, store: CandleStore
) -> None:
    # Arrange: pages of 3 bars, so every instrument takes several reads.
    replay = StoreReplay(store, [A, B], "1m", speed=None, page_size=3, batch_size=4)
    capture = Capture(driver.runtime)
    want = expected([A, B], 0, 10)

    # Act
    driver.start(feed_tree(replay, driver.runtime, [A, B]))
    driver.wait_for(lambda: len(replayed(capture, [A, B])) == len(want), what="every bar")
    report = health(driver.runtime)

    # Assert
    assert [b for _, b in replayed(capture, [A, B])] == want
    assert capture.messages(bars_topic(C)) == []
    assert (report.bars_received, report.bars_passed) == (15, 15)
    assert replay.finished


def test_the_window_selects_bars_by_their_start(driver: Driver, store: CandleStore) -> None:
    replay = StoreReplay(
        store, [A, B], "1m", start_ns=T0 + 2 * MINUTE, end_ns=T0 + 6 * MINUTE, speed=None
    )
    capture = Capture(driver.runtime)
    want = expected([A, B], 2, 6)

    driver.start(feed_tree(replay, driver.runtime, [A, B]))
    driver.wait_for(lambda: len(replayed(capture, [A, B])) == len(want), what="the window")
    driver.wait_for(lambda: replay.finished, what="the end of the window")

    assert [b for _, b in replayed(capture, [A, B])] == want


# -- pacing on the simulated clock ------------------------------------------------------------


def run_feed(replay: StoreReplay, instruments: Sequence[str], until_ns: int) -> Capture:
    runtime = SimulatedRuntime(start_ns=START)
    capture = Capture(runtime)
    runtime.start(feed_tree(replay, runtime, instruments))
    runtime.run(until_ns=until_ns)
    return capture


def test_speed_maps_each_close_onto_the_clock_from_the_window_start(store: CandleStore) -> None:
    # 60x: a minute of history per second; the window starts at minute 2, so the bar of
    # minute 2 closes one simulated second after the start.
    replay = StoreReplay(store, [A, B], "1m", start_ns=T0 + 2 * MINUTE, speed=60, page_size=2)

    capture = run_feed(replay, [A, B], until_ns=START + 60 * SECOND)

    published = replayed(capture, [A, B])
    assert [b for _, b in published] == expected([A, B], 2, 10)
    assert [(at - START) // SECOND for at, b in published if b.instrument == A] == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
    ]
    assert all(at == START + (b.ts_close - (T0 + 2 * MINUTE)) // 60 for at, b in published)


def test_without_a_start_the_first_bar_plays_at_once(store: CandleStore) -> None:
    replay = StoreReplay(store, [B], "1m", speed=120)

    capture = run_feed(replay, [B], until_ns=START + 60 * SECOND)

    published = replayed(capture, [B])
    assert [(at - START) / SECOND for at, _ in published] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [b for _, b in published] == expected([B], 0, 10)


def test_expected_interval_is_the_bar_length_on_the_scheduler_clock(store: CandleStore) -> None:
    assert StoreReplay(store, [A], "5m", speed=60).expected_interval_ns(A) == 5 * SECOND
    assert StoreReplay(store, [A], "5m", speed=None).expected_interval_ns(A) is None
    assert StoreReplay(store, [A], "100t", speed=60).expected_interval_ns(A) is None
    assert StoreReplay(store, [A], "1m").expected_interval_ns(B) is None


# -- the client on its own --------------------------------------------------------------------


def connect(replay: StoreReplay, instruments: Sequence[str]) -> tuple[FakeFeedEvents, Any]:
    events = FakeFeedEvents()
    runtime = SimulatedRuntime(start_ns=START)
    replay.connect(events, runtime)
    replay.subscribe(instruments)
    return events, runtime


def test_disconnect_pauses_and_connect_resumes_where_it_stopped(store: CandleStore) -> None:
    replay = StoreReplay(store, [A], "1m", speed=60, page_size=4)
    events, runtime = connect(replay, [A])
    runtime.run(until_ns=START + 2_500 * 1_000_000)  # minutes 0, 1 and 2
    replay.disconnect()
    runtime.run(until_ns=START + 100 * SECOND)  # paused: nothing arrives

    assert len(events.bars) == 3
    replay.connect(events, runtime)
    # Half of the second to the fourth bar had passed; it comes half a second after the
    # resume.
    runtime.run(until_ns=START + 100_499 * 1_000_000)
    assert len(events.bars) == 3
    runtime.run(until_ns=START + 100_500 * 1_000_000)
    assert len(events.bars) == 4
    runtime.run()

    assert events.bars == expected([A], 0, 10)
    assert events.log.count("connected") == 2


def test_only_subscribed_instruments_are_delivered(store: CandleStore) -> None:
    replay = StoreReplay(store, [A, B], "1m", speed=None)
    events, runtime = connect(replay, [B])

    runtime.run()

    assert events.bars == expected([B], 0, 10)
    with pytest.raises(ValueError, match=r"unknown instruments \['NSE:C'\]"):
        replay.subscribe([C])


class FlakyStore(CandleStore):
    """The real store, whose reads fail when ``fail(call number)`` says so."""

    def __init__(self, database: Database, fail: Callable[[int], bool]) -> None:
        super().__init__(database)
        self.fail = fail
        self.reads = 0

    async def read_bars(
        self,
        instrument: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> list[Bar]:
        self.reads += 1
        if self.fail(self.reads):
            raise OSError("disk I/O error")
        return await super().read_bars(instrument, interval, start_ns, end_ns, limit)


def test_a_failed_read_is_a_disconnection_and_the_next_connection_reads_on(
    store: CandleStore,
) -> None:
    # Arrange: the third read (A's third page) fails once.
    flaky = FlakyStore(store.database, lambda read: read == 3)
    replay = StoreReplay(flaky, [A], "1m", speed=None, page_size=3, batch_size=100)
    events, runtime = connect(replay, [A])

    # Act
    runtime.run()
    delivered_before = list(events.bars)
    replay.connect(events, runtime)  # what the feed does after its back-off
    runtime.run()

    # Assert
    assert delivered_before == expected([A], 0, 6)  # the two pages read are delivered
    assert events.log[:3] == [
        "connected",
        "bars",
        "disconnected: store replay failed: OSError: disk I/O error",
    ]
    assert events.bars == expected([A], 0, 10)  # each bar once
    assert replay.finished


def test_a_closed_store_fails_the_connection(store: CandleStore) -> None:
    replay = StoreReplay(store, [A], "1m")
    store.database.close()

    events, runtime = connect(replay, [A])
    runtime.run()

    assert events.log == [
        f"disconnected: store replay failed: StoreClosedError: the store "
        f"{store.database.safe_url} is closed"
    ]


def test_bad_options_are_refused_naming_each(store: CandleStore) -> None:
    with pytest.raises(ValueError, match=r"instrument.*interval.*end_ns.*page_size.*timeout_s"):
        StoreReplay(store, [], "", start_ns=5, end_ns=5, page_size=0, timeout_s=0)
    with pytest.raises(ValueError, match="speed must be > 0"):
        StoreReplay(store, [A], "1m", speed=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        StoreReplay(store, [A], "1m", batch_size=0)
