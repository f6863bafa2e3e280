"""The candle store on a real SQLite file: exact round trips, idempotent rewrites, ordering,
warm-up reads, one statement per batch, WAL, concurrent readers, and a reopened file."""

from __future__ import annotations

import concurrent.futures
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import event, select, text, update

from engine.config.load import load_config
from engine.messages.market import Bar
from engine.simulated import SimulatedRuntime
from engine.store import CandleStore, Database, SchemaVersionError, StoreClosedError, stored_bars
from engine.store.schema import SCHEMA_VERSIONS, schema_version
from engine.testing import SECOND
from troupe.market import market_data

MINUTE = 60 * SECOND
T0 = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z


def bar(
    i: int,
    instrument: str = "NSE:INFY",
    interval: str = "1m",
    close: float = 1500.25,
    trade_count: int = 7,
) -> Bar:
    """The ``i``-th one-minute bar from T0."""
    return Bar(
        ts_event=T0 + i * MINUTE,
        ts_init=T0 + (i + 1) * MINUTE + 1234,
        instrument=instrument,
        interval=interval,
        ts_close=T0 + (i + 1) * MINUTE,
        open=1500.0 + i,
        high=1510.5,
        low=1490.125,
        close=close,
        volume=12_345.0 + i,
        trade_count=trade_count,
        vwap=1501.0,
    )


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "troupe.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = Database(url(db_path))
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def store(db: Database) -> CandleStore:
    return CandleStore(db)


def test_bars_round_trip_exactly(db: Database, store: CandleStore) -> None:
    awkward = Bar(
        ts_event=T0 + 999_999_999,
        ts_init=T0 + MINUTE + 1,
        instrument="NSE:M&M",
        interval="1m",
        ts_close=T0 + MINUTE + 999_999_999,
        open=0.1 + 0.2,
        high=1234.5678901234567,
        low=1e-9,
        close=5e15 + 0.5,
        volume=0.000123456789,
        trade_count=2**40 + 3,
        vwap=-0.0,
    )
    bars = [awkward, bar(5, "NYSE:BRK.A", "5m")]

    assert db.call(store.write_bars(bars)) == 2

    assert db.call(store.read_bars("NSE:M&M", "1m")) == [awkward]
    assert db.call(store.read_bars("NYSE:BRK.A", "5m")) == [bars[1]]


def test_a_nan_price_is_stored_and_read_back_as_nan(db: Database, store: CandleStore) -> None:
    odd = bar(0)
    odd = Bar(**{**{f: getattr(odd, f) for f in odd.__struct_fields__}, "vwap": math.nan})

    db.call(store.write_bars([odd, bar(1)]))

    [read, _] = db.call(store.read_bars("NSE:INFY", "1m"))
    assert math.isnan(read.vwap) and read.close == odd.close


def test_rewriting_a_bar_replaces_it(db: Database, store: CandleStore) -> None:
    db.call(store.write_bars([bar(0), bar(1)]))
    db.call(store.write_bars([bar(0), bar(1)]))  # the same batch again: no duplicates
    revised = bar(1, close=1499.0, trade_count=9)

    db.call(store.write_bars([revised]))

    assert db.call(store.read_bars("NSE:INFY", "1m")) == [bar(0), revised]


def test_the_later_of_two_copies_in_one_batch_wins(db: Database, store: CandleStore) -> None:
    db.call(store.write_bars([bar(0), bar(0, close=1.0), bar(0, close=2.0)]))

    assert db.call(store.read_bars("NSE:INFY", "1m")) == [bar(0, close=2.0)]


def test_bars_are_read_in_time_order_for_one_instrument_and_interval(
    db: Database, store: CandleStore
) -> None:
    order = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]
    mixed = [bar(i) for i in order]
    mixed += [bar(i, "NSE:TCS") for i in order] + [bar(i, interval="5m") for i in order]
    db.call(store.write_bars(mixed))

    assert db.call(store.read_bars("NSE:INFY", "1m")) == [bar(i) for i in range(10)]
    window = store.read_bars("NSE:INFY", "1m", start_ns=T0 + 2 * MINUTE, end_ns=T0 + 6 * MINUTE)
    assert db.call(window) == [bar(i) for i in (2, 3, 4, 5)]  # [start, end) by bar start
    first = store.read_bars("NSE:INFY", "1m", start_ns=T0 + 5 * MINUTE, limit=2)
    assert db.call(first) == [bar(5), bar(6)]
    assert db.call(store.read_bars("NSE:INFY", "15m")) == []


