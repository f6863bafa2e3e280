"""The bar builders of engine.bars: alignment, closing, empty intervals, late ticks, tick,
volume and bars-from-bars (pure code; the actor is in test_bar_aggregator.py)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import cast

import pytest

from engine.bars import (
    Alignment,
    EmptyPolicy,
    LatePolicy,
    Origin,
    TickBarBuilder,
    TimeBarBuilder,
    VolumeBarBuilder,
)
from engine.bars.interval import DAY_NS, HOUR_NS, MINUTE_NS, SECOND_NS
from engine.messages.market import Bar

T0 = 1_704_067_200 * SECOND_NS  # 2024-01-01T00:00:00Z, a whole day since the epoch
NSE_OPEN = T0 + 3 * HOUR_NS + 45 * MINUTE_NS  # 09:15 IST on 2024-01-01


def builder(
    interval: str,
    *,
    origin: Origin = 0,
    empty: str = "skip",
    late: str = "drop",
    on_due: Callable[[TimeBarBuilder, int], None] | None = None,
) -> tuple[TimeBarBuilder, list[Bar]]:
    bars: list[Bar] = []
    b = TimeBarBuilder(
        "NSE:INFY",
        interval,
        bars.append,
        origin=origin,
        empty=cast(EmptyPolicy, empty),
        late=cast(LatePolicy, late),
        on_due=on_due,
    )
    return b, bars


def ohlcv(bar: Bar) -> tuple[int, int, float, float, float, float, float, int]:
    return (
        bar.ts_event,
        bar.ts_close,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.trade_count,
    )


def test_policies_are_checked() -> None:
    with pytest.raises(ValueError, match="empty-interval policy 'fill' is not one of"):
        builder("1m", empty="fill")
    with pytest.raises(ValueError, match="late-tick policy 'keep' is not one of"):
        builder("1m", late="keep")


# -- alignment --------------------------------------------------------------------------------


def test_bars_align_to_the_epoch_start_inclusive_end_exclusive() -> None:
    b, bars = builder("1m")

    b.update(T0 + 30 * SECOND_NS, 10.0, 1)
    b.update(T0 + MINUTE_NS - 1, 12.0, 3)
    assert bars == []  # still inside [T0, T0 + 1m)
    b.update(T0 + MINUTE_NS, 11.0, 2)  # exactly the next start: closes the first bar

    [bar] = bars
    assert ohlcv(bar) == (T0, T0 + MINUTE_NS, 10.0, 12.0, 10.0, 12.0, 4.0, 2)
    assert bar.vwap == pytest.approx((10 * 1 + 12 * 3) / 4)
    assert (bar.instrument, bar.interval, bar.ts_init) == ("NSE:INFY", "1m", T0 + MINUTE_NS)


def test_bars_align_to_a_fixed_session_origin() -> None:
    b, bars = builder("1h", origin=NSE_OPEN)

    b.update(NSE_OPEN + 65 * MINUTE_NS, 100.0, 1)  # 10:20 IST: in the 10:15 bar
    b.update(NSE_OPEN + 125 * MINUTE_NS, 101.0, 1)  # 11:20 IST

    assert [(bar.ts_event, bar.ts_close) for bar in bars] == [
        (NSE_OPEN + HOUR_NS, NSE_OPEN + 2 * HOUR_NS)
    ]


def test_day_bars_on_the_epoch_start_at_midnight_utc() -> None:
    b, bars = builder("1d")

    b.update(T0 + 5 * HOUR_NS, 1.0, 1)
    b.update(T0 + 23 * HOUR_NS, 3.0, 1)
    b.update(T0 + DAY_NS + HOUR_NS, 2.0, 1)
    b.flush()

    assert [ohlcv(bar)[:2] for bar in bars] == [(T0, T0 + DAY_NS), (T0 + DAY_NS, T0 + 2 * DAY_NS)]
    assert ohlcv(bars[0])[2:] == (1.0, 3.0, 1.0, 3.0, 2.0, 2)


def session_opens(*opens: int) -> Callable[[int], int]:
    """A calendar stand-in: the origin of ``ts`` is the latest of ``opens`` at or before it
    (the first one before them all)."""

    def origin(ts: int) -> int:
        return max([o for o in opens if o <= ts], default=opens[0])

    return origin


def test_day_bars_from_a_session_origin_are_labelled_by_the_open() -> None:
    b, bars = builder("1d", origin=session_opens(NSE_OPEN, NSE_OPEN + DAY_NS))

    b.update(NSE_OPEN + HOUR_NS, 100.0, 5)
    b.update(NSE_OPEN + 6 * HOUR_NS, 104.0, 5)
    b.update(NSE_OPEN + DAY_NS + HOUR_NS, 103.0, 1)
    b.flush()

    assert [(bar.ts_event, bar.ts_close, bar.trade_count) for bar in bars] == [
        (NSE_OPEN, NSE_OPEN + DAY_NS, 2),
        (NSE_OPEN + DAY_NS, NSE_OPEN + 2 * DAY_NS, 1),
    ]


def test_a_session_origin_moving_an_hour_earlier_ends_the_day_bar_at_the_next_open() -> None:
    # A daylight-saving change: the second session opens 23 h after the first.
    second = NSE_OPEN + 23 * HOUR_NS
    b, bars = builder("1d", origin=session_opens(NSE_OPEN, second))

    b.update(NSE_OPEN + HOUR_NS, 100.0, 1)
    b.update(second + 10 * MINUTE_NS, 101.0, 1)
    b.flush()

    assert [(bar.ts_event, bar.ts_close) for bar in bars] == [
        (NSE_OPEN, second),
        (second, second + DAY_NS),
    ]


def test_a_bar_never_starts_before_the_previous_one_ended() -> None:
    # The origin of a pre-open tick is the coming open, 25 h after the first one: its aligned
    # start would fall inside the first day's bar.
    second = NSE_OPEN + 25 * HOUR_NS

    def origin(ts: int) -> int:
        return NSE_OPEN if ts < NSE_OPEN + DAY_NS else second

    b, bars = builder("1d", origin=origin)
    b.update(NSE_OPEN + HOUR_NS, 100.0, 1)
    b.update(NSE_OPEN + DAY_NS + 30 * MINUTE_NS, 101.0, 1)  # before the second open
    b.update(second + MINUTE_NS, 102.0, 1)
    b.flush()

    spans = [(bar.ts_event, bar.ts_close) for bar in bars]
    assert spans == [
        (NSE_OPEN, NSE_OPEN + DAY_NS),
        (NSE_OPEN + DAY_NS, second),
        (second, second + DAY_NS),
    ]


def test_alignment_of_negative_times_floors() -> None:
    assert Alignment(MINUTE_NS).bounds(-1) == (-MINUTE_NS, 0)


# -- closing, empty intervals, late ticks ----------------------------------------------------


def test_the_clock_closes_a_quiet_bar_like_the_next_tick_would() -> None:
    by_tick, tick_bars = builder("1m")
    by_clock, clock_bars = builder("1m")
    due: list[int] = []
    by_clock = TimeBarBuilder(
        "NSE:INFY", "1m", clock_bars.append, on_due=lambda _, e: due.append(e)
    )

    for b in (by_tick, by_clock):
        b.update(T0 + SECOND_NS, 10.0, 1)
        b.update(T0 + 2 * SECOND_NS, 11.0, 1)
    by_clock.close_until(T0 + MINUTE_NS - 1)
    assert clock_bars == []  # not over yet
    by_clock.close_until(T0 + MINUTE_NS)
    by_tick.update(T0 + MINUTE_NS + SECOND_NS, 12.0, 1)

    assert [ohlcv(b) for b in clock_bars] == [ohlcv(b) for b in tick_bars]
    assert due == [T0 + MINUTE_NS]
    assert not by_clock.pending and by_tick.pending
    by_clock.close_until(T0 + 10 * MINUTE_NS)  # nothing open, "skip": nothing to do
    assert len(clock_bars) == 1


def test_empty_intervals_skip_or_flat() -> None:
    skip, skipped = builder("1m")
    flat, flats = builder("1m", empty="flat")
    for b in (skip, flat):
        b.update(T0 + SECOND_NS, 10.0, 2)
        b.update(T0 + 3 * MINUTE_NS, 12.0, 1)
        b.flush()

    assert [bar.ts_event for bar in skipped] == [T0, T0 + 3 * MINUTE_NS]
    assert [ohlcv(bar) for bar in flats[1:3]] == [
        (T0 + MINUTE_NS, T0 + 2 * MINUTE_NS, 10.0, 10.0, 10.0, 10.0, 0.0, 0),
        (T0 + 2 * MINUTE_NS, T0 + 3 * MINUTE_NS, 10.0, 10.0, 10.0, 10.0, 0.0, 0),
    ]
    assert flats[1].vwap == 10.0
    assert [ohlcv(bar) for bar in (flats[0], flats[3])] == [ohlcv(bar) for bar in skipped]


def test_flat_bars_are_emitted_on_the_clock_too() -> None:
    due: list[int] = []
    bars: list[Bar] = []
    b = TimeBarBuilder("X", "1m", bars.append, empty="flat", on_due=lambda _, end: due.append(end))
    b.close_until(T0 + 5 * MINUTE_NS)
    assert bars == []  # no last close yet: no flat bar before the first trade

    b.update(T0, 10.0, 1)
    b.close_until(T0 + 3 * MINUTE_NS + 1)

    assert [(bar.ts_event, bar.trade_count) for bar in bars] == [
        (T0, 1),
        (T0 + MINUTE_NS, 0),
        (T0 + 2 * MINUTE_NS, 0),
    ]
    assert due == [T0 + MINUTE_NS, T0 + 4 * MINUTE_NS]  # next: the quiet 4th minute
    b.update(T0 + 3 * MINUTE_NS + 2, 11.0, 1)  # the interval already waited for
    assert due == [T0 + MINUTE_NS, T0 + 4 * MINUTE_NS]


def test_late_ticks_are_counted_and_dropped_by_default() -> None:
    b, bars = builder("1m")
    b.update(T0 + MINUTE_NS, 10.0, 1)
    b.update(T0 + 30 * SECOND_NS, 99.0, 5)  # before the open interval
    b.close_until(T0 + 2 * MINUTE_NS)
    b.update(T0 + MINUTE_NS + 1, 98.0, 5)  # in the interval the clock closed

    assert b.late_ticks == 2
    assert ohlcv(bars[0])[2:] == (10.0, 10.0, 10.0, 10.0, 1.0, 1)


def test_late_ticks_folded_change_range_and_volume_not_open_or_close() -> None:
    b, bars = builder("1m", late="fold")
    b.update(T0 + MINUTE_NS, 10.0, 1)
    b.update(T0 + MINUTE_NS + 1, 11.0, 1)
    b.update(T0 + 30 * SECOND_NS, 15.0, 2)
    b.flush()

    assert b.late_ticks == 1
    assert ohlcv(bars[0])[2:] == (10.0, 15.0, 10.0, 11.0, 4.0, 3)
    assert bars[0].vwap == pytest.approx((10 + 11 + 30) / 4)


def test_vwap_is_the_close_when_there_is_no_volume() -> None:
    b, bars = builder("1s")
    b.update(T0, 10.0, 0.0)
    b.update(T0 + 1, 11.0, 0.0)
    b.flush()
    assert (bars[0].volume, bars[0].trade_count, bars[0].vwap) == (0.0, 2, 11.0)


def test_fractional_sizes() -> None:
    b, bars = builder("1m")
    b.update(T0, 100.0, 0.25)
    b.update(T0 + 1, 200.0, 0.75)
    b.flush()
    assert (bars[0].volume, bars[0].vwap) == (1.0, 175.0)


# -- tick and volume bars ---------------------------------------------------------------------


def test_tick_bars_every_n_trades() -> None:
    bars: list[Bar] = []
    b = TickBarBuilder("X", 3, bars.append)
    for i, price in enumerate([10.0, 12.0, 9.0, 11.0, 13.0]):
        b.update(T0 + i * SECOND_NS, price, 1)
    assert [ohlcv(bar) for bar in bars] == [
        (T0, T0 + 2 * SECOND_NS + 1, 10.0, 12.0, 9.0, 9.0, 3.0, 3)
    ]
    b.flush()
    assert ohlcv(bars[1]) == (
        T0 + 3 * SECOND_NS,
        T0 + 4 * SECOND_NS + 1,
        11.0,
        13.0,
        11.0,
        13.0,
        2.0,
        2,
    )
    assert bars[0].interval == "3t"


def test_volume_bars_do_not_split_the_trade_that_crosses_the_threshold() -> None:
    bars: list[Bar] = []
    b = VolumeBarBuilder("X", 10, bars.append)
    for i, size in enumerate([4.0, 4.0, 4.0, 25.0, 1.0]):
        b.update(T0 + i, 100.0 + i, size)

    assert [(bar.volume, bar.trade_count, bar.close) for bar in bars] == [
        (12.0, 3, 102.0),  # the third trade crosses 10 and goes whole into the first bar
        (25.0, 1, 103.0),  # one large trade: one bar, not two
    ]
    assert bars[0].interval == "10v"
    b.flush()
    assert bars[-1].volume == 1.0


def test_activity_bar_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="tick bars need a whole number of trades >= 1, got 0"):
        TickBarBuilder("X", 0, print)
    with pytest.raises(ValueError, match="volume bars need a volume > 0, got nan"):
        VolumeBarBuilder("X", float("nan"), print)


# -- bars from bars ---------------------------------------------------------------------------


def random_ticks(seed: int, count: int, spread_ns: int) -> list[tuple[int, float, float]]:
    rng = random.Random(seed)
    ts = T0
    ticks = []
    for _ in range(count):
        ts += rng.randrange(0, spread_ns)
        ticks.append((ts, round(rng.uniform(90, 110), 2), float(rng.randrange(1, 50))))
    return ticks


@pytest.mark.parametrize("empty", ["skip", "flat"])
def test_bars_from_bars_equal_bars_from_the_ticks(empty: str) -> None:
    ticks = random_ticks(seed=7, count=2000, spread_ns=20 * SECOND_NS)
    direct, direct_bars = builder("5m", empty=empty, origin=NSE_OPEN)
    five, five_bars = builder("5m", empty=empty, origin=NSE_OPEN)
    one = TimeBarBuilder(
        "NSE:INFY", "1m", five.update_bar, empty=cast(EmptyPolicy, empty), origin=NSE_OPEN
    )

    for ts, price, size in ticks:
        direct.update(ts, price, size)
        one.update(ts, price, size)
    direct.flush()
    one.flush()

    assert [ohlcv(b) for b in five_bars] == [ohlcv(b) for b in direct_bars]
    assert [b.vwap for b in five_bars] == pytest.approx([b.vwap for b in direct_bars], rel=1e-12)
    assert len(direct_bars) > 50


def test_a_higher_bar_closes_as_soon_as_its_last_source_bar_arrives() -> None:
    five, five_bars = builder("5m")
    one = TimeBarBuilder("X", "1m", five.update_bar)
    one.update(T0 + MINUTE_NS, 10.0, 1)
    one.update(T0 + 4 * MINUTE_NS, 11.0, 1)
    assert five_bars == []

    one.close_until(T0 + 5 * MINUTE_NS)  # the clock closes the 04 bar: the 5m one is complete

    assert [ohlcv(b) for b in five_bars] == [
        (T0, T0 + 5 * MINUTE_NS, 10.0, 11.0, 10.0, 11.0, 2.0, 2)
    ]
