"""Bars through the feed: a source's own bars are validated and published on
``bars:<instrument>`` like the aggregator's, never sent downstream; bad bars are dropped and
counted by reason; a CSV replay of bars plays through a real feed.

Behaviour that needs no exact time runs under both runtimes (the ``driver`` fixture); the
replays and the watchdog pin times on the simulated clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.bar_aggregator import bars_topic
from actors.feed import Feed, FeedConfig
from adapters.replay import CsvReplay, CsvSource, read_csv
from adapters.replay.csv_rows import BarRow
from engine.bar_validation import (
    BAR_CHECKS,
    NO_BAR_YET,
    BarRejectReason,
    BarTape,
    bar_problem,
    table_problem,
)
from engine.data_client import DataClient
from engine.messages.feed import (
    TOPIC_ALERTS,
    DescribeFeedHealth,
    FeedConnected,
    FeedGapReport,
    FeedHealthReport,
    FeedResumed,
    FeedStalled,
)
from engine.messages.market import Bar
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import SECOND, Capture, Driver, recorder
from engine.timezones import at_local_time
from tests.feed_support import FakeClient, trade

T0 = 1_704_167_100_000_000_000
MINUTE = 60 * SECOND
INFY, TCS, SBIN = "NSE:INFY", "NSE:TCS", "NSE:SBIN"
BAND = (50.0, 150.0)
DATA = Path(__file__).parent / "data"
DAILY = str(DATA / "daily-adj-close.csv")
INTRADAY = str(DATA / "intraday-5min.csv")
NY, BERLIN = "America/New_York", "Europe/Berlin"
START = 1_900_000_000 * SECOND  # the replay's clock, far from the data's own times


def bar(
    instrument: str = INFY,
    start: int = T0,
    interval: str = "1m",
    *,
    length: int = MINUTE,
    **fields: Any,
) -> Bar:
    values: dict[str, Any] = {
        "open": 100.0,
        "high": 101.0,
        "low": 99.0,
        "close": 100.5,
        "volume": 10.0,
        "trade_count": 3,
        "vwap": 100.2,
    }
    values.update(fields)
    ends = start + length
    return Bar(
        ts_event=start,
        ts_init=ends,
        instrument=instrument,
        interval=interval,
        ts_close=values.pop("ts_close", ends),
        **values,
    )


def always_open(_instrument: str, _ts_ns: int) -> bool:
    return True


def feed_tree(
    client: DataClient,
    runtime: Any,
    instruments: Sequence[str],
    band: tuple[float, float] | None = None,
    **options: Any,
) -> tuple[SupervisorSpec, list[Any]]:
    """The feed under test with ``band`` on every instrument, sending to a recording
    ``downstream`` actor (which bars must never reach)."""
    downstream_spec, downstream = recorder("downstream")
    config = FeedConfig(downstream="downstream", **options)

    def make() -> Feed:
        return Feed(
            client,
            runtime,
            instruments,
            market_open=always_open,
            price_band=lambda _instrument: band,
            config=config,
        )

    return SupervisorSpec("root", [downstream_spec, ActorSpec("feed", make)]), downstream


def health(runtime: Any) -> FeedHealthReport:
    now = runtime.now_ns()
    report = runtime.ask("feed", DescribeFeedHealth(ts_event=now, ts_init=now))
    assert isinstance(report, FeedHealthReport)
    return report


def deliver_bars(client: FakeClient, *bars: Any) -> None:
    assert client.events is not None
    client.events.on_bars(list(bars))


# -- under both runtimes ----------------------------------------------------------------------


def start(driver: Driver, client: FakeClient) -> tuple[list[Any], Capture]:
    capture = Capture(driver.runtime)
    tree, downstream = feed_tree(client, driver.runtime, [INFY, TCS], BAND)
    driver.start(tree)
    driver.wait_for(lambda: bool(capture.messages("feed:fake", FeedConnected)), what="connected")
    return downstream, capture


def test_good_bars_are_published_on_their_bars_topic_in_order_and_not_sent_downstream(
    driver: Driver,
) -> None:
    # Arrange
    client = FakeClient()
    downstream, capture = start(driver, client)
    bars = [
        bar(INFY, T0),
        bar(TCS, T0),
        bar(INFY, T0 + MINUTE),
        bar(INFY, T0, "5m", length=5 * MINUTE),  # its own interval: in order
        bar(TCS, T0 + MINUTE, volume=0.0, trade_count=0, vwap=100.5),  # nothing traded: valid
    ]

    # Act
    deliver_bars(client, *bars[:2])
    deliver_bars(client, *bars[2:])
    tick = trade(INFY, driver.runtime.now_ns())
    client.deliver(tick)  # after the bars: once it is downstream, they were all handled
    driver.wait_for(lambda: len(downstream) == 1, what="the tick downstream")
    report = health(driver.runtime)

    # Assert
    assert capture.messages(bars_topic(INFY)) == [bars[0], bars[2], bars[3]]
    assert capture.messages(bars_topic(TCS)) == [bars[1], bars[4]]
    assert [m for m in capture.messages() if isinstance(m, Bar)] == bars  # arrival order
    assert downstream == [tick]
    assert (report.bars_received, report.bars_passed) == (5, 5)
    assert not any(report.bars_rejected.values())
    assert (report.ticks_received, report.ticks_passed) == (1, 1)


def test_bad_bars_are_dropped_counted_by_reason_and_the_rest_goes_on(driver: Driver) -> None:
    # Arrange
    client = FakeClient()
    _, capture = start(driver, client)
    first, later = bar(INFY, T0 + MINUTE), bar(INFY, T0 + 2 * MINUTE)
    batch = [
        first,
        "not a bar",
        trade(INFY, T0),
        bar(SBIN, T0),
        bar(INFY, T0 + 5 * MINUTE, open="100"),  # raises inside a check
        bar(TCS, T0, close=math.nan),
        bar(TCS, T0, volume=math.inf),
        bar(TCS, T0, low=0.0),
        bar(TCS, T0, volume=-1.0),
        bar(TCS, T0, high=100.0),  # below the close
        bar(TCS, T0, ts_close=T0),
        bar(INFY, T0 + MINUTE, close=100.7),  # the start of the last good INFY 1m bar
        bar(INFY, T0),  # before it
        bar(TCS, T0, high=151.0),
        later,
    ]

    # Act
    deliver_bars(client, *batch)
    driver.wait_for(lambda: len(capture.messages(bars_topic(INFY))) == 2, what="the good bars")
    report = health(driver.runtime)

    # Assert
    assert capture.messages(bars_topic(INFY)) == [first, later]
    assert capture.messages(bars_topic(TCS)) == []
    assert (report.bars_received, report.bars_passed) == (15, 2)
    assert {reason: n for reason, n in report.bars_rejected.items() if n} == {
        "not_a_bar": 2,
        "unsubscribed": 1,
        "malformed": 1,
        "non_finite": 2,
        "non_positive_price": 1,
        "negative_volume": 1,
        "inconsistent_range": 1,
        "empty_span": 1,
        "duplicate": 1,
        "out_of_order": 1,
        "outside_band": 1,
    }
    assert list(report.bars_rejected) == [reason.value for reason in BarRejectReason]
    assert not any(report.rejected.values())  # bars are not counted as ticks
    [status] = [a for a in driver.runtime.describe().actors if a.name == "feed"]
    assert (status.incarnation, status.failures) == (1, 0)


# -- the table, pure --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (bar(ts_close=float(T0 + MINUTE)), BarRejectReason.MALFORMED),
        (bar(open=math.nan), BarRejectReason.NON_FINITE),
        (bar(high=math.inf), BarRejectReason.NON_FINITE),
        (bar(vwap=math.nan), BarRejectReason.NON_FINITE),
        (bar(volume=-math.inf), BarRejectReason.NON_FINITE),
        (bar(open=-1.0), BarRejectReason.NON_POSITIVE_PRICE),
        (bar(low=0.0), BarRejectReason.NON_POSITIVE_PRICE),
        (bar(volume=-0.5), BarRejectReason.NEGATIVE_VOLUME),
        (bar(trade_count=-1), BarRejectReason.NEGATIVE_VOLUME),
        (bar(high=100.4), BarRejectReason.INCONSISTENT_RANGE),  # below the close
        (bar(high=98.0), BarRejectReason.INCONSISTENT_RANGE),  # below the low
        (bar(low=100.1), BarRejectReason.INCONSISTENT_RANGE),  # above the open
        (bar(ts_close=T0), BarRejectReason.EMPTY_SPAN),
        (bar(ts_close=T0 - 1), BarRejectReason.EMPTY_SPAN),
        (bar(start=T0 - MINUTE), BarRejectReason.DUPLICATE),
        (bar(start=T0 - 2 * MINUTE), BarRejectReason.OUT_OF_ORDER),
        (bar(low=49.0), BarRejectReason.OUTSIDE_BAND),
        (bar(high=150.5), BarRejectReason.OUTSIDE_BAND),
        (bar(open=math.nan, low=0.0, ts_close=T0), BarRejectReason.NON_FINITE),  # the first
    ],
)
def test_each_reason_of_the_table_is_named(candidate: Bar, reason: BarRejectReason) -> None:
    assert bar_problem(candidate, T0 - MINUTE, *BAND) is reason


def test_the_table_names_each_reason_once_in_order() -> None:
    named = [reason for reason, _ in BAR_CHECKS]

    assert len(named) == len(set(named))
    assert named == [r for r in BarRejectReason if r in named]
    assert set(BarRejectReason) - set(named) == {
        BarRejectReason.NOT_A_BAR,
        BarRejectReason.UNSUBSCRIBED,  # the feed's to say
    }


def test_a_good_bar_passes_and_each_interval_keeps_its_own_order() -> None:
    tape = BarTape(INFY)
    low, high = BAND

    assert bar_problem(bar(), NO_BAR_YET, low, high) is None
    assert tape.admit(bar(start=T0 + MINUTE), low, high) is None
    assert tape.admit(bar(start=T0, interval="5m", length=5 * MINUTE), low, high) is None
    assert tape.admit(bar(start=T0), low, high) is BarRejectReason.OUT_OF_ORDER
    assert tape.admit(trade(INFY, T0), low, high) is BarRejectReason.NOT_A_BAR
    assert tape.last_event_ns == T0 + MINUTE
    tiny = bar(low=1e-300, open=1.0, high=2.0, close=1.5, vwap=1.2)
    assert bar_problem(tiny, NO_BAR_YET, 0.0, 1e9) is None


_PRICE = st.one_of(
    st.floats(min_value=-1.0, max_value=200.0),
    st.sampled_from([0.0, 49.0, 50.0, 100.0, 150.0, 1e308, math.inf, -math.inf, math.nan]),
)


@settings(max_examples=500, deadline=None)
@given(
    prices=st.tuples(_PRICE, _PRICE, _PRICE, _PRICE),
    volume=st.one_of(st.floats(min_value=-1.0, max_value=1e6), st.just(math.nan)),
    vwap=st.one_of(_PRICE, st.just(1e308)),
    trades=st.integers(min_value=-1, max_value=5),
    start=st.sampled_from([T0 - 2 * MINUTE, T0 - MINUTE, T0, -T0]),
    length=st.sampled_from([-MINUTE, 0, MINUTE]),
)
def test_the_fast_path_agrees_with_the_table(
    *,
    prices: tuple[float, float, float, float],
    volume: float,
    vwap: float,
    trades: int,
    start: int,
    length: int,
) -> None:
    o, h, low, c = prices
    candidate = bar(
        start=start,
        length=length,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=volume,
        vwap=vwap,
        trade_count=trades,
    )
    for last in (NO_BAR_YET, T0 - MINUTE):
        assert bar_problem(candidate, last, *BAND) is table_problem(candidate, last, *BAND)
        assert bar_problem(candidate, last, 0.0, math.inf) is table_problem(
            candidate, last, 0.0, math.inf
        )


# -- on the simulated clock -------------------------------------------------------------------


class SimFeed:
    """A feed of ``client`` on a simulated runtime started at ``START``, everything published
    captured with its time."""

    def __init__(self, client: DataClient, instruments: Sequence[str]) -> None:
        self.runtime = SimulatedRuntime(start_ns=START)
        self.capture = Capture(self.runtime)
        tree, self.downstream = feed_tree(client, self.runtime, instruments)
        self.runtime.start(tree)

    def bars_at(self, instrument: str) -> list[tuple[int, Bar]]:
        """(when published, bar) on ``bars:<instrument>``."""
        topic = bars_topic(instrument)
        return [(at, m) for at, t, m in self.capture.items if t == topic and isinstance(m, Bar)]


def test_bars_are_activity_for_the_watchdog_and_close_a_gap() -> None:
    # Arrange: 1 s expected interval, stale beyond 3 of them.
    client = FakeClient()
    runtime = SimulatedRuntime(start_ns=T0)
    capture = Capture(runtime)
    tree, _ = feed_tree(client, runtime, [INFY], stale_factor=3.0)
    runtime.start(tree)
    runtime.run(until_ns=T0)

    # Act: silence, then a bar; a drop, then another bar.
    runtime.call_at(T0 + 10 * SECOND, lambda: deliver_bars(client, bar(INFY, T0)))
    runtime.call_at(T0 + 11 * SECOND, lambda: client.drop("socket closed"))
    runtime.call_at(T0 + 30 * SECOND, lambda: deliver_bars(client, bar(INFY, T0 + MINUTE)))
    runtime.run(until_ns=T0 + 31 * SECOND)

    # Assert
    alerts = [(m.ts_event, type(m).__name__) for m in capture.messages(TOPIC_ALERTS)]
    assert alerts[:2] == [(T0 + 4 * SECOND, "FeedStalled"), (T0 + 10 * SECOND, "FeedResumed")]
    assert isinstance(capture.messages(TOPIC_ALERTS)[0], FeedStalled)
    assert isinstance(capture.messages(TOPIC_ALERTS)[1], FeedResumed)
    [gap] = capture.messages(TOPIC_ALERTS, FeedGapReport)
    assert (gap.instrument, gap.last_before_ns, gap.first_after_ns, gap.gap_ns) == (
        INFY,
        T0,
        T0 + MINUTE,
        MINUTE,
    )
    assert gap.ts_event == T0 + 30 * SECOND
    assert health(runtime).stalled == []


def test_a_csv_replay_of_bars_plays_through_a_real_feed_at_its_speed() -> None:
    # Arrange
    source = CsvSource(path=INTRADAY, instrument="EUREX:IDX", tz=BERLIN)
    replay = CsvReplay(source, speed=60, bars_as="bars")
    sim = SimFeed(replay, ["EUREX:IDX"])
    rows = [r for r in read_csv(source) if isinstance(r, BarRow)]

    # Act
    sim.runtime.run(until_ns=START + 3 * 86_400 * SECOND)

    # Assert
    published = sim.bars_at("EUREX:IDX")
    assert [(b.ts_event, b.ts_close, b.open, b.high, b.low, b.close) for _, b in published] == [
        (r.ts_event, r.ts_close, r.open, r.high, r.low, r.close) for r in rows
    ]
    assert all(type(b) is Bar and b.interval == "5m" for _, b in published)
    first_close = rows[0].ts_close
    assert [at for at, _ in published] == [START + (r.ts_close - first_close) // 60 for r in rows]
    assert [b.ts_init for at, b in published] == [at for at, _ in published]
    assert sim.downstream == []
    assert replay.finished


def test_the_daily_layout_with_adj_close_plays_as_daily_bars() -> None:
    # Arrange
    replay = CsvReplay(CsvSource(path=DAILY, instrument="NYSE:ORCL", tz=NY), speed=None)
    sim = SimFeed(replay, ["NYSE:ORCL"])

    # Act
    sim.runtime.run(until_ns=START + SECOND)

    # Assert
    bars = [b for _, b in sim.bars_at("NYSE:ORCL")]
    assert [b.close for b in bars] == [37.61, 37.72, 37.90, 38.33, 37.66]  # never Adj Close
    assert [b.interval for b in bars] == ["1d"] * 5
    assert bars[0].ts_event == at_local_time(date(2014, 1, 2), "00:00", NY)
    assert bars[0].ts_close == at_local_time(date(2014, 1, 3), "00:00", NY)
    assert bars[1].volume == 0 and bars[1].vwap == bars[1].close  # nothing traded: valid
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].volume) == (
        37.50,
        37.80,
        37.10,
        18201100,
    )
    report = health(sim.runtime)
    assert (report.bars_received, report.bars_passed) == (5, 5)
