"""SimMarket: deterministic synthetic ticks, the price grid, the U-shaped day, subscriptions,
failure injection and pacing under both runtimes."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

import msgspec
import pytest

from adapters.sim import SimInstrument, SimMarket, TradingHours
from engine.data_client import Tick
from engine.messages.market import AggressorSide, QuoteTick, TradeTick
from engine.simulated import SimulatedRuntime
from engine.testing import Driver
from engine.threaded import ThreadedRuntime
from engine.timezones import NSE_TZ, at_local_time
from tests.fake_feed_events import FakeFeedEvents

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
MONDAY = date(2024, 1, 8)
NSE_HOURS = TradingHours(open="09:15", close="15:15", tz=NSE_TZ, weekends=False)
OPEN = at_local_time(MONDAY, "09:15", NSE_TZ)
START = at_local_time(MONDAY, "08:00", NSE_TZ)
ACME = SimInstrument(id="NSE:ACME", start_price=1.0, tick_size=0.05, volatility=2.0)
BETA = SimInstrument(id="NSE:BETA", start_price=2500.0, tick_size=0.1, jump_probability=0.05)


def run_market(
    market: SimMarket,
    *,
    until_ns: int,
    subscribe: list[str] | None = None,
    start_ns: int = START,
) -> FakeFeedEvents:
    """Connect under the simulated runtime, subscribe, and run the clock to ``until_ns``."""
    runtime = SimulatedRuntime(start_ns=start_ns)
    events = FakeFeedEvents()
    market.connect(events, runtime)
    market.subscribe(list(market.instruments) if subscribe is None else subscribe)
    runtime.run(until_ns=until_ns)
    return events


def encoded(ticks: list[Tick]) -> bytes:
    return msgspec.json.encode(ticks)


def test_the_same_seed_gives_the_same_ticks_every_run() -> None:
    def ticks(seed: int) -> list[Tick]:
        market = SimMarket([ACME, BETA], seed=seed, ticks_per_second=20, hours=NSE_HOURS)
        return run_market(market, until_ns=OPEN + 60 * SECOND).ticks

    first, again, other = ticks(7), ticks(7), ticks(8)

    assert len(first) > 500
    assert encoded(first) == encoded(again)
    assert encoded(first) != encoded(other)


def test_an_instrument_ticks_the_same_whoever_else_is_subscribed() -> None:
    def acme(subscribe: list[str]) -> list[Tick]:
        market = SimMarket([ACME, BETA], seed=3, ticks_per_second=20)
        events = run_market(market, until_ns=START + 30 * SECOND, subscribe=subscribe)
        return [t for t in events.ticks if t.instrument == "NSE:ACME"]

    assert encoded(acme(["NSE:ACME"])) == encoded(acme(["NSE:ACME", "NSE:BETA"]))


def test_prices_stay_positive_on_the_tick_grid_with_bid_below_ask() -> None:
    # A penny stock crashing all the way (and jumping on every other tick) meets the floor.
    penny = SimInstrument(
        id="NSE:PENNY", start_price=0.5, drift=-1e6, jump_probability=0.5, jump_size=0.5
    )
    market = SimMarket([penny, BETA], seed=1, ticks_per_second=10)

    events = run_market(market, until_ns=START + 10 * 60 * SECOND)

    assert min(q.bid for q in events.quotes()) == 0.05
    ticks = {"NSE:PENNY": penny.tick_size, "NSE:BETA": BETA.tick_size}
    for tick in events.ticks:
        step = ticks[tick.instrument]
        prices = [tick.price] if isinstance(tick, TradeTick) else [tick.bid, tick.ask]
        for price in prices:
            assert price > 0
            assert math.isclose(price / step, round(price / step), rel_tol=1e-9)
        if isinstance(tick, QuoteTick):
            assert tick.bid < tick.ask
            assert tick.bid_size > 0 and tick.ask_size > 0
    assert events.trades() and events.quotes()


def test_trades_print_at_the_touch_with_increasing_trade_ids() -> None:
    market = SimMarket([BETA], seed=2, ticks_per_second=20, trade_share=0.8)

    events = run_market(market, until_ns=START + 60 * SECOND)

    trades = events.trades()
    ids = [int(t.trade_id or "") for t in trades]
    assert ids == list(range(1, len(trades) + 1))
    assert all(t.aggressor is not AggressorSide.NO_AGGRESSOR and t.size >= 1 for t in trades)
    stamps = [t.ts_event for t in events.ticks]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_volume_is_u_shaped_over_a_session() -> None:
    market = SimMarket(4, seed=5, ticks_per_second=1, hours=NSE_HOURS)

    events = run_market(market, until_ns=START + 12 * HOUR)

    by_hour = Counter((t.ts_event - OPEN) // HOUR for t in events.ticks)
    assert sorted(by_hour) == [0, 1, 2, 3, 4, 5]  # 09:15 to 15:15, nothing outside
    midday = min(by_hour[2], by_hour[3])
    assert by_hour[0] > 1.5 * midday
    assert by_hour[5] > 1.5 * midday
    assert abs(sum(by_hour.values()) - 6 * 3600) < 0.05 * 6 * 3600  # the mean rate holds


def test_no_session_on_the_weekend_unless_configured() -> None:
    saturday = at_local_time(date(2024, 1, 6), "00:00", NSE_TZ)
    market = SimMarket(2, seed=1, ticks_per_second=1, hours=NSE_HOURS)

    events = run_market(market, until_ns=saturday + 48 * HOUR, start_ns=saturday)

    assert events.ticks == []


def test_around_the_clock_by_default() -> None:
    market = SimMarket(2, seed=1, ticks_per_second=0.2)

    events = run_market(market, until_ns=START + 24 * HOUR)

    hours = {(t.ts_event - START) // HOUR for t in events.ticks}
    assert hours == set(range(24))


def test_only_subscribed_instruments_tick() -> None:
    market = SimMarket([ACME, BETA], seed=4, ticks_per_second=20)
    runtime = SimulatedRuntime(start_ns=START)
    events = FakeFeedEvents()
    market.connect(events, runtime)

    runtime.run(until_ns=START + 10 * SECOND)
    assert events.ticks == []
    market.subscribe(["NSE:BETA"])
    market.subscribe(["NSE:BETA"])  # idempotent
    runtime.run(until_ns=START + 20 * SECOND)
    seen = len(events.ticks)
    market.unsubscribe(["NSE:BETA"])
    runtime.run(until_ns=START + 30 * SECOND)

    assert seen > 50 and len(events.ticks) == seen
    assert {t.instrument for t in events.ticks} == {"NSE:BETA"}
    assert min(t.ts_event for t in events.ticks) > START + 10 * SECOND
    with pytest.raises(ValueError, match=r"unknown instruments \['NSE:NOPE'\]"):
        market.subscribe(["NSE:NOPE"])


def test_drop_after_ticks_disconnects_once_and_reconnect_resumes() -> None:
    market = SimMarket([BETA], seed=6, ticks_per_second=10, drop_after_ticks=25)
    runtime = SimulatedRuntime(start_ns=START)
    events = FakeFeedEvents()
    market.connect(events, runtime)
    market.subscribe(["NSE:BETA"])

    runtime.run(until_ns=START + 60 * SECOND)
    assert len(events.ticks) == 25
    assert events.log[-1] == "disconnected: connection dropped after 25 ticks (failure injection)"
    assert not market.connected
    dropped_at = events.ticks[-1].ts_event

    market.connect(events, runtime)  # at START + 60 s; the market moved on meanwhile
    runtime.run(until_ns=START + 90 * SECOND)

    assert events.log.count("connected") == 2
    resumed = events.ticks[25:]
    assert len(resumed) > 100  # no second drop
    assert resumed[0].ts_event > START + 60 * SECOND > dropped_at
    ids = [int(t.trade_id or "") for t in events.trades()]
    assert ids == sorted(ids) and ids[-1] > len(ids)  # the gap shows in the trade ids


def test_drop_reports_and_silences_until_connect() -> None:
    market = SimMarket(2, seed=1, ticks_per_second=10)
    runtime = SimulatedRuntime(start_ns=START)
    events = FakeFeedEvents()
    market.connect(events, runtime)
    market.subscribe(list(market.instruments))
    runtime.run(until_ns=START + 5 * SECOND)

    market.drop("venue went away")
    market.drop()  # already down: nothing more
    count = len(events.ticks)
    runtime.run(until_ns=START + 60 * SECOND)

    assert len(events.ticks) == count
    assert events.log.count("disconnected: venue went away") == 1
    assert events.log[-1] == "disconnected: venue went away"


def test_refused_connects_report_a_disconnection() -> None:
    market = SimMarket(1, refuse_connects=1)
    runtime = SimulatedRuntime(start_ns=START)
    events = FakeFeedEvents()

    market.connect(events, runtime)
    runtime.run(until_ns=START)
    market.connect(events, runtime)
    runtime.run(until_ns=START)

    assert events.log == ["disconnected: connection refused (failure injection)", "connected"]


def test_disconnect_stops_delivery_without_an_event() -> None:
    market = SimMarket(1, seed=1, ticks_per_second=10)
    runtime = SimulatedRuntime(start_ns=START)
    events = FakeFeedEvents()
    market.connect(events, runtime)
    market.subscribe(list(market.instruments))
    runtime.run(until_ns=START + 5 * SECOND)

    market.disconnect()
    market.disconnect()
    count = len(events.ticks)
    runtime.run(until_ns=START + 60 * SECOND)

    assert len(events.ticks) == count > 0
    assert not any(entry.startswith("disconnected") for entry in events.log)


def test_as_fast_as_possible_emits_batches_on_the_market_clock() -> None:
    market = SimMarket(
        3,
        seed=9,
        ticks_per_second=100,
        as_fast_as_possible=True,
        batch_size=250,
        until_ns=START + 60 * SECOND,
    )

    events = run_market(market, until_ns=START)  # the simulated clock never moves

    assert len(events.ticks) > 5000
    assert all(len(batch) == 250 for batch in events.batches[:-1])
    assert {t.ts_init for t in events.ticks} == {START}
    stamps = [t.ts_event for t in events.ticks]
    assert stamps == sorted(stamps) and stamps[-1] <= START + 60 * SECOND


def test_expected_interval_is_the_midday_gap_per_instrument() -> None:
    market = SimMarket(4, ticks_per_second=2, hours=TradingHours(edge_to_midday=4.0))

    # 0.5 ticks/s per instrument on average; midday runs at half the mean.
    assert market.expected_interval_ns("SIM:S000") == 4 * SECOND
    assert market.expected_interval_ns("SIM:NOPE") is None


def test_generated_instruments_have_names_and_prices() -> None:
    market = SimMarket(3, seed=11)

    assert list(market.instruments) == ["SIM:S000", "SIM:S001", "SIM:S002"]
    assert all(i.start_price > 0 for i in market.instruments.values())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SimMarket(0), "expected at least one instrument, got 0"),
        (lambda: SimMarket([ACME, ACME]), "expected distinct instrument ids"),
        (lambda: SimMarket(1, ticks_per_second=0), "ticks_per_second must be > 0, got 0"),
        (lambda: SimInstrument(id="X", tick_size=0), "'X': tick_size must be > 0, got 0"),
        (lambda: SimInstrument(id="X", start_price=-1), "start_price must be > 0, got -1"),
        (lambda: TradingHours(open="15:30", close="09:15"), "close '09:15' must be after open"),
        (lambda: TradingHours(tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_settings_are_refused_with_the_value(make: object, message: str) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        make()


def test_paced_delivery_under_the_threaded_runtime() -> None:
    runtime = ThreadedRuntime()
    market = SimMarket(2, seed=1, ticks_per_second=400)
    events = FakeFeedEvents()
    try:
        market.connect(events, runtime)
        market.subscribe(list(market.instruments))
        Driver(runtime).wait_for(lambda: events.tick_count() >= 40, what="40 ticks")
        market.disconnect()
    finally:
        runtime.stop()

    assert events.log[0] == "connected"
    stamps = [t.ts_event for t in events.ticks]
    assert stamps == sorted(stamps)
    assert {t.instrument for t in events.ticks} <= set(market.instruments)
