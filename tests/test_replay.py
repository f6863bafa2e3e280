"""CsvReplay: the built-in layouts, configurable columns, pacing, bars, and bad rows."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import cast

import pytest

from adapters.replay import (
    BarFeedEvents,
    CsvReplay,
    CsvSource,
    ReplayError,
    check_csv,
    read_csv,
)
from adapters.replay.csv_rows import BarRow, TickRow
from engine.data_client import FeedEvents
from engine.messages.market import Bar, TradeTick
from engine.simulated import SimulatedRuntime
from engine.testing import Driver
from engine.threaded import ThreadedRuntime
from engine.timezones import at_local_time, from_exchange_time
from tests.fake_feed_events import FakeFeedEvents, TickOnlyFeedEvents

DATA = Path(__file__).parent / "data"
DAILY = str(DATA / "daily-adj-close.csv")
INTRADAY = str(DATA / "intraday-5min.csv")
TRADES = str(DATA / "trades.csv")
SECOND = 1_000_000_000
START = 1_900_000_000 * SECOND  # the scheduler's clock, far from the data's own times
NY = "America/New_York"
BERLIN = "Europe/Berlin"


def play(replay: CsvReplay, events: TickOnlyFeedEvents | None = None) -> TickOnlyFeedEvents:
    """Connect, subscribe to everything and run the simulated clock until nothing is left."""
    events = FakeFeedEvents() if events is None else events
    runtime = SimulatedRuntime(start_ns=START)
    replay.connect(as_feed_events(events), runtime)
    replay.subscribe(replay.instruments)
    runtime.run()
    return events


def as_feed_events(events: TickOnlyFeedEvents) -> FeedEvents:
    """``events`` as the port's type. A tick-only fake lacks ``on_bars``, which every feed
    has: it stands for a caller the type checker does not see, which the replay must refuse
    when it has bars to deliver, and may serve trades."""
    return cast(FeedEvents, events)


def write(tmp_path: Path, text: str, name: str = "bad.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- the built-in layouts -------------------------------------------------------------------


def test_daily_layout_with_adj_close_parses_without_configuration() -> None:
    rows = list(read_csv(CsvSource(path=DAILY, instrument="NYSE:ORCL", tz=NY)))

    first = rows[0]
    assert isinstance(first, BarRow)
    assert (first.open, first.high, first.low, first.close) == (37.50, 37.80, 37.10, 37.61)
    assert first.volume == 18201100
    assert first.extras == {"Adj Close": 35.20}
    assert first.interval == "1d"
    assert first.ts_event == at_local_time(date(2014, 1, 2), "00:00", NY)
    assert first.ts_close == at_local_time(date(2014, 1, 3), "00:00", NY)
    assert len(rows) == 5


def test_adj_close_is_kept_but_never_traded_on() -> None:
    bars = play(CsvReplay(CsvSource(path=DAILY, instrument="NYSE:ORCL", tz=NY))).bars
    trades = play(
        CsvReplay(CsvSource(path=DAILY, instrument="NYSE:ORCL", tz=NY), bars_as="trades"),
        TickOnlyFeedEvents(),
    ).ticks

    assert [b.close for b in bars] == [37.61, 37.72, 37.90, 38.33, 37.66]
    assert [t.price for t in trades if isinstance(t, TradeTick)][3::4] == [
        37.61,
        37.72,
        37.90,
        38.33,
        37.66,
    ]


def test_zero_volume_is_valid() -> None:
    bars = play(CsvReplay(CsvSource(path=DAILY, instrument="NYSE:ORCL", tz=NY))).bars

    assert bars[1].volume == 0
    assert bars[1].vwap == bars[1].close  # nothing traded: the close stands in


def test_intraday_layout_reads_local_exchange_time_in_the_configured_zone() -> None:
    summary = check_csv(CsvSource(path=INTRADAY, instrument="EUREX:IDX", tz=BERLIN))
    rows = list(read_csv(CsvSource(path=INTRADAY, instrument="EUREX:IDX", tz=BERLIN)))

    assert summary.kind == "bars"
    assert summary.rows == 6
    assert summary.interval == "5m"  # the smallest step between the first rows
    first = rows[0]
    assert isinstance(first, BarRow)
    assert first.ts_event == from_exchange_time("2006-01-02T08:05:00+00:00", "UTC")
    assert first.ts_close - first.ts_event == 300 * SECOND
    assert first.extras == {"OpenInterest": 0.0}
    assert first.volume == 0


def test_tick_layout_replays_trades_through_on_ticks() -> None:
    events = play(CsvReplay(CsvSource(path=TRADES, instrument="X:T"), speed=None))

    assert events.bars == []
    assert [(t.ts_event, t.price, t.size) for t in events.trades()] == [
        (1_704_186_900_000 * 1_000_000, 101.25, 10.0),
        (1_704_186_900_250 * 1_000_000, 101.30, 5.0),
        (1_704_186_900_250 * 1_000_000, 101.20, 0.0),
        (1_704_186_901_000 * 1_000_000, 101.35, 25.0),
    ]


def test_columns_are_configurable(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "when,o,h,l,last,qty,venue\n"
        "2024-01-02 09:20:00,10.0,10.5,9.5,10.2,7,X\n"
        "2024-01-02 09:21:00,10.2,10.3,10.1,10.1,3,X\n",
        "custom.csv",
    )
    source = CsvSource(
        path=path,
        instrument="NSE:ACME",
        tz="Asia/Kolkata",
        columns={"date": "when", "open": "o", "high": "h", "low": "l", "close": "last"},
        extras=[],
        bar_time="end",
    )

    rows = list(read_csv(source))

    first = rows[0]
    assert isinstance(first, BarRow)
    assert first.ts_close == at_local_time(date(2024, 1, 2), "09:20", "Asia/Kolkata")
    assert first.ts_close - first.ts_event == 60 * SECOND
    assert (first.open, first.high, first.low, first.close) == (10.0, 10.5, 9.5, 10.2)
    assert first.volume == 0  # no volume column mapped or recognised
    assert first.extras == {}


def test_tick_columns_are_configurable_with_iso_times(tmp_path: Path) -> None:
    path = write(
        tmp_path, "time,last,amount\n2024-01-02T09:15:00+05:30,5.5,2\n", "ticks-custom.csv"
    )
    source = CsvSource(
        path=path, instrument="X", columns={"ts": "time", "price": "last", "size": "amount"}
    )

    (row,) = read_csv(source)

    assert row == TickRow(
        line=2,
        ts_event=at_local_time(date(2024, 1, 2), "09:15", "Asia/Kolkata"),
        price=5.5,
        size=2.0,
    )


# -- pacing ---------------------------------------------------------------------------------


def test_speed_factor_maps_data_time_onto_the_simulated_clock() -> None:
    bars = play(CsvReplay(CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN), speed=60)).bars

    # 60x: five minutes of history per five seconds; the first bar plays at once.
    first_close = bars[0].ts_close
    assert [b.ts_init - START for b in bars] == [(b.ts_close - first_close) // 60 for b in bars]
    assert [(b.ts_init - START) // SECOND for b in bars[:5]] == [0, 5, 10, 15, 25]


def test_speed_one_with_a_start_time_replays_on_the_data_clock() -> None:
    data_start = from_exchange_time("2006-01-02T09:00:00", BERLIN)
    source = CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN)
    replay = CsvReplay(source, speed=1.0, start_at_ns=data_start)
    events = FakeFeedEvents()
    runtime = SimulatedRuntime(start_ns=data_start)

    replay.connect(events, runtime)
    replay.subscribe(["IDX"])
    runtime.run()

    assert [b.ts_init for b in events.bars] == [b.ts_close for b in events.bars]
    assert replay.finished


def test_paced_replay_under_the_threaded_runtime() -> None:
    runtime = ThreadedRuntime()
    replay = CsvReplay(CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN), speed=600_000)
    events = FakeFeedEvents()
    try:
        replay.connect(events, runtime)
        replay.subscribe(["IDX"])
        Driver(runtime).wait_for(lambda: len(events.bars) == 6, what="all six bars")
    finally:
        runtime.stop()

    assert [b.ts_close for b in events.bars] == sorted(b.ts_close for b in events.bars)
    assert len(events.bars) == 6
    assert events.log[0] == "connected"


def test_as_fast_as_possible_delivers_batches_without_moving_the_clock() -> None:
    source = CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN)

    events = play(CsvReplay(source, speed=None, batch_size=4))

    assert [len(b) for b in events.batches] == [4, 2]
    assert {b.ts_init for b in events.bars} == {START}
    assert events.log == ["connected", "bars", "bars"]


def test_bars_as_trades_gives_four_synthetic_trades_per_bar() -> None:
    source = CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN)

    events = play(CsvReplay(source, speed=None, bars_as="trades"), TickOnlyFeedEvents())

    first_four = events.trades()[:4]
    start = from_exchange_time("2006-01-02T09:05:00", BERLIN)
    # A rising bar: open, low, high, close.
    assert [t.price for t in first_four] == [3578.73, 3578.73, 3587.88, 3582.99]
    assert [t.ts_event - start for t in first_four] == [
        0,
        100 * SECOND,
        200 * SECOND,
        300 * SECOND - 1,
    ]
    assert len(events.ticks) == 24


def test_bars_refuse_a_feed_without_on_bars() -> None:
    replay = CsvReplay(CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN))

    with pytest.raises(TypeError, match="has no on_bars"):
        replay.connect(as_feed_events(TickOnlyFeedEvents()), SimulatedRuntime())


def test_disconnect_pauses_and_connect_resumes_where_it_stopped() -> None:
    replay = CsvReplay(CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN), speed=60)
    events = FakeFeedEvents()
    runtime = SimulatedRuntime(start_ns=START)
    replay.connect(events, runtime)
    replay.subscribe(["IDX"])
    runtime.run(until_ns=START + 7 * SECOND)  # bars at 0 s and 5 s
    replay.disconnect()
    runtime.run(until_ns=START + 100 * SECOND)  # paused: nothing arrives

    assert len(events.bars) == 2
    replay.connect(events, runtime)
    runtime.run()

    assert [b.ts_close for b in events.bars] == [
        r.ts_close
        for r in read_csv(CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN))
        if isinstance(r, BarRow)
    ]
    # 2 s of the 5 s to the third bar had passed; it comes 3 s after the resume.
    assert events.bars[2].ts_init == START + 103 * SECOND
    assert events.log.count("connected") == 2


def test_only_subscribed_instruments_are_delivered() -> None:
    replay = CsvReplay(
        [
            CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN),
            CsvSource(path=DAILY, instrument="ORCL", tz=NY),
        ],
        speed=None,
    )
    events = FakeFeedEvents()
    runtime = SimulatedRuntime(start_ns=START)
    replay.connect(events, runtime)

    replay.subscribe(["ORCL"])
    runtime.run()

    assert {b.instrument for b in events.bars} == {"ORCL"}
    assert len(events.bars) == 5
    with pytest.raises(ValueError, match=r"unknown instruments \['MSFT'\]"):
        replay.subscribe(["MSFT"])


def test_sources_merge_in_time_order() -> None:
    replay = CsvReplay(
        [
            CsvSource(path=INTRADAY, instrument="A", tz=BERLIN),
            CsvSource(path=INTRADAY, instrument="B", tz="Europe/London"),
        ],
        speed=None,
    )

    bars = play(replay).bars

    assert [b.ts_close for b in bars] == sorted(b.ts_close for b in bars)
    assert bars[0].instrument == "A"  # Berlin is an hour ahead of London


def test_expected_interval_is_the_bar_length_on_the_scheduler_clock() -> None:
    replay = CsvReplay(CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN), speed=60)

    assert replay.expected_interval_ns("IDX") == 5 * SECOND
    assert replay.expected_interval_ns("OTHER") is None


# -- bad rows -------------------------------------------------------------------------------

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
GOOD = "2014-01-02,37.50,37.80,37.10,37.61,35.20,100\n"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            "2014-01-03,37.5,37.8,37.1,n/a,35.2,100",
            "column 'Close': expected a number, got 'n/a'",
        ),
        (
            "2014-01-03,37.5,37.8,37.1,37.6,35.2,-5",
            "column 'Volume': expected a volume >= 0, got '-5'",
        ),
        (
            "2014-01-03,0,37.8,0,37.6,35.2,5",
            "column 'Open': expected a price > 0, got '0'",
        ),
        (
            "2014-01-03,37.5,37.0,37.1,37.6,35.2,5",
            "column 'High': expected a high >= open, low and close (37.6), got '37.0'",
        ),
        (
            "2014-01-03,37.5,37.8,37.55,37.6,35.2,5",
            "column 'Low': expected a low <= open and close (37.5), got '37.55'",
        ),
        (
            "2014-13-03,37.5,37.8,37.1,37.6,35.2,5",
            "column 'Date': expected a date like 2024-01-02 or a date-time, got '2014-13-03'",
        ),
        (
            "2014-01-01,37.5,37.8,37.1,37.6,35.2,5",
            "column 'Date': '2014-01-01' is not after '2014-01-02' on the row before: "
            "rows must be oldest first",
        ),
        (
            "2014-01-03,37.5,37.8,37.1,37.6,inf,5",
            "column 'Adj Close': expected a number, got 'inf'",
        ),
        ("2014-01-03,37.5,37.8,37.1,37.6", "expected 7 cells as in the header, got 5"),
    ],
)
def test_a_bad_row_names_file_line_column_and_value(tmp_path: Path, row: str, problem: str) -> None:
    path = write(tmp_path, HEADER + GOOD + row + "\n")

    with pytest.raises(ReplayError) as caught:
        CsvReplay(CsvSource(path=path, instrument="X"))

    assert caught.value.problems == [f"{path}:3: {problem}"]


def test_every_bad_row_is_listed_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + GOOD
        + "2014-01-03,x,37.8,37.1,37.6,35.2,5\n"
        + "2014-01-06,37.5,37.8,37.1,?,35.2,5\n",
    )

    with pytest.raises(ReplayError) as caught:
        CsvReplay(CsvSource(path=path, instrument="X"))

    assert caught.value.problems == [
        f"{path}:3: column 'Open': expected a number, got 'x'",
        f"{path}:4: column 'Close': expected a number, got '?'",
    ]


def test_a_time_skipped_by_daylight_saving_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Date,Time,Open,High,Low,Close,Volume\n2006-03-26,02:30:00,1,1,1,1,0\n",
    )

    with pytest.raises(ReplayError) as caught:
        check_csv(CsvSource(path=path, instrument="X", tz=BERLIN))

    assert caught.value.problems == [
        f"{path}:2: column 'Time': 2006-03-26T02:30:00 does not exist in Europe/Berlin: "
        "the clocks skip it when daylight saving starts"
    ]


@pytest.mark.parametrize(
    ("text", "columns", "problem"),
    [
        (
            "",
            {},
            "{path}: empty file: expected a header line such as 'Date,Open,High,Low,Close,Volume'",
        ),
        (
            "Day,Open,High,Low,Close\n",
            {},
            "{path}:1: header 'Day,Open,High,Low,Close' has no column for date: expected "
            "Date,Open,High,Low,Close[,Volume] (optionally with Time) or ts,price,size, or "
            "name the columns in the source's columns mapping",
        ),
        (
            "Date,Open,High,Low,Close\n",
            {"close": "Last"},
            "{path}:1: columns.close = 'Last' is not in the header 'Date,Open,High,Low,Close'",
        ),
        (
            "Date,Open,High,Low,Close\n",
            {"shut": "Close"},
            "{path}: columns: unknown field 'shut'; expected one of date, time, open, high, "
            "low, close, volume, ts, price, size",
        ),
    ],
)
def test_a_bad_header_or_mapping_is_explained(
    tmp_path: Path, text: str, columns: dict[str, str], problem: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ReplayError) as caught:
        CsvReplay(CsvSource(path=path, instrument="X", columns=columns))

    assert caught.value.problems == [problem.format(path=path)]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere.csv")

    with pytest.raises(ReplayError) as caught:
        CsvReplay(CsvSource(path=path, instrument="X"))

    assert caught.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_a_bad_tick_time_stamp_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "ts,price,size\nyesterday,1.0,1\n")

    with pytest.raises(ReplayError) as caught:
        CsvReplay(CsvSource(path=path, instrument="X"))

    assert caught.value.problems == [
        f"{path}:2: column 'ts': expected a time since the epoch or an ISO 8601 date-time, "
        "got 'yesterday'"
    ]


def test_bad_pacing_options_are_refused() -> None:
    source = CsvSource(path=TRADES, instrument="X")

    with pytest.raises(ValueError, match="speed must be > 0"):
        CsvReplay(source, speed=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        CsvReplay(source, batch_size=0)


def test_delivered_messages_are_bars_and_trades() -> None:
    bars = play(CsvReplay(CsvSource(path=INTRADAY, instrument="IDX", tz=BERLIN))).bars

    assert all(type(b) is Bar for b in bars)
    assert [b.interval for b in bars] == ["5m"] * 6


def test_a_file_spoiled_after_the_check_delivers_what_was_read_then_reads_on(
    tmp_path: Path,
) -> None:
    # Arrange: more rows than are read ahead to infer the interval; then a bad row is added.
    days = [date(2014, 1, 1) + timedelta(days=n) for n in range(60)]
    path = write(tmp_path, HEADER + "".join(f"{d},10,11,9,10.5,10,5\n" for d in days))
    replay = CsvReplay(CsvSource(path=path, instrument="X"), speed=None, batch_size=100)
    with open(path, "a") as file:
        file.write("2014-03-02,x,11,9,10.5,10,5\n")
    events = FakeFeedEvents()
    runtime = SimulatedRuntime(start_ns=START)
    replay.connect(events, runtime)
    replay.subscribe(["X"])

    # Act
    runtime.run()
    first = list(events.bars)
    with open(path, "w") as file:  # mended
        file.write(HEADER + "".join(f"{d},10,11,9,10.5,10,5\n" for d in [*days, date(2014, 3, 2)]))
    replay.connect(events, runtime)  # what the feed does after its back-off
    runtime.run()

    # Assert
    assert len(first) == 60
    assert events.log[:3] == [
        "connected",
        "bars",
        f"disconnected: replay failed: {path}:62: column 'Open': expected a number, got 'x'",
    ]
    assert [b.ts_event for b in events.bars] == [
        at_local_time(d, "00:00", "UTC") for d in [*days, date(2014, 3, 2)]
    ]  # each bar once
    assert replay.finished


def test_bar_feed_events_is_the_port_s_feed_events() -> None:
    assert BarFeedEvents is FeedEvents
