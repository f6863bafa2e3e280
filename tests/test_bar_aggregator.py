"""The BarAggregator actor: ticks to bars on bars:<instrument>, under both runtimes (driver),
and the simulated-time details (when the timer closes, flat bars, bars from bars) on a
harness."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from actors.bar_aggregator import BarAggregator, bars_topic
from engine.messages.market import Bar, QuoteTick, TickBatch, TradeTick
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import MILLISECOND, SECOND, ActorHarness, Capture, Driver

MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
T0 = 1_704_067_200 * SECOND  # 2024-01-01T00:00:00Z


def trade(instrument: str, ts: int, price: float, size: float = 1.0) -> TradeTick:
    return TradeTick(ts_event=ts, ts_init=ts, instrument=instrument, price=price, size=size)


def quote(instrument: str, ts: int) -> QuoteTick:
    return QuoteTick(
        ts_event=ts, ts_init=ts, instrument=instrument, bid=1.0, ask=2.0, bid_size=1, ask_size=1
    )


def start(driver: Driver, factory: Callable[[], BarAggregator]) -> Capture:
    capture = Capture(driver.runtime)
    driver.start(SupervisorSpec("root", [ActorSpec("bars", factory)]))
    return capture


def whole_second(ts: int) -> int:
    return ts - ts % SECOND


def shape(bar: Bar) -> tuple[str, int, int, float, float, float, float, float, int, float]:
    """A bar without its instrument and ts_init (the time it was made)."""
    return (
        bar.interval,
        bar.ts_event,
        bar.ts_close,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.trade_count,
        bar.vwap,
    )


def test_trades_become_bars_on_each_instruments_topic(driver: Driver) -> None:
    capture = start(driver, lambda: BarAggregator({"*": ["1s"]}, close_delay_ns=HOUR))
    base = whole_second(driver.runtime.now_ns()) + 10 * SECOND  # the timer stays out of it

    for message in [
        trade("A", base + 100 * MILLISECOND, 10.0, 2),
        quote("A", base + 150 * MILLISECOND),  # quotes make no bars
        trade("B", base + 200 * MILLISECOND, 50.0),
        trade("A", base + 500 * MILLISECOND, 12.0, 1),
        trade("A", base + 1200 * MILLISECOND, 11.0),  # closes A's first bar
        trade("B", base + 2500 * MILLISECOND, 51.0),  # closes B's
    ]:
        driver.send("bars", message)
    driver.wait_for(lambda: len(capture.messages(kind=Bar)) == 2, what="two bars")

    [a] = capture.messages(bars_topic("A"))
    [b] = capture.messages(bars_topic("B"))
    assert shape(a) == ("1s", base, base + SECOND, 10.0, 12.0, 10.0, 12.0, 3.0, 2, 32 / 3)
    assert (a.instrument, b.instrument, b.open, b.trade_count) == ("A", "B", 50.0, 1)
    assert driver.runtime.dead_letters == 0


def test_a_quiet_instruments_bar_is_closed_by_the_timer(driver: Driver) -> None:
    capture = start(
        driver,
        lambda: BarAggregator(
            {"A": ["1s"], "B": ["1s"]}, close_delay_ns=200 * MILLISECOND, check_every_ns=SECOND
        ),
    )
    base = whole_second(driver.runtime.now_ns()) - 5 * SECOND  # its end is already past

    driver.send("bars", trade("A", base + 100 * MILLISECOND, 10.0))
    driver.send("bars", trade("A", base + 300 * MILLISECOND, 9.0))
    driver.send("bars", trade("C", base, 1.0))  # not configured: no bars
    driver.wait_for(lambda: bool(capture.messages(bars_topic("A"))), what="A's bar")

    [bar] = capture.messages(kind=Bar)
    assert shape(bar) == ("1s", base, base + SECOND, 10.0, 10.0, 9.0, 9.0, 2.0, 2, 9.5)


def test_a_tick_batch_gives_the_bars_of_its_ticks_one_by_one(driver: Driver) -> None:
    specs = ["1s", "5s from 1s", "3t", "4v"]
    capture = start(driver, lambda: BarAggregator({"*": specs}, close_delay_ns=HOUR))
    now = driver.runtime.now_ns()
    base = now - now % (5 * SECOND) + 10 * SECOND  # on the 5s grid: a known number of bars
    prices = [10.0, 11.0, 9.5, 12.0, 12.5, 8.0, 10.0, 10.5, 11.0, 9.0, 9.5, 10.0]
    times = [base + i * 700 * MILLISECOND for i in range(len(prices))]

    for ts, price in zip(times, prices, strict=True):
        driver.send("bars", trade("X", ts, price, 1.5))
    batch: list[TradeTick | QuoteTick] = []
    for ts, price in zip(times, prices, strict=True):
        batch += [trade("Y", ts, price, 1.5), quote("Y", ts), trade("Z", ts, 1.0)]
    driver.send("bars", TickBatch(ts_event=times[-1], ts_init=times[-1], ticks=batch))

    def one_by_one() -> list[Bar]:
        return capture.messages(bars_topic("X"), Bar)

    def batched() -> list[Bar]:
        return capture.messages(bars_topic("Y"), Bar)

    # 7 closed 1s bars, 1 of 5s, 4 of 3 trades and 4 of 4 units (3 trades of 1.5 each).
    driver.wait_for(lambda: len(one_by_one()) == len(batched()) == 16, what="the bars")

    assert [shape(bar) for bar in batched()] == [shape(bar) for bar in one_by_one()]
    assert {bar.interval for bar in batched()} == {"1s", "5s", "3t", "4v"}


# -- simulated time: exactly when and what --------------------------------------------------


def harness(
    make: Callable[[], BarAggregator], made: list[BarAggregator] | None = None
) -> ActorHarness:
    def factory() -> BarAggregator:
        aggregator = make()
        if made is not None:
            made.append(aggregator)
        return aggregator

    return ActorHarness(factory, name="bars", start_ns=T0)


def published_at(h: ActorHarness) -> list[tuple[int, str, int]]:
    return [(t, m.interval, m.ts_event) for t, _, m in h.capture.items if isinstance(m, Bar)]


def test_the_timer_closes_at_the_interval_end_plus_the_delay() -> None:
    h = harness(lambda: BarAggregator({"*": ["1m"]}, close_delay_ns=500 * MILLISECOND))

    h.send(trade("A", T0 + 10 * SECOND, 10.0))
    h.advance(MINUTE + 400 * MILLISECOND)
    assert published_at(h) == []
    h.advance(100 * MILLISECOND)

    assert published_at(h) == [(T0 + MINUTE + 500 * MILLISECOND, "1m", T0)]


def test_flat_bars_for_a_quiet_instrument_come_on_the_timer() -> None:
    h = harness(lambda: BarAggregator({"*": ["1m"]}, close_delay_ns=0, empty="flat"))

    h.send(trade("A", T0 + 10 * SECOND, 10.0))
    h.advance(3 * MINUTE)

    bars = h.published(bars_topic("A"), Bar)
    assert [(b.ts_event, b.trade_count, b.close) for b in bars] == [
        (T0, 1, 10.0),
        (T0 + MINUTE, 0, 10.0),
        (T0 + 2 * MINUTE, 0, 10.0),
    ]


def test_bars_from_bars_follow_their_source_bars() -> None:
    h = harness(lambda: BarAggregator({"*": ["1m", "5m from 1m"]}, close_delay_ns=SECOND))

    h.advance(MINUTE)
    h.send(trade("A", T0 + MINUTE, 10.0))
    h.advance(3 * MINUTE)
    h.send(trade("A", T0 + 4 * MINUTE, 11.0))
    h.advance(MINUTE + SECOND)

    assert published_at(h) == [
        (T0 + 2 * MINUTE + SECOND, "1m", T0 + MINUTE),  # by the timer: the 5m bar waits
        (T0 + 5 * MINUTE + SECOND, "1m", T0 + 4 * MINUTE),  # by the timer, then at once:
        (T0 + 5 * MINUTE + SECOND, "5m", T0),
    ]


def test_late_ticks_are_counted_and_the_last_bar_kept() -> None:
    made: list[BarAggregator] = []
    h = harness(lambda: BarAggregator({"*": ["1m"]}, close_delay_ns=0), made)

    h.send(trade("A", T0, 10.0))
    h.advance(MINUTE)
    h.send(trade("A", T0 + 30 * SECOND, 99.0))  # its minute is closed: late

    [aggregator] = made
    assert aggregator.late_ticks("A") == 1
    last = aggregator.last_bar("A")
    assert last is not None and (last.ts_event, last.high) == (T0, 10.0)
    assert aggregator.last_bar("B") is None


def test_one_timer_closes_the_bars_of_a_thousand_instruments() -> None:
    made: list[BarAggregator] = []
    h = harness(lambda: BarAggregator({"*": ["1s", "5s from 1s"]}, close_delay_ns=0), made)
    instruments = [f"NSE:I{i}" for i in range(1000)]

    h.send(TickBatch(ts_event=T0, ts_init=T0, ticks=[trade(i, T0, 1.0) for i in instruments]))
    assert made[0].pending_closes() == 1000  # the 5s bars start with their first 1s bar
    h.advance(5 * SECOND)

    assert len(h.published(kind=Bar)) == 2000  # a 1s and a 5s bar each
    assert made[0].pending_closes() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bars": {"A": ["2m"]}}, "bar aggregator: bars['A']: bar spec '2m' is not an interval"),
        ({"bars": {"*": ["1m"]}, "empty": "zero"}, "bar aggregator: empty='zero' is not one of"),
        ({"bars": {"*": ["1m"]}, "close_delay_ns": -1}, "close_delay_ns must be >= 0 ns, got -1"),
    ],
)
def test_a_bad_configuration_is_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        BarAggregator(**options)  # type: ignore[arg-type]
    assert str(error.value).startswith(message)


def test_stopping_publishes_the_bars_whose_interval_is_over_and_only_those() -> None:
    h = harness(lambda: BarAggregator({"*": ["1m", "5m from 1m"]}, close_delay_ns=5 * SECOND))
    h.send(trade("A", T0 + 10 * SECOND, 10.0))
    h.advance(MINUTE + SECOND)  # the minute is over, its delay is not

    h.runtime.stop()

    assert published_at(h) == [(T0 + MINUTE + SECOND, "1m", T0)]  # not the running 5m bar
