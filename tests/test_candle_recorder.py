"""The candle recorder under both runtimes: batches by size, by timer and on stop, only bars
from bar topics, a failing write survived, and bars that reach a real SQLite store."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actors.candle_recorder import NAME, CandleRecorder, FlushCandles
from engine.messages.market import Bar, TradeTick
from engine.spec import ActorSpec, SupervisorSpec
from engine.store import CandleStore, Database
from engine.testing import MILLISECOND, SECOND, Driver

HOUR = 3600 * SECOND
MINUTE = 60 * SECOND


def bar(i: int, instrument: str = "NSE:INFY", interval: str = "1m") -> Bar:
    return Bar(
        ts_event=i * MINUTE,
        ts_init=(i + 1) * MINUTE,
        instrument=instrument,
        interval=interval,
        ts_close=(i + 1) * MINUTE,
        open=100.0 + i,
        high=101.5,
        low=99.25,
        close=100.5 + i / 8,
        volume=1000.0 + i,
        trade_count=i,
        vwap=100.75,
    )


def start_recorder(
    driver: Driver,
    write: Any,
    *,
    batch_size: int = 500,
    flush_ns: int = HOUR,
    topics: Sequence[str] | None = None,
) -> list[CandleRecorder]:
    """Start a recorder (its timer silent during the test unless ``flush_ns`` says otherwise);
    return the list its incarnations are kept in."""
    made: list[CandleRecorder] = []

    def make() -> CandleRecorder:
        made.append(CandleRecorder(write, batch_size=batch_size, flush_ns=flush_ns, topics=topics))
        return made[-1]

    driver.start(SupervisorSpec("root", [ActorSpec(NAME, make)]))
    driver.settle()
    return made


def publish_bars(driver: Driver, bars: Sequence[Bar]) -> None:
    for b in bars:
        driver.runtime.publish(f"bars:{b.instrument}", b)


def restarts(driver: Driver) -> int:
    [status] = [a for a in driver.runtime.describe().actors if a.name == NAME]
    return status.restarts


def test_a_full_batch_is_handed_over_in_one_write(driver: Driver) -> None:
    writes: list[list[Bar]] = []
    [recorder] = start_recorder(driver, writes.append, batch_size=3)

    publish_bars(driver, [bar(i) for i in range(4)])
    driver.wait_for(lambda: len(writes) == 1, what="a batch of three")
    driver.settle()

    assert writes == [[bar(0), bar(1), bar(2)]]
    assert recorder.buffer == [bar(3)]
    assert (recorder.batches_handed, recorder.bars_handed) == (1, 3)


def test_a_partial_batch_is_flushed_by_the_timer(driver: Driver) -> None:
    writes: list[list[Bar]] = []
    start_recorder(driver, writes.append, flush_ns=20 * MILLISECOND)

    publish_bars(driver, [bar(0), bar(1)])
    driver.wait_for(lambda: sum(map(len, writes)) == 2, what="the timer's flush")

    assert [b for batch in writes for b in batch] == [bar(0), bar(1)]


def test_what_is_buffered_is_flushed_on_stop(driver: Driver) -> None:
    writes: list[list[Bar]] = []
    start_recorder(driver, writes.append)
    publish_bars(driver, [bar(0), bar(1, "NSE:TCS")])
    driver.settle()
    assert writes == []

    driver.stop()

    assert writes == [[bar(0), bar(1, "NSE:TCS")]]


def test_only_bars_published_on_bar_topics_are_recorded(driver: Driver) -> None:
    writes: list[list[Bar]] = []
    start_recorder(driver, writes.append)
    tick = TradeTick(ts_event=1, ts_init=1, instrument="NSE:INFY", price=100.0, size=5.0)

    driver.runtime.publish("bars:NSE:INFY", tick)
    driver.runtime.publish("signals", bar(0))
    driver.runtime.publish("bars:NSE:INFY", bar(1))
    driver.send(NAME, bar(2))  # sent directly: recorded too
    driver.send(NAME, FlushCandles())
    driver.settle()

    assert writes == [[bar(1), bar(2)]]
    assert driver.runtime.dead_letters == 0


def test_explicit_topics_are_the_only_ones_recorded(driver: Driver) -> None:
    writes: list[list[Bar]] = []
    start_recorder(driver, writes.append, topics=["bars:NSE:INFY", "history"])

    driver.runtime.publish("bars:NSE:TCS", bar(0, "NSE:TCS"))
    driver.runtime.publish("bars:NSE:INFY", bar(1))
    driver.runtime.publish("history", bar(2, "NSE:TCS", "1d"))
    driver.send(NAME, FlushCandles())
    driver.settle()

    assert writes == [[bar(1), bar(2, "NSE:TCS", "1d")]]


def test_a_failing_write_is_counted_and_the_recorder_goes_on(driver: Driver) -> None:
    writes: list[list[Bar]] = []

    def write(bars: list[Bar]) -> None:
        if not writes and bars[0] == bar(0):
            raise OSError("store closed")
        writes.append(bars)

    [recorder] = start_recorder(driver, write, batch_size=2)

    publish_bars(driver, [bar(i) for i in range(4)])
    driver.wait_for(lambda: len(writes) == 1, what="the second batch")
    driver.settle()

    assert writes == [[bar(2), bar(3)]]
    assert (recorder.failed_batches, recorder.failed_bars) == (1, 2)
    assert restarts(driver) == 0


def test_recorded_bars_reach_a_real_store(driver: Driver, tmp_path: Path) -> None:
    with Database(f"sqlite+aiosqlite:///{tmp_path / 'troupe.db'}") as db:
        store = CandleStore(db)
        futures: list[concurrent.futures.Future[int]] = []
        start_recorder(
            driver, lambda bars: futures.append(db.submit(store.write_bars(bars))), batch_size=250
        )
        instruments = ["NSE:INFY", "NSE:TCS", "NSE:SBIN"]
        bars = [bar(i, instrument) for i in range(300) for instrument in instruments]

        publish_bars(driver, bars)
        driver.settle()
        driver.stop()  # hands over the last, partial batch
        done, pending = concurrent.futures.wait(futures, timeout=10)

        assert pending == set() and all(f.exception() is None for f in done)
        assert [f.result() for f in futures] == [250, 250, 250, 150]
        for instrument in instruments:
            stored = db.call(store.read_bars(instrument, "1m"))
            assert stored == [bar(i, instrument) for i in range(300)]
