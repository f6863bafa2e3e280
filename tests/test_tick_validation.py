"""Tick validation: the table of reasons, the tape's memory, and the fast path agreeing with
the pure checks."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.messages.market import QuoteTick, TradeTick
from engine.tick_validation import (
    NO_TICK_YET,
    RejectReason,
    TickTape,
    quote_problem,
    trade_problem,
)

T0 = 1_704_167_100_000_000_000
LATEST = T0 + 2_000_000_000  # the feed's clock plus its skew
NAN = math.nan
INF = math.inf
BAND = (90.0, 110.0)


def trade(price: float = 100.0, size: float = 10.0, ts: int = T0, **extra: Any) -> TradeTick:
    return TradeTick(
        ts_event=ts, ts_init=ts, instrument="NSE:INFY", price=price, size=size, **extra
    )


def quote(
    bid: float = 99.5,
    ask: float = 100.5,
    bid_size: int = 5,
    ask_size: int = 7,
    ts: int = T0,
) -> QuoteTick:
    return QuoteTick(
        ts_event=ts,
        ts_init=ts,
        instrument="NSE:INFY",
        bid=bid,
        ask=ask,
        bid_size=bid_size,
        ask_size=ask_size,
    )


def tape_after(*ticks: Any, band: tuple[float, float] | None = BAND) -> TickTape:
    """A tape that has already admitted ``ticks`` (each must pass)."""
    tape = TickTape("NSE:INFY", duplicate_window=8, band=band)
    for tick in ticks:
        assert tape.admit(tick, LATEST) is None, tick
    return tape


# (what came before, the tick, the reason it is dropped)
BAD: list[tuple[str, tuple[Any, ...], Any, RejectReason]] = [
    ("nan price", (), trade(price=NAN), RejectReason.NON_FINITE),
    ("infinite price", (), trade(price=INF), RejectReason.NON_FINITE),
    ("nan size", (), trade(size=NAN), RejectReason.NON_FINITE),
    ("infinite size", (), trade(size=INF), RejectReason.NON_FINITE),
    ("-infinite size", (), trade(size=-INF), RejectReason.NON_FINITE),
    ("zero price", (), trade(price=0.0), RejectReason.NON_POSITIVE_PRICE),
    ("negative price", (), trade(price=-100.0), RejectReason.NON_POSITIVE_PRICE),
    ("negative size", (), trade(size=-1.0), RejectReason.NEGATIVE_SIZE),
    ("trade in the future", (), trade(ts=LATEST + 1), RejectReason.IN_FUTURE),
    ("trade out of order", (trade(ts=T0 + 5),), trade(ts=T0 + 4), RejectReason.OUT_OF_ORDER),
    ("trade id repeated", (trade(trade_id="a"),), trade(trade_id="a"), RejectReason.DUPLICATE),
    ("old repeat", (trade(ts=T0 + 5, trade_id="a"),), trade(trade_id="a"), RejectReason.DUPLICATE),
    ("above the band", (), trade(price=110.01), RejectReason.OUTSIDE_BAND),
    ("below the band", (), trade(price=89.99), RejectReason.OUTSIDE_BAND),
    ("nan bid", (), quote(bid=NAN), RejectReason.NON_FINITE),
    ("infinite ask", (), quote(ask=INF), RejectReason.NON_FINITE),
    ("nan quote size", (), quote(bid_size=NAN), RejectReason.NON_FINITE),  # type: ignore[arg-type]
    ("zero bid", (), quote(bid=0.0), RejectReason.NON_POSITIVE_PRICE),
    ("negative ask", (), quote(bid=-2.0, ask=-1.0), RejectReason.NON_POSITIVE_PRICE),
    ("negative bid size", (), quote(bid_size=-1), RejectReason.NEGATIVE_SIZE),
    ("negative ask size", (), quote(ask_size=-1), RejectReason.NEGATIVE_SIZE),
    ("crossed quote", (), quote(bid=100.6, ask=100.5), RejectReason.CROSSED_QUOTE),
    ("quote in the future", (), quote(ts=LATEST + 1), RejectReason.IN_FUTURE),
    ("quote out of order", (quote(ts=T0 + 5),), quote(ts=T0 + 4), RejectReason.OUT_OF_ORDER),
    ("ask above the band", (), quote(ask=111.0), RejectReason.OUTSIDE_BAND),
    ("bid below the band", (), quote(bid=80.0), RejectReason.OUTSIDE_BAND),
    ("not a tick", (), "100.0", RejectReason.NOT_A_TICK),
]


@pytest.mark.parametrize(
    ("before", "tick", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_each_bad_tick_is_dropped_with_its_reason(
    before: tuple[Any, ...], tick: Any, reason: RejectReason
) -> None:
    # Arrange
    tape = tape_after(*before)
    last = (tape.last_trade_ns, tape.last_quote_ns)

    # Act
    verdict = tape.admit(tick, LATEST)

    # Assert: named, and the tape did not move
    assert verdict is reason
    assert (tape.last_trade_ns, tape.last_quote_ns) == last


GOOD: list[tuple[str, tuple[Any, ...], Any]] = [
    ("a trade", (), trade()),
    ("a trade with an id", (), trade(trade_id="t1")),
    ("a zero-size trade", (), trade(size=0.0)),
    ("a trade at the band's floor", (), trade(price=90.0)),
    ("a trade at the band's ceiling", (), trade(price=110.0)),
    ("a trade at the skew limit", (), trade(ts=LATEST)),
    ("two trades in one ns", (trade(trade_id="a"),), trade(trade_id="b")),
    ("a trade after a newer quote", (quote(ts=T0 + 9),), trade(ts=T0)),
    ("a quote", (), quote()),
    ("a locked quote", (), quote(bid=100.0, ask=100.0)),
    ("an empty side", (), quote(bid_size=0)),
    ("a quote after a newer trade", (trade(ts=T0 + 9),), quote(ts=T0)),
]


@pytest.mark.parametrize(("before", "tick"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_good_ticks_pass_and_are_remembered(before: tuple[Any, ...], tick: Any) -> None:
    tape = tape_after(*before)

    assert tape.admit(tick, LATEST) is None

    assert tape.last_event_ns == max([tick.ts_event, *(b.ts_event for b in before)])


def test_no_band_lets_any_positive_price_through() -> None:
    tape = tape_after(band=None)

    assert tape.admit(trade(price=1e-300), LATEST) is None
    assert tape.admit(trade(price=1e300), LATEST) is None
    assert tape.admit(trade(price=INF), LATEST) is RejectReason.NON_FINITE


def test_a_field_of_the_wrong_type_raises_and_leaves_the_tape_alone() -> None:
    # The feed counts what raises as malformed; the tape must not half-remember it.
    tape = tape_after()
    bad = trade(price="100")  # type: ignore[arg-type]

    with pytest.raises(TypeError):
        tape.admit(bad, LATEST)

    assert tape.last_event_ns is None
    assert tape.admit(trade(), LATEST) is None


def test_a_timestamp_no_comparison_can_place_is_malformed() -> None:
    tape = tape_after()

    assert tape.admit(trade(ts=NAN), LATEST) is RejectReason.MALFORMED  # type: ignore[arg-type]


def test_trade_ids_are_forgotten_only_beyond_the_window() -> None:
    # Arrange: a window of 8 remembers at least the last 8 ids (at most 16).
    tape = tape_after()
    for n in range(8):
        assert tape.admit(trade(trade_id=f"id{n}"), LATEST) is None

    # Act / Assert: the first 8 are still known...
    assert tape.admit(trade(trade_id="id0"), LATEST) is RejectReason.DUPLICATE
    for n in range(8, 16):
        assert tape.admit(trade(trade_id=f"id{n}"), LATEST) is None
    assert tape.admit(trade(trade_id="id8"), LATEST) is RejectReason.DUPLICATE
    # ...and after 16 more, the oldest are forgotten: memory stays bounded.
    assert tape.admit(trade(trade_id="id0"), LATEST) is None
    assert len(tape._recent) + len(tape._older) <= 16


def test_a_later_trade_reusing_an_id_is_a_new_trade() -> None:
    # A repeat carries its original's stamp; venues that number trades afresh each session
    # reuse ids on later trades, which are not repeats.
    tape = tape_after(trade(trade_id="a"))

    assert tape.admit(trade(ts=T0 + 1, trade_id="a"), LATEST) is None
    assert tape.admit(trade(ts=T0 + 1, trade_id="a"), LATEST) is RejectReason.DUPLICATE
    assert tape.admit(trade(ts=T0, trade_id="a"), LATEST) is RejectReason.DUPLICATE


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=4), st.sampled_from(["a", "b", "c", "d"])),
        max_size=40,
    )
)
def test_the_tape_drops_exactly_the_repeats_and_the_late(trades: list[tuple[int, str]]) -> None:
    # Coarse stamps (many trades share one) exercise the slow path and its lookup set; the
    # reference remembers every id, and the window is larger than the input, so they agree.
    tape = TickTape("NSE:INFY", duplicate_window=64)
    seen: set[str] = set()
    last = NO_TICK_YET

    for offset, trade_id in trades:
        ts = T0 + offset
        if trade_id in seen and ts <= last:
            expected: RejectReason | None = RejectReason.DUPLICATE
        elif ts < last:
            expected = RejectReason.OUT_OF_ORDER
        else:
            expected, last = None, ts
            seen.add(trade_id)

        assert tape.admit(trade(ts=ts, trade_id=trade_id), LATEST) is expected, (ts, trade_id)


def test_a_zero_window_remembers_nothing() -> None:
    tape = TickTape("NSE:INFY", duplicate_window=0)

    assert tape.admit(trade(trade_id="a"), LATEST) is None
    assert tape.admit(trade(trade_id="a"), LATEST) is None


def test_a_bad_band_is_refused_naming_it_and_the_old_band_kept() -> None:
    tape = tape_after()

    with pytest.raises(ValueError, match=r"NSE:INFY.*\(110.0, 90.0\)"):
        tape.set_band((110.0, 90.0))
    with pytest.raises(ValueError, match="nan"):
        tape.set_band((NAN, 90.0))

    assert tape.admit(trade(price=120.0), LATEST) is RejectReason.OUTSIDE_BAND


def test_subclasses_of_the_tick_types_are_judged_alike() -> None:
    class VenueTrade(TradeTick, frozen=True, kw_only=True):
        pass

    tape = tape_after()
    tick = VenueTrade(ts_event=T0, ts_init=T0, instrument="NSE:INFY", price=100.0, size=1.0)

    assert tape.admit(tick, LATEST) is None
    assert tape.admit(trade(price=-1.0), LATEST) is RejectReason.NON_POSITIVE_PRICE


# -- the fast path agrees with the pure checks ------------------------------------------------

prices = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 89.99, 90.0, 100.0, 110.0, 110.01]),
)
times = st.integers(min_value=T0 - 10, max_value=LATEST + 10)
ids = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))


@given(
    price=prices,
    size=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0)),
    ts=times,
    trade_id=ids,
    last=times,
)
def test_tape_and_pure_check_agree_on_trades(
    *, price: float, size: float, ts: int, trade_id: str | None, last: int
) -> None:
    tape = TickTape("NSE:INFY", duplicate_window=8, band=BAND)
    tape.last_trade_ns = last
    seen = {"a"}
    for known in seen:
        tape._recent.append(known)
    tick = trade(price=price, size=size, ts=ts, trade_id=trade_id)

    expected = trade_problem(tick, last, LATEST, tape.low, tape.high, seen=seen)

    assert tape.admit(tick, LATEST) is expected
    assert (tape.last_trade_ns == ts) if expected is None else (tape.last_trade_ns == last)


@given(
    bid=prices,
    ask=prices,
    bid_size=st.integers(min_value=-2, max_value=2),
    ask_size=st.integers(min_value=-2, max_value=2),
    ts=times,
    last=st.one_of(times, st.just(NO_TICK_YET)),
)
def test_tape_and_pure_check_agree_on_quotes(
    *, bid: float, ask: float, bid_size: int, ask_size: int, ts: int, last: int
) -> None:
    tape = TickTape("NSE:INFY", band=BAND)
    tape.last_quote_ns = last
    tick = quote(bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size, ts=ts)

    expected = quote_problem(tick, last, LATEST, tape.low, tape.high)

    assert tape.admit(tick, LATEST) is expected
    if expected is None:
        assert math.isfinite(bid) and 0 < bid <= ask and bid >= BAND[0] and ask <= BAND[1]
