"""The feed actor: connection, batches with bad ticks, the watchdog, reconnects, gaps, health.

Behaviour that needs no exact time runs under both runtimes (the ``driver`` fixture); the
watchdog, back-off and gap tests pin exact times on the simulated clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import structlog

from actors.feed import CONNECTION, Feed, FeedConfig
from engine.backoff import Backoff
from engine.messages.feed import (
    TOPIC_ALERTS,
    DescribeFeedHealth,
    FeedConnected,
    FeedDisconnected,
    FeedGapReport,
    FeedHealthReport,
    FeedResumed,
    FeedStalled,
    SubscribeInstruments,
    UnsubscribeInstruments,
)
from engine.messages.market import TickBatch
from engine.price_board import PriceBoard
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import SECOND, Capture, Driver, recorder
from tests.feed_support import FakeClient, quote, trade

T0 = 1_704_167_100_000_000_000
MS = 1_000_000
INFY, TCS, SBIN = "NSE:INFY", "NSE:TCS", "NSE:SBIN"
FEED_TOPIC = "feed:fake"
BACKOFF = Backoff(initial_s=1.0, multiplier=2.0, max_s=8.0, jitter=0.5, reset_after_s=30.0)


def always_open(_instrument: str, _ts_ns: int) -> bool:
    return True


def feed_tree(
    client: FakeClient,
    runtime: Any,
    instruments: Sequence[str] = (INFY, TCS),
    *,
    market_open: Callable[[str, int], bool] = always_open,
    **options: Any,
) -> tuple[SupervisorSpec, list[Any]]:
    """The feed under test, sending to a recording ``bars`` actor."""
    bars_spec, bars = recorder("bars")
    config = FeedConfig(downstream="bars", **options)

    def make() -> Feed:
        return Feed(client, runtime, instruments, market_open=market_open, config=config)

    return SupervisorSpec("root", [bars_spec, ActorSpec("feed", make)]), bars


def health(runtime: Any) -> FeedHealthReport:
    now = runtime.now_ns()
    report = runtime.ask("feed", DescribeFeedHealth(ts_event=now, ts_init=now))
    assert isinstance(report, FeedHealthReport)
    return report


# -- under both runtimes ----------------------------------------------------------------------


def start(driver: Driver, client: FakeClient, **options: Any) -> tuple[list[Any], Capture]:
    capture = Capture(driver.runtime)
    tree, bars = feed_tree(client, driver.runtime, **options)
    driver.start(tree)
    driver.wait_for(lambda: bool(capture.messages(FEED_TOPIC, FeedConnected)), what="connected")
    return bars, capture


def test_connects_and_subscribes_every_instrument_on_start(driver: Driver) -> None:
    client = FakeClient()

    _, capture = start(driver, client)

    assert client.subscriptions == [[INFY, TCS]]
    [connected] = capture.messages(FEED_TOPIC, FeedConnected)
    assert (connected.feed, connected.reconnects) == ("fake", 0)
    assert health(driver.runtime).connected


def test_good_ticks_go_downstream_as_one_batch_in_order_and_on_their_topics(
    driver: Driver,
) -> None:
    # Arrange
    client = FakeClient()
    bars, capture = start(driver, client)
    now = driver.runtime.now_ns()
    ticks = [trade(INFY, now), quote(TCS, now + 1), trade(TCS, now + 2), trade(INFY, now + 3)]

    # Act
    client.deliver(*ticks)
    driver.wait_for(lambda: len(bars) == 1, what="the batch downstream")
    client.deliver(trade(INFY, now + 4))
    driver.wait_for(lambda: len(bars) == 2, what="the lone tick downstream")

    # Assert
    batch, lone = bars
    assert isinstance(batch, TickBatch) and batch.ticks == ticks
    assert lone == trade(INFY, now + 4)  # a lone tick travels as itself
    [infy, infy_lone] = capture.messages(f"ticks:{INFY}")
    assert isinstance(infy, TickBatch) and infy.instrument == INFY
    assert infy.ticks == [ticks[0], ticks[3]]
    assert infy_lone == lone
    [tcs] = capture.messages(f"ticks:{TCS}")
    assert tcs.ticks == [ticks[1], ticks[2]]


def test_bad_ticks_in_a_batch_are_dropped_counted_and_the_rest_goes_on(driver: Driver) -> None:
    # Arrange
    client = FakeClient()
    bars, _ = start(driver, client)
    now = driver.runtime.now_ns()
    good = [trade(INFY, now, trade_id="1"), quote(TCS, now + 1), trade(TCS, now + 2)]
    batch = [
        good[0],
        trade(INFY, now + 1, price=math.nan),
        "not a tick",
        trade(INFY, now + 1, price="100"),  # type: ignore[arg-type]  # raises inside a check
        good[1],
        trade(TCS, now + 1000 * SECOND),
        quote(TCS, now + 1, bid=101.0, ask=100.0),
        good[2],
        trade(INFY, now, trade_id="1"),  # re-sent: the same id with its original stamp
        trade(SBIN, now + 3),
    ]

    # Act
    client.deliver(*batch)
    driver.wait_for(lambda: len(bars) == 1, what="the good ticks downstream")
    report = health(driver.runtime)

    # Assert
    assert bars[0].ticks == good
    assert report.ticks_received == 10
    assert report.ticks_passed == 3
    assert {reason: n for reason, n in report.rejected.items() if n} == {
        "non_finite": 1,
        "not_a_tick": 1,
        "malformed": 1,
        "in_future": 1,
        "crossed_quote": 1,
        "duplicate": 1,
        "unsubscribed": 1,
    }
    [status] = [a for a in driver.runtime.describe().actors if a.name == "feed"]
    assert (status.incarnation, status.failures) == (1, 0)


def test_instruments_are_subscribed_and_unsubscribed_at_run_time(driver: Driver) -> None:
    # Arrange
    client = FakeClient()
    bars, _ = start(driver, client)
    now = driver.runtime.now_ns()

    # Act
    after_sub = driver.runtime.ask(
        "feed", SubscribeInstruments(ts_event=now, ts_init=now, instruments=[SBIN, INFY])
    )
    after_unsub = driver.runtime.ask(
        "feed", UnsubscribeInstruments(ts_event=now, ts_init=now, instruments=[TCS])
    )
    client.deliver(trade(TCS, now), trade(SBIN, now))
    driver.wait_for(lambda: len(bars) == 1)

    # Assert
    assert after_sub == [INFY, SBIN, TCS]
    assert after_unsub == [INFY, SBIN]
    assert client.subscriptions == [[INFY, TCS], [SBIN]]
    assert client.unsubscriptions == [[TCS]]
    assert bars == [trade(SBIN, now)]
    assert health(driver.runtime).rejected["unsubscribed"] == 1


# -- exact times on the simulated clock -------------------------------------------------------


class SimFeed:
    """A feed on a simulated runtime started at ``T0``, with everything published captured."""

    def __init__(self, client: FakeClient, **options: Any) -> None:
        self.client = client
        self.runtime = SimulatedRuntime(start_ns=T0)
        self.capture = Capture(self.runtime)
        tree, self.bars = feed_tree(client, self.runtime, **options)
        self.runtime.start(tree)
        self.runtime.run(until_ns=T0)

    def at(self, ts: int, action: Callable[[], None]) -> None:
        self.runtime.call_at(ts, action)

    def run_to(self, ts: int) -> None:
        self.runtime.run(until_ns=ts)

    def alerts(self) -> list[tuple[int, str, str | None]]:
        return [
            (m.ts_event, type(m).__name__, getattr(m, "instrument", None))
            for m in self.capture.messages(TOPIC_ALERTS)
        ]


def waits(seed: int, streak: Sequence[int]) -> list[int]:
    """engine.backoff's formula with BACKOFF, written out: one draw per failure."""
    rng = random.Random(seed)
    return [round(min(8.0, 2.0 ** (k - 1)) * (1 - 0.5 * rng.random()) * SECOND) for k in streak]