def test_last_bars_gives_the_most_recent_oldest_first(db: Database, store: CandleStore) -> None:
    db.call(store.write_bars([bar(i) for i in range(10)]))

    assert db.call(store.last_bars("NSE:INFY", "1m", 3)) == [bar(7), bar(8), bar(9)]
    # At the end of bar 5 (start of bar 6) bars 0..5 are known; half-way into bar 6 too.
    at = T0 + 6 * MINUTE
    assert db.call(store.last_bars("NSE:INFY", "1m", 3, before_ns=at)) == [bar(3), bar(4), bar(5)]
    midway = store.last_bars("NSE:INFY", "1m", 3, before_ns=at + MINUTE // 2)
    assert db.call(midway) == [bar(3), bar(4), bar(5)]
    assert db.call(store.last_bars("NSE:INFY", "1m", 50)) == [bar(i) for i in range(10)]
    assert db.call(store.last_bars("NSE:INFY", "1m", 0)) == []
    with pytest.raises(ValueError, match="count must be an int >= 0, got -1"):
        db.call(store.last_bars("NSE:INFY", "1m", -1))


def test_instruments_and_intervals_are_listed(db: Database, store: CandleStore) -> None:
    assert db.call(store.instruments()) == []
    db.call(store.write_bars([bar(0, "NSE:TCS", "5m"), bar(0, "NSE:INFY"), bar(1, "NSE:TCS")]))

    assert db.call(store.instruments()) == ["NSE:INFY", "NSE:TCS"]
    assert db.call(store.intervals()) == ["1m", "5m"]
    assert db.call(store.intervals("NSE:INFY")) == ["1m"]


def test_a_batch_is_one_statement_in_one_transaction(db: Database, store: CandleStore) -> None:
    statements: list[tuple[str, bool]] = []

    def record(*args: Any) -> None:
        _conn, _cursor, statement, _params, _context, executemany = args
        statements.append((statement.split()[0].upper(), executemany))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)

    db.call(store.write_bars([bar(i) for i in range(500)]))

    event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    assert statements == [("INSERT", True)]
    assert (store.batches_written, store.bars_written) == (1, 500)


def test_sqlite_runs_in_wal_mode_with_the_pragmas(db: Database) -> None:
    async def pragma(name: str) -> Any:
        async with db.engine.connect() as conn:
            return (await conn.execute(text(f"PRAGMA {name}"))).scalar()

    assert db.call(pragma("journal_mode")) == "wal"
    assert db.call(pragma("synchronous")) == 1  # NORMAL
    assert db.call(pragma("foreign_keys")) == 1


def test_bars_survive_closing_and_reopening_the_file(db_path: Path) -> None:
    with Database(url(db_path)) as first:
        store = CandleStore(first)
        futures = [first.submit(store.write_bars([bar(i)])) for i in range(20)]
    # close() let every submitted write finish before it disposed of the engine
    assert all(f.done() and f.exception() is None for f in futures)

    with Database(url(db_path)) as again:
        assert again.call(CandleStore(again).read_bars("NSE:INFY", "1m")) == [
            bar(i) for i in range(20)
        ]


def test_reads_see_whole_batches_while_another_thread_writes(
    db_path: Path, db: Database, store: CandleStore
) -> None:
    batches, size = 30, 100
    errors: list[BaseException] = []

    def write_all() -> None:
        try:
            for k in range(batches):
                db.call(store.write_bars([bar(k * size + i) for i in range(size)]))
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write_all)
    seen: list[int] = []
    with Database(url(db_path)) as other:  # a second engine on the same file
        other_store = CandleStore(other)
        writer.start()
        while writer.is_alive():
            seen.append(len(db.call(store.read_bars("NSE:INFY", "1m"))))
            seen.append(len(other.call(other_store.read_bars("NSE:INFY", "1m"))))
        writer.join()
        final = other.call(other_store.read_bars("NSE:INFY", "1m"))

    assert errors == []
    assert all(n % size == 0 for n in seen), "a reader saw part of a batch"
    assert seen[::2] == sorted(seen[::2]) and seen[1::2] == sorted(seen[1::2])  # per reader
    assert final == [bar(i) for i in range(batches * size)]


