"""The pure order package: the state table (every event in every status), a tracked order's
fills, client order ids, the rate limit's bucket, and the exit arithmetic."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.messages.orders import ExitPlan, PartialTarget, SubmitBracket
from engine.messages.trading import OrderSide, OrderStatus, OrderType, SubmitOrder
from engine.orders import (
    Bracket,
    FillResult,
    OrderEventKind,
    TokenBucket,
    TrackedOrder,
    bracket_problems,
    entry_order_id,
    exit_order_id,
    fill_kept,
    next_status,
    target_role,
)
from engine.orders.exits import TrailingStop, round_to_tick, target_allotments

S = OrderStatus
E = OrderEventKind
PARTIAL, COMPLETE = "fill", "fill (completes)"

# The whole table, written out by hand: status -> event -> next status; absent = refused.
EXPECTED: dict[OrderStatus, dict[object, OrderStatus]] = {
    S.NEW: {E.SUBMIT: S.SUBMITTED, E.CANCEL: S.CANCELED, E.REJECT: S.REJECTED},
    S.SUBMITTED: {
        E.SUBMIT: S.SUBMITTED,
        E.ACCEPT: S.ACCEPTED,
        PARTIAL: S.PARTIALLY_FILLED,
        COMPLETE: S.FILLED,
        E.CANCEL: S.CANCELED,
        E.EXPIRE: S.EXPIRED,
        E.REJECT: S.REJECTED,
    },
    S.ACCEPTED: {
        PARTIAL: S.PARTIALLY_FILLED,
        COMPLETE: S.FILLED,
        E.CANCEL: S.CANCELED,
        E.EXPIRE: S.EXPIRED,
    },
    S.PARTIALLY_FILLED: {
        PARTIAL: S.PARTIALLY_FILLED,
        COMPLETE: S.FILLED,
        E.CANCEL: S.CANCELED,
        E.EXPIRE: S.EXPIRED,
    },
    S.FILLED: {},
    S.CANCELED: {},
    S.EXPIRED: {},
    S.REJECTED: {},
}
EVENTS: list[object] = [
    E.SUBMIT,
    E.ACCEPT,
    PARTIAL,
    COMPLETE,
    E.CANCEL,
    E.EXPIRE,
    E.REJECT,
]


@pytest.mark.parametrize(
    ("status", "event"),
    list(itertools.product(list(OrderStatus), EVENTS)),
    ids=lambda v: getattr(v, "value", str(v)),
)
def test_every_transition_is_allowed_or_refused_as_the_table_says(
    status: OrderStatus, event: object
) -> None:
    if event in (PARTIAL, COMPLETE):
        got = next_status(status, E.FILL, completes=event == COMPLETE)
    else:
        assert isinstance(event, OrderEventKind)
        got = next_status(status, event)

    assert got == EXPECTED[status].get(event)


@pytest.mark.parametrize("status", list(OrderStatus), ids=lambda s: s.value)
def test_a_late_fill_counts_unless_the_order_was_never_sent_or_was_rejected(
    status: OrderStatus,
) -> None:
    assert fill_kept(status) is (status not in (S.NEW, S.REJECTED))


# -- a tracked order ---------------------------------------------------------------------------


def order(quantity: int = 10, **extra: object) -> SubmitOrder:
    fields: dict[str, object] = {
        "ts_event": 1,
        "ts_init": 1,
        "client_order_id": "s:NSE:INFY:1:1",
        "instrument": "NSE:INFY",
        "side": OrderSide.BUY,
        "order_type": OrderType.LIMIT,
        "quantity": quantity,
        "price": Decimal("100.00"),
        "strategy": "s",
        "correlation_id": "s:NSE:INFY:1:1",
    }
    fields.update(extra)
    return SubmitOrder(**fields)  # type: ignore[arg-type]


def working(quantity: int = 10) -> TrackedOrder:
    tracked = TrackedOrder(order(quantity), 1)
    assert tracked.apply(E.SUBMIT, 2)
    assert tracked.apply(E.ACCEPT, 3)
    return tracked


def test_partial_fills_add_up_with_an_exact_average_price() -> None:
    tracked = working(10)

    statuses = []
    for trade_id, qty, price in (("T1", 3, "100.05"), ("T2", 4, "100.10"), ("T3", 3, "99.95")):
        assert tracked.fill(trade_id, qty, Decimal(price), 4) is FillResult.APPLIED
        statuses.append(tracked.status)

    assert statuses == [S.PARTIALLY_FILLED, S.PARTIALLY_FILLED, S.FILLED]
    assert tracked.filled_qty == 10
    # (3 x 100.05 + 4 x 100.10 + 3 x 99.95) / 10, to the last digit
    assert tracked.avg_fill_price == Decimal("100.04")


def test_a_fill_reported_twice_counts_once() -> None:
    tracked = working(10)
    tracked.fill("T1", 3, Decimal("100"), 4)

    assert tracked.fill("T1", 3, Decimal("100"), 5) is FillResult.DUPLICATE

    assert tracked.filled_qty == 3
    assert tracked.status is S.PARTIALLY_FILLED


def test_a_fill_after_a_cancel_counts_and_the_order_stays_canceled() -> None:
    tracked = working(10)
    tracked.fill("T1", 3, Decimal("100"), 4)
    assert tracked.apply(E.CANCEL, 5, "user")

    assert tracked.fill("T2", 2, Decimal("100"), 6) is FillResult.LATE

    assert (tracked.status, tracked.filled_qty) == (S.CANCELED, 5)


@pytest.mark.parametrize("status_events", [(), (E.SUBMIT, E.REJECT)])
def test_a_fill_of_an_order_never_sent_or_rejected_is_refused(
    status_events: tuple[OrderEventKind, ...],
) -> None:
    tracked = TrackedOrder(order(), 1)
    for event in status_events:
        tracked.apply(event, 2)

    assert tracked.fill("T1", 3, Decimal("100"), 4) is FillResult.REFUSED

    assert tracked.filled_qty == 0
    assert tracked.refused == 1


def test_a_refused_event_changes_nothing_and_is_counted() -> None:
    tracked = working(10)
    tracked.fill("T1", 10, Decimal("100"), 4)

    assert not tracked.apply(E.ACCEPT, 5)
    assert not tracked.apply(E.CANCEL, 5)

    assert tracked.status is S.FILLED
    assert tracked.refused == 2
    assert tracked.updated_ns == 4


def test_an_execution_beyond_the_quantity_raises_the_quantity() -> None:
    tracked = working(5)
    tracked.fill("T1", 5, Decimal("100"), 4)

    assert tracked.fill("T2", 3, Decimal("100"), 5) is FillResult.LATE

    assert (tracked.filled_qty, tracked.quantity, tracked.status) == (8, 8, S.FILLED)


# -- ids -------------------------------------------------------------------------------------


def test_client_order_ids_are_derived_from_the_trade_and_the_exit_role() -> None:
    entry = entry_order_id("sma:NSE:INFY:1700000000000000000:7")

    assert entry == "sma:NSE:INFY:1700000000000000000:7"
    assert exit_order_id(entry, "stop") == f"{entry}:stop"
    assert exit_order_id(entry, target_role(2)) == f"{entry}:target2"
    assert exit_order_id(entry, "stop", 2) == f"{entry}:stop.2"
    with pytest.raises(ValueError, match="correlation id"):
        entry_order_id("")


# -- the rate limit's bucket ---------------------------------------------------------------------


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=3)
    t0 = 1_000_000_000

    assert [bucket.try_take(t0) for _ in range(4)] == [True, True, True, False]
    assert bucket.available_at(t0) == t0 + 500_000_000
    assert not bucket.try_take(t0 + 499_999_999)
    assert bucket.try_take(t0 + 500_000_000)
    # an idle bucket refills to its burst and no further
    later = t0 + 60_000_000_000
    assert [bucket.try_take(later) for _ in range(4)] == [True, True, True, False]


@given(
    rate=st.floats(min_value=0.5, max_value=50.0),
    burst=st.integers(min_value=1, max_value=10),
    gaps=st.lists(st.integers(min_value=0, max_value=400_000_000), min_size=1, max_size=200),
)
def test_the_bucket_never_lets_more_through_than_burst_plus_rate_times_time(
    rate: float, burst: int, gaps: list[int]
) -> None:
    bucket = TokenBucket(rate, burst)
    now = 0
    taken: list[int] = []
    for gap in gaps:
        now += gap
        if bucket.try_take(now):
            taken.append(now)

    for i, start in enumerate(taken):
        for j in range(i, len(taken)):
            window_s = (taken[j] - start) / 1e9
            assert j - i + 1 <= burst + rate * window_s + 1e-9


# -- exit arithmetic -------------------------------------------------------------------------


def test_targets_take_their_fraction_rounded_down_and_the_last_takes_the_rest() -> None:
    thirds = [Decimal("0.33"), Decimal("0.33"), Decimal("0.34")]

    assert target_allotments(thirds, 10) == [3, 3, 4]
    assert target_allotments([Decimal("0.29"), Decimal("0.71")], 100) == [29, 71]
    assert target_allotments([Decimal("0.5"), Decimal("0.5")], 7, lot_size=2) == [2, 5]
    # fractions below 1: the rest is the stop's (a runner)
    assert target_allotments([Decimal("0.5")], 7) == [3]


def test_a_trailing_stop_follows_the_best_price_and_never_loosens() -> None:
    trail = TrailingStop(long=True, distance=Decimal("2"), tick=Decimal("0.05"))

    assert trail.start(Decimal("100")) == Decimal("98.00")
    assert trail.observe(Decimal("101.03")) == Decimal("99.00")  # 99.03 rounded down to the tick
    assert trail.observe(Decimal("100.50")) is None  # lower: the stop stays
    assert trail.observe(Decimal("101.04")) is None  # higher, but not a tick further
    assert trail.observe(Decimal("103")) == Decimal("101.00")
    assert trail.trigger == Decimal("101.00")


def test_a_short_trailing_stop_sits_above_and_comes_down() -> None:
    trail = TrailingStop(long=False, distance=Decimal("1.5"), tick=Decimal("0.05"), floor=None)

    assert trail.start(Decimal("50")) == Decimal("51.50")
    assert trail.observe(Decimal("49.02")) == Decimal("50.55")  # 50.52 rounded up
    assert trail.observe(Decimal("49.50")) is None


def test_round_to_tick() -> None:
    assert round_to_tick(Decimal("99.03"), Decimal("0.05"), down=True) == Decimal("99.00")
    assert round_to_tick(Decimal("99.03"), Decimal("0.05"), down=False) == Decimal("99.05")


# -- bracket plans ---------------------------------------------------------------------------


def bracket(plan: ExitPlan, **extra: object) -> SubmitBracket:
    return SubmitBracket(ts_event=1, ts_init=1, entry=order(), exits=plan, **extra)  # type: ignore[arg-type]


def test_a_bracket_plan_that_cannot_be_managed_is_refused_with_every_reason() -> None:
    plan = ExitPlan(
        stop=Decimal("-1"),
        target=Decimal("110"),
        partial_targets=[PartialTarget(price=Decimal("105"), fraction=0.7)] * 2,
        trailing_atr_multiple=2.0,
    )

    problems = bracket_problems(bracket(plan, entry_timeout_ns=0))

    assert len(problems) == 5, problems
    with pytest.raises(ValueError, match="not both"):
        Bracket(bracket(plan), 0)


def test_a_bracket_sizes_its_exits_to_what_filled() -> None:
    b = Bracket(bracket(ExitPlan(stop=Decimal("95"), target=Decimal("110"))), 0)
    assert b.actions(0) == []  # nothing filled, nothing to protect

    b.entry_fill(4, Decimal("100"), 10)
    placed = b.actions(10)

    assert [(c.client_order_id, c.quantity) for c in placed] == [  # type: ignore[union-attr]
        ("s:NSE:INFY:1:1:stop", 4),
        ("s:NSE:INFY:1:1:target", 4),
    ]
    assert b.actions(10) == []  # asked twice without news: nothing new


def test_an_atr_trailing_stop_starts_its_multiple_of_the_atr_behind_the_entry() -> None:
    plan = ExitPlan(trailing_atr_multiple=2.0, atr=0.75, target=Decimal("110"))
    b = Bracket(bracket(plan), 0, tick_size=Decimal("0.05"))

    b.entry_fill(10, Decimal("100.00"), 10)
    placed = b.actions(10)

    stop = placed[0]
    assert isinstance(stop, SubmitOrder)
    assert (stop.client_order_id, stop.trigger_price) == ("s:NSE:INFY:1:1:trail", Decimal("98.50"))
    assert b.observe_price(Decimal("101.00"))
    assert b.actions(11) == []  # not acknowledged yet: moved once it is
    b.leg_working(stop.client_order_id)
    moved = b.actions(12)
    assert [(m.client_order_id, m.trigger_price) for m in moved] == [  # type: ignore[union-attr]
        (stop.client_order_id, Decimal("99.50"))
    ]