def test_a_silent_connection_is_one_alert_then_resumes_then_one_instrument_stalls() -> None:
    # Arrange: 1 s expected interval, stale beyond 3 of them, checked every second.
    sim = SimFeed(FakeClient(), stale_factor=3.0, watchdog_interval_ns=SECOND)
    sim.at(T0 + 500 * MS, lambda: sim.client.deliver(trade(INFY, T0), trade(TCS, T0)))

    # Act: silence until 10.25 s, then INFY only.
    sim.at(T0 + 10_250 * MS, lambda: sim.client.deliver(trade(INFY, T0 + 10 * SECOND)))
    sim.run_to(T0 + 12 * SECOND)

    # Assert
    assert sim.alerts() == [
        (T0 + 4 * SECOND, "FeedStalled", None),  # 3.5 s silent at the 4 s beat
        (T0 + 10_250 * MS, "FeedResumed", None),
        (T0 + 11 * SECOND, "FeedStalled", TCS),  # INFY is back, TCS is not
    ]
    stalled, resumed, tcs = sim.capture.messages(TOPIC_ALERTS)
    assert stalled == FeedStalled(
        ts_event=T0 + 4 * SECOND,
        ts_init=T0 + 4 * SECOND,
        feed="fake",
        instrument=None,
        last_tick_ns=T0 + 500 * MS,
        silent_for_ns=3_500 * MS,
        expected_interval_ns=SECOND,
    )
    assert isinstance(resumed, FeedResumed) and resumed.silent_for_ns == 9_750 * MS
    assert tcs.last_tick_ns == T0 + 500 * MS and tcs.silent_for_ns == 10_500 * MS
    assert sim.capture.messages(FEED_TOPIC, FeedStalled) == [stalled, tcs]
    assert health(sim.runtime).stalled == [TCS]