def test_stored_bars_pages_through_a_window_in_order(db: Database, store: CandleStore) -> None:
    db.call(store.write_bars([bar(i) for i in reversed(range(20))] + [bar(3, "NSE:TCS")]))

    served = stored_bars(store, "NSE:INFY", "1m", T0 + 2 * MINUTE, T0 + 11 * MINUTE, page_size=3)

    assert list(served) == [bar(i) for i in range(2, 11)]
    assert list(stored_bars(store, "NSE:INFY", "1m", page_size=7)) == [bar(i) for i in range(20)]
    with pytest.raises(ValueError, match="page_size"):
        stored_bars(store, "NSE:INFY", "1m", page_size=0)


def test_a_failed_write_is_logged_and_counted_and_stores_nothing(
    db: Database, store: CandleStore
) -> None:
    broken = Bar(**{**{f: getattr(bar(1), f) for f in Bar.__struct_fields__}, "instrument": None})

    with structlog.testing.capture_logs() as logs:
        future = db.submit(store.write_bars([bar(0), broken]))
        concurrent.futures.wait([future], timeout=10)

    assert future.exception() is not None
    assert (db.failures, store.write_failures) == (1, 1)
    [line] = [entry for entry in logs if entry["event"] == "store operation failed"]
    assert "IntegrityError" in line["error"] and line["log_level"] == "error"
    assert db.call(store.read_bars("NSE:INFY", "1m")) == []  # the batch is all or nothing


def test_a_closed_store_refuses_work(db: Database, store: CandleStore) -> None:
    db.close()
    db.close()  # idempotent

    with pytest.raises(StoreClosedError, match="is closed"):
        db.submit(store.write_bars([bar(0)]))
    with pytest.raises(StoreClosedError):
        db.call(store.instruments())


def test_the_schema_version_is_kept_and_a_newer_one_refused(db_path: Path) -> None:
    with Database(url(db_path)) as first:
        query = select(schema_version.c.component, schema_version.c.version)

        async def versions() -> dict[str, int]:
            async with first.engine.connect() as conn:
                return {row[0]: row[1] for row in await conn.execute(query)}

        assert first.call(versions()) == SCHEMA_VERSIONS

        async def pretend_newer() -> None:
            async with first.engine.begin() as conn:
                await conn.execute(update(schema_version).values(version=99))

        first.call(pretend_newer())
    threads_before = {t.name for t in threading.enumerate()}

    with pytest.raises(SchemaVersionError, match=r"schema version 99; this build reads version 1"):
        Database(url(db_path))

    assert {t.name for t in threading.enumerate()} <= threads_before  # its thread is gone


def test_last_closes_are_each_instruments_newest_close_whatever_the_interval(
    db: Database, store: CandleStore
) -> None:
    """Issue 12: right after a restart risk had no last price (``no_price``) until the
    feed's first trade; the stored candles' last closes stand until then."""
    bars = [
        bar(0, close=100.0),
        bar(1, close=101.5),
        bar(0, interval="5m", close=99.0),  # closes earlier than the 1m bar 1
        bar(3, instrument="NSE:TCS", close=3500.0),
        bar(2, instrument="NSE:TCS", interval="5m", close=3490.0),
    ]
    db.call(store.write_bars(bars))

    closes = store.last_closes(["NSE:INFY", "NSE:TCS"], ["1m", "5m"])
    assert db.call(closes) == {"NSE:INFY": 101.5, "NSE:TCS": 3500.0}


def test_market_data_starts_with_the_stored_last_prices(tmp_path: Path) -> None:
    config = load_config([], env={"TROUPE__DATA_DIR": str(tmp_path)})
    database = Database(url(tmp_path / "troupe.db"))
    try:
        instrument = config.market.instruments[0]
        database.call(CandleStore(database).write_bars([bar(0, instrument=instrument, close=42.5)]))
    finally:
        database.close()
    market = market_data(config, SimulatedRuntime(start_ns=T0))
    try:
        assert market.prices.last(instrument) == 42.5
    finally:
        market.close()