def test_an_instrument_that_resumes_and_falls_silent_again_stalls_again() -> None:
    # Arrange: INFY alone; the connection stays busy with ticks of an unsubscribed instrument
    # (rejected, but proof of life), so only INFY's own silence counts.
    sim = SimFeed(FakeClient(), instruments=(INFY,), stale_factor=3.0)
    sim.at(T0 + 500 * MS, lambda: sim.client.deliver(trade(INFY, T0)))
    for n in range(1, 40):
        ts = T0 + n * 500 * MS
        sim.at(ts, lambda ts=ts: sim.client.deliver(trade(SBIN, ts)))  # type: ignore[misc]

    # Act: INFY back once at 10.25 s, then silent again.
    sim.at(T0 + 10_250 * MS, lambda: sim.client.deliver(trade(INFY, T0 + 10 * SECOND)))
    sim.run_to(T0 + 19 * SECOND)

    # Assert: the second silence is caught as promptly as the first.
    assert sim.alerts() == [
        (T0 + 4 * SECOND, "FeedStalled", INFY),
        (T0 + 10_250 * MS, "FeedResumed", INFY),
        (T0 + 14 * SECOND, "FeedStalled", INFY),
    ]


def test_a_market_opening_beside_a_busy_one_is_watched_from_its_open() -> None:
    # Arrange: INFY expects a tick a minute and trades every 2 s; TCS (5 s expected) opens at
    # 100 s and stays silent. Its silence must be caught by its own deadline (15 s after the
    # open), not by INFY's distant one.
    opens = T0 + 100 * SECOND
    client = FakeClient()
    client.expected_interval_ns = (  # type: ignore[method-assign]
        lambda instrument: 60 * SECOND if instrument == INFY else 5 * SECOND
    )

    def market_open(instrument: str, ts_ns: int) -> bool:
        return instrument == INFY or ts_ns >= opens

    sim = SimFeed(client, market_open=market_open, stale_factor=3.0)
    for n in range(0, 70):
        ts = T0 + n * 2 * SECOND + 1
        sim.at(ts, lambda ts=ts: sim.client.deliver(trade(INFY, ts)))  # type: ignore[misc]

    # Act
    sim.run_to(opens + 30 * SECOND)

    # Assert
    assert sim.alerts() == [(opens + 16 * SECOND, "FeedStalled", TCS)]


def test_a_closed_market_raises_no_stale_alert_and_an_opening_counts_from_the_open() -> None:
    # Arrange: the market opens an hour in; nothing ever arrives.
    opens = T0 + 3600 * SECOND

    def market_open(_instrument: str, ts_ns: int) -> bool:
        return ts_ns >= opens

    sim = SimFeed(FakeClient(), market_open=market_open, stale_factor=3.0)

    # Act
    sim.run_to(opens - 1)
    before_open = sim.alerts()
    sim.run_to(opens + 10 * SECOND)

    # Assert
    assert before_open == []
    assert sim.alerts() == [(opens + 4 * SECOND, "FeedStalled", None)]
    assert sim.capture.messages(TOPIC_ALERTS)[0].last_tick_ns is None
    assert health(sim.runtime).stalled == [CONNECTION]


def test_refused_connects_back_off_exactly_as_seeded_and_a_stable_link_resets() -> None:
    # Arrange: three refusals, then a connection.
    client = FakeClient(refuse=3)
    sim = SimFeed(client, reconnect=BACKOFF, rng=random.Random(42))
    w1, w2, w3, w4 = waits(42, [1, 2, 3, 1])

    # Act
    sim.run_to(T0 + 30 * SECOND)
    up_at = T0 + w1 + w2 + w3
    sim.at(up_at + 30 * SECOND, client.drop)  # up 30 s: stable, the streak resets
    sim.run_to(up_at + 60 * SECOND)

    # Assert
    assert client.connects == [T0, T0 + w1, T0 + w1 + w2, up_at, up_at + 30 * SECOND + w4]
    lost = sim.capture.messages(FEED_TOPIC, FeedDisconnected)
    assert [(d.ts_event, d.attempt, d.retry_in_ns, d.reason) for d in lost] == [
        (T0, 1, w1, "refused"),
        (T0 + w1, 2, w2, "refused"),
        (T0 + w1 + w2, 3, w3, "refused"),
        (up_at + 30 * SECOND, 1, w4, "socket closed"),
    ]
    connected = sim.capture.messages(FEED_TOPIC, FeedConnected)
    assert [(c.ts_event, c.reconnects) for c in connected] == [
        (up_at, 0),
        (up_at + 30 * SECOND + w4, 1),
    ]
    report = health(sim.runtime)
    assert (report.reconnects, report.disconnects, report.connected) == (1, 1, True)


def test_after_a_reconnect_each_instrument_reports_its_gap_once() -> None:
    # Arrange
    client = FakeClient()
    sim = SimFeed(client, reconnect=BACKOFF, rng=random.Random(1))
    [w1] = waits(1, [1])
    sim.at(T0 + SECOND, lambda: client.deliver(trade(INFY, T0 + SECOND)))
    sim.at(T0 + 2 * SECOND, client.drop)

    # Act
    sim.at(T0 + 20 * SECOND, lambda: client.deliver(quote(INFY, T0 + 20 * SECOND)))
    sim.at(T0 + 21 * SECOND, lambda: client.deliver(trade(INFY, T0 + 21 * SECOND)))
    sim.at(T0 + 22 * SECOND, lambda: client.deliver(trade(TCS, T0 + 22 * SECOND)))
    sim.run_to(T0 + 23 * SECOND)

    # Assert
    gaps = sim.capture.messages(FEED_TOPIC, FeedGapReport)
    common: dict[str, Any] = {"feed": "fake", "disconnected_at_ns": T0 + 2 * SECOND}
    assert gaps == [
        FeedGapReport(
            ts_event=T0 + 20 * SECOND,
            ts_init=T0 + 20 * SECOND,
            instrument=INFY,
            last_before_ns=T0 + SECOND,
            first_after_ns=T0 + 20 * SECOND,
            gap_ns=19 * SECOND,
            reconnected_at_ns=T0 + 2 * SECOND + w1,
            **common,
        ),
        FeedGapReport(
            ts_event=T0 + 22 * SECOND,
            ts_init=T0 + 22 * SECOND,
            instrument=TCS,
            last_before_ns=None,
            first_after_ns=T0 + 22 * SECOND,
            gap_ns=None,
            reconnected_at_ns=T0 + 2 * SECOND + w1,
            **common,
        ),
    ]
    assert sim.capture.messages(TOPIC_ALERTS, FeedGapReport) == gaps


def test_a_connect_that_is_never_confirmed_times_out_and_its_late_news_is_ignored() -> None:
    # Arrange
    client = FakeClient(confirm=False)
    sim = SimFeed(client, connect_timeout_ns=5 * SECOND, reconnect=BACKOFF, rng=random.Random(3))
    [w1] = waits(3, [1])

    # Act
    sim.run_to(T0 + 5 * SECOND)
    first_attempt = client.events
    assert first_attempt is not None
    first_attempt.on_connected()  # too late: that attempt was given up
    sim.run_to(T0 + 5 * SECOND + w1)

    # Assert
    [lost] = sim.capture.messages(FEED_TOPIC, FeedDisconnected)
    assert lost.ts_event == T0 + 5 * SECOND and "timed out" in lost.reason
    assert sim.capture.messages(FEED_TOPIC, FeedConnected) == []
    assert client.connects == [T0, T0 + 5 * SECOND + w1]
    assert client.disconnects >= 1


def test_a_connect_that_raises_is_a_failed_attempt_not_a_crash() -> None:
    client = FakeClient(fail=1)
    sim = SimFeed(client, reconnect=BACKOFF, rng=random.Random(5))
    [w1] = waits(5, [1])

    sim.run_to(T0 + 10 * SECOND)

    [lost] = sim.capture.messages(FEED_TOPIC, FeedDisconnected)
    assert lost.reason == "connect failed: ConnectionError: no route to host"
    [connected] = sim.capture.messages(FEED_TOPIC, FeedConnected)
    assert connected.ts_event == T0 + w1
    [status] = [a for a in sim.runtime.describe().actors if a.name == "feed"]
    assert (status.incarnation, status.failures) == (1, 0)


def test_news_from_a_replaced_connection_is_ignored() -> None:
    client = FakeClient()
    sim = SimFeed(client, reconnect=BACKOFF, rng=random.Random(9))
    old = client.events
    assert old is not None
    sim.at(T0 + SECOND, client.drop)
    sim.run_to(T0 + 20 * SECOND)  # reconnected by now

    old.on_disconnected("late news")
    sim.run_to(T0 + 21 * SECOND)

    assert len(sim.capture.messages(FEED_TOPIC, FeedDisconnected)) == 1
    assert health(sim.runtime).connected


def test_a_health_report_is_published_on_the_feed_topic_periodically() -> None:
    sim = SimFeed(FakeClient(), health_interval_ns=10 * SECOND)
    sim.at(T0 + SECOND, lambda: sim.client.deliver(trade(INFY, T0), trade(INFY, T0, price=-1)))

    sim.run_to(T0 + 25 * SECOND)

    reports = sim.capture.messages(FEED_TOPIC, FeedHealthReport)
    assert [r.ts_event for r in reports] == [T0 + 10 * SECOND, T0 + 20 * SECOND]
    assert (reports[0].ticks_received, reports[0].ticks_passed) == (2, 1)
    assert reports[0].rejected["non_positive_price"] == 1


def test_rejections_are_logged_at_most_once_per_reason_per_interval() -> None:
    # Arrange
    sim = SimFeed(FakeClient(), log_interval_ns=60 * SECOND)
    nan = [trade(INFY, T0, price=math.nan) for _ in range(100)]

    # Act
    with structlog.testing.capture_logs() as logs:
        sim.at(T0 + SECOND, lambda: sim.client.deliver(*nan, trade(INFY, T0, price=-1.0)))
        sim.at(T0 + 30 * SECOND, lambda: sim.client.deliver(*nan))
        sim.at(T0 + 61 * SECOND, lambda: sim.client.deliver(nan[0]))
        sim.run_to(T0 + 62 * SECOND)

    # Assert
    lines = [(e["reason"], e["held_back"]) for e in logs if e["event"] == "tick rejected"]
    assert lines == [("non_finite", 0), ("non_positive_price", 0), ("non_finite", 199)]
    assert health(sim.runtime).rejected["non_finite"] == 201


def test_config_refuses_out_of_range_values_naming_each() -> None:
    with pytest.raises(ValueError, match=r"stale_factor must be > 0, got 0.*duplicate_window"):
        FeedConfig(stale_factor=0, duplicate_window=-1)


def test_the_last_good_trade_price_of_each_instrument_goes_on_the_price_board(
    driver: Driver,
) -> None:
    board = PriceBoard()
    client = FakeClient()
    bars, _ = start(driver, client, price_board=board)
    now = driver.runtime.now_ns()

    client.deliver(
        trade(INFY, now, price=101.0),
        trade(TCS, now, price=202.0),
        trade(INFY, now + 1, price=103.0),
        trade(INFY, now + 2, price=-1.0),  # refused: not a price
        quote(TCS, now + 1),  # a quote is not a trade
    )
    driver.wait_for(lambda: len(bars) == 1, what="the good ticks downstream")

    assert (board.last(INFY), board.last(TCS), board.last(SBIN)) == (103.0, 202.0, None)
