"""``stop_loss_pct``, the pure parts: the stop price from an entry's average fill price, the
limit, the risk supervisor's plan, the bracket that places and moves the stop, the exit that
never closes more than is held, the fills the ledger has not reported, and the exit reason."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.backtest.exit_reasons import exit_reason
from engine.instruments import Instrument
from engine.messages.orders import ExitPlan, SubmitBracket
from engine.messages.trading import (
    ModifyOrder,
    OrderSide,
    OrderType,
    PositionChanged,
    SubmitOrder,
    TradeIntent,
)
from engine.orders.bracket import Bracket, bracket_problems
from engine.orders.closing import ClosePosition, closable, close_allotments, close_problems
from engine.orders.exits import percent_stop
from engine.risk.exposure import Exposure, WorkingOrder
from engine.risk.limits import RiskLimits
from engine.risk.proposals import EntryPlan, plan_entry

D = Decimal
CENT = D("0.01")


# --- the stop price ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("average", "pct", "tick", "long", "stop"),
    [
        ("100", "2", "0.01", True, "98.00"),
        ("100", "2", "0.01", False, "102.00"),
        ("101.37", "3", "0.05", True, "98.30"),  # 98.3289 down to the tick
        ("101.37", "3", "0.05", False, "104.45"),  # 104.4111 up to the tick
        ("97.17", "2", "0.01", True, "95.22"),  # 95.2266
        ("250", "1.5", "0.05", True, "246.25"),  # on the tick already: stays
        ("0.01", "50", "0.01", True, "0.01"),  # 0.005 would floor to 0: one tick
    ],
)
def test_the_stop_is_the_pct_from_the_average_rounded_away_from_the_entry(
    average: str, pct: str, tick: str, long: bool, stop: str
) -> None:
    got = percent_stop(D(average), D(pct), D(tick), long=long)

    assert got == D(stop) and str(got) == stop


def test_the_stop_is_exact_for_an_average_that_does_not_terminate() -> None:
    # 100.01 + 100.01 + 100.02 over 3 units: 100.01333...; 75 % of it is 75.01 exactly. A
    # 28-digit Decimal average gives 75.00999...98, one tick lower after the floor.
    notional = D("100.01") + D("100.01") + D("100.02")
    exact = Fraction(notional) / 3

    assert percent_stop(exact, D("25"), CENT, long=True) == D("75.01")
    assert percent_stop(notional / 3, D("25"), CENT, long=True) == D("75.00")  # why Fraction


@given(
    cents=st.integers(min_value=100, max_value=10_000_000),
    pct_hundredths=st.integers(min_value=1, max_value=9_999),
    ticks=st.sampled_from(["0.01", "0.05", "0.10", "0.25", "1"]),
)
def test_the_loss_to_the_stop_is_at_least_pct_and_less_than_a_tick_more(
    cents: int, pct_hundredths: int, ticks: str
) -> None:
    average, pct, tick = D(cents) / 100, D(pct_hundredths) / 100, D(ticks)
    for long in (True, False):
        stop = percent_stop(average, pct, tick, long=long)
        exact = average * (1 - pct / 100) if long else average * (1 + pct / 100)
        rounding = ROUND_FLOOR if long else ROUND_CEILING
        expected = max((exact / tick).to_integral_value(rounding=rounding) * tick, tick)

        assert stop == expected and stop % tick == 0
        if expected > tick:  # not held up at the one-tick floor
            assert (average - stop if long else stop - average) >= average * pct / 100
            assert abs(stop - exact) < tick


@pytest.mark.parametrize(
    ("average", "pct", "tick", "problem"),
    [
        ("100", "0", "0.01", "in \\(0, 100\\), got 0"),
        ("100", "100", "0.01", "in \\(0, 100\\), got 100"),
        ("100", "2", "0", "tick size must be > 0, got 0"),
        ("0", "2", "0.01", "average fill price must be > 0, got 0"),
    ],
)
def test_a_bad_stop_input_is_named(average: str, pct: str, tick: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        percent_stop(D(average), D(pct), D(tick), long=True)


# --- the limit ---------------------------------------------------------------------------------


def test_the_limit_is_off_by_default_and_checked_like_its_neighbours() -> None:
    assert RiskLimits().stop_loss_pct == 0.0
    assert RiskLimits(stop_loss_pct=2.5).stop_loss_pct == 2.5
    for bad in (-1.0, 100.0, 150.0, float("nan")):
        with pytest.raises(ValueError, match="stop_loss_pct"):
            RiskLimits(stop_loss_pct=bad)
    with pytest.raises(msgspec.ValidationError, match="stop_loss_pct"):
        msgspec.convert({"stop_loss_pct": 100}, RiskLimits)
    assert msgspec.convert({"stop_loss_pct": 3}, RiskLimits).stop_loss_pct == 3


# --- the supervisor's plan ---------------------------------------------------------------------

NSE = Instrument(
    id="NSE:AAA",
    symbol="AAA",
    exchange="NSE",
    currency="INR",
    tick_size=D("0.05"),
    time_zone="UTC",
    calendar="ALWAYS",
)


def entry_intent(side: OrderSide = OrderSide.BUY, *, stop: str | None = "90") -> TradeIntent:
    return TradeIntent(
        ts_event=1,
        ts_init=1,
        strategy="sma",
        instrument=NSE.id,
        side=side,
        strength=0.5,
        stop=None if stop is None else D(stop),
        target=D("120") if side is OrderSide.BUY else D("80"),
        correlation_id="c1",
        score=1.0,
    )


def planned(limits: RiskLimits, intent: TradeIntent) -> EntryPlan:
    plan = plan_entry(intent, NSE, limits, last_price=D("101.37"), equity=D("1000000"), now_ns=5)
    assert isinstance(plan, EntryPlan), plan
    return plan


def test_without_bracket_exits_the_entry_goes_with_the_pct_stop_only() -> None:
    limits = RiskLimits(risk_per_trade_pct=1.0, bracket_exits=False, stop_loss_pct=2.0)

    plan = planned(limits, entry_intent())

    assert plan.bracket.exits == ExitPlan(stop_pct=D("2.0"))
    # Sized to the stop 2 % from the price, on the tick away from it: 99.3426 -> 99.30;
    # 10,000 risked / 2.07 a unit = 4830 (the intent's own stop at 90 is not used).
    assert plan.proposal.stop == D("99.30")
    assert plan.bracket.entry.quantity == 4830


def test_with_bracket_exits_the_pct_stop_replaces_the_signals_and_the_target_stays() -> None:
    limits = RiskLimits(risk_per_trade_pct=1.0, bracket_exits=True, stop_loss_pct=2.0)

    long = planned(limits, entry_intent()).bracket.exits
    short = planned(
        msgspec.structs.replace(limits, allow_short=True), entry_intent(OrderSide.SELL, stop=None)
    )

    assert (long.stop, long.stop_pct, long.target) == (None, D("2.0"), D("120.00"))
    assert short.bracket.exits.stop_pct == D("2.0")
    assert short.proposal.stop == D("103.40")  # 103.3974 up to the tick


def test_without_stop_loss_pct_nothing_changes() -> None:
    plan = planned(RiskLimits(risk_per_trade_pct=1.0), entry_intent())

    assert plan.bracket.exits == ExitPlan(stop=D("90.00"), target=D("120.00"))


# --- the bracket -------------------------------------------------------------------------------


def bracket_of(side: OrderSide = OrderSide.BUY, **plan: Any) -> SubmitBracket:
    return SubmitBracket(
        ts_event=1,
        ts_init=1,
        entry=SubmitOrder(
            ts_event=1,
            ts_init=1,
            client_order_id="c1:entry",
            instrument=NSE.id,
            side=side,
            order_type=OrderType.MARKET,
            quantity=10,
            strategy="sma",
            correlation_id="c1",
        ),
        exits=ExitPlan(**plan),
    )


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ({"stop_pct": D("0")}, "exits.stop_pct must be in (0, 100), got 0"),
        ({"stop_pct": D("100")}, "exits.stop_pct must be in (0, 100), got 100"),
        ({"stop_pct": D("2"), "stop": D("90")}, "either exits.stop or exits.stop_pct"),
        (
            {"stop_pct": D("2"), "trailing_distance": D("1")},
            "either exits.stop_pct or a trailing stop",
        ),
    ],
)
def test_a_bad_pct_plan_is_refused_naming_it(plan: dict[str, Any], problem: str) -> None:
    assert problem in "; ".join(bracket_problems(bracket_of(**plan)))


def test_nothing_is_placed_before_the_entry_fills_then_the_stop_follows_the_average() -> None:
    bracket = Bracket(bracket_of(stop_pct=D("2")), 0, tick_size=D("0.05"))
    assert bracket.actions(1) == []

    bracket.entry_fill(4, D("101.37"), 2)
    [stop] = bracket.actions(2)

    assert isinstance(stop, SubmitOrder)
    assert (stop.client_order_id, stop.order_type, stop.side) == (
        "c1:entry:stop",
        OrderType.STOP_MARKET,
        OrderSide.SELL,
    )
    assert (stop.quantity, stop.trigger_price) == (4, D("99.30"))  # 99.3426 down

    # More fills: the stop grows to the filled units and moves to the new average's price.
    bracket.leg_working(stop.client_order_id)
    bracket.entry_fill(6, D("99.00"), 3)  # average 99.948
    [modify] = bracket.actions(3)
    assert isinstance(modify, ModifyOrder)
    assert (modify.quantity, modify.trigger_price) == (10, D("97.90"))  # 97.94904 down


def test_a_short_entrys_stop_is_above_rounded_up_and_the_user_can_move_it_for_good() -> None:
    bracket = Bracket(bracket_of(OrderSide.SELL, stop_pct=D("2")), 0, tick_size=D("0.05"))
    bracket.entry_fill(5, D("101.37"), 1)
    [stop] = bracket.actions(1)
    assert isinstance(stop, SubmitOrder)
    assert (stop.side, stop.trigger_price) == (OrderSide.BUY, D("103.40"))  # 103.3974 up
    bracket.leg_working(stop.client_order_id)

    bracket.adopt(stop.client_order_id, trigger=D("102.00"), price=None)
    bracket.entry_fill(5, D("90.00"), 2)
    [modify] = bracket.actions(2)

    assert isinstance(modify, ModifyOrder)
    assert (modify.quantity, modify.trigger_price) == (10, None)  # stays where the user put it


# --- closing without reversing -----------------------------------------------------------------


def test_an_exit_closes_at_most_what_is_held_first_orders_first() -> None:
    assert closable(10, OrderSide.SELL, 0) == 10
    assert closable(10, OrderSide.SELL, 4) == 6  # 4 already being closed
    assert closable(0, OrderSide.SELL, 0) == 0  # the stop closed it first
    assert closable(10, OrderSide.BUY, 0) == 0  # a BUY does not close a long
    assert closable(-7, OrderSide.BUY, 0) == 7

    assert close_allotments([1800, 1800, 400], 4000) == [1800, 1800, 400]
    assert close_allotments([1800, 1800, 400], 2500) == [1800, 700, 0]
    assert close_allotments([10], 0) == [0]


def test_a_close_of_several_instruments_or_sides_is_refused() -> None:
    def order(cid: str, instrument: str, side: OrderSide) -> SubmitOrder:
        return SubmitOrder(
            ts_event=1,
            ts_init=1,
            client_order_id=cid,
            instrument=instrument,
            side=side,
            order_type=OrderType.MARKET,
            quantity=1,
            strategy="s",
            correlation_id="c",
        )

    def close(*orders: SubmitOrder) -> ClosePosition:
        return ClosePosition(ts_event=1, ts_init=1, orders=list(orders), reason="exit")

    assert close_problems(close(order("a", "X", OrderSide.SELL))) == []
    assert close_problems(close()) == ["a ClosePosition needs at least one order"]
    [mixed] = close_problems(
        close(order("a", "X", OrderSide.SELL), order("b", "Y", OrderSide.SELL))
    )
    assert "several instruments: X, Y" in mixed
    [sides] = close_problems(close(order("a", "X", OrderSide.SELL), order("b", "X", OrderSide.BUY)))
    assert "both sides" in sides


# --- fills the ledger has not reported ----------------------------------------------------------


def changed(quantity: int, instrument: str = NSE.id) -> PositionChanged:
    return PositionChanged(
        ts_event=1,
        ts_init=1,
        instrument=instrument,
        quantity=quantity,
        avg_price=D("100") if quantity else D("0"),
        realized_pnl=D("0"),
        currency="INR",
    )


def test_an_exit_counts_the_fills_the_ledger_has_not_reported_yet() -> None:
    exposure = Exposure()
    exposure.add_working(
        WorkingOrder(
            client_order_id="c1:entry",
            instrument=NSE.id,
            side=OrderSide.BUY,
            remaining=10,
            price=D("100"),
            stop=None,
            is_exit=False,
        )
    )
    # A working entry may fill: an exit may find it to close.
    assert exposure.exit_units(NSE.id, OrderSide.SELL) == 10

    exposure.fill("c1:entry", "T1", 10)
    exposure.fill_seen(NSE.id, "T1", 10)
    exposure.fill_seen(NSE.id, "T1", 10)  # the same fill on the second topic
    assert exposure.position(NSE.id) == 0  # the ledger has not reported it
    assert exposure.exit_units(NSE.id, OrderSide.SELL) == 10
    assert exposure.exit_units(NSE.id, OrderSide.BUY) == 0

    exposure.apply_position(changed(10))  # the ledger holds it now: no longer counted twice
    assert exposure.exit_units(NSE.id, OrderSide.SELL) == 10

    exposure.fill_seen(NSE.id, "T2", -10)  # the stop filled; the ledger has not said so
    assert exposure.exit_units(NSE.id, OrderSide.SELL) == 0
    exposure.apply_position(changed(10))  # a restarted ledger's announcement: no fill in it
    assert exposure.exit_units(NSE.id, OrderSide.SELL) == 0
    exposure.apply_position(changed(0))
    assert exposure.exit_units(NSE.id, OrderSide.SELL) == 0
    assert exposure.position_seen(NSE.id) == 0 and exposure.instruments_seen() == set()


def test_a_flat_position_has_no_working_exits_left() -> None:
    exposure = Exposure()
    exposure.apply_position(changed(10))
    exposure.add_working(
        WorkingOrder(
            client_order_id="x1:exit",
            instrument=NSE.id,
            side=OrderSide.SELL,
            remaining=10,
            price=D("100"),
            stop=None,
            is_exit=True,
        )
    )
    assert exposure.working_exit_quantity(NSE.id) == 10

    exposure.apply_position(changed(0))  # the stop closed it; the router cut the exit to 0

    assert exposure.working_exit_quantity(NSE.id) == 0


# --- the exit reason ---------------------------------------------------------------------------


def test_the_pct_stops_exit_reads_as_stop() -> None:
    entry = "sma_cross:NSE:TEST:1615248000000000000:0:entry"

    assert exit_reason(f"{entry}:stop") == "stop"
    assert exit_reason(f"{entry}:stop.2") == "stop"
    assert exit_reason("sma_cross:NSE:TEST:1616976000000000000:0:exit") == "signal"


def test_a_restored_pct_stop_is_neither_placed_again_nor_moved() -> None:
    # After a restart the router rebuilds the bracket from its SubmitBracket and fills, then
    # takes back the stop the journal recorded.
    bracket = Bracket(bracket_of(stop_pct=D("2")), 0, tick_size=D("0.05"))
    bracket.entry_fill(10, D("101.37"), 1)
    assert bracket.restore_leg("c1:entry:stop", "stop", quantity=10, trigger=D("99.30"), price=None)
    bracket.confirm_leg("c1:entry:stop", quantity=10, trigger=D("99.30"), price=None)
    bracket.leg_working("c1:entry:stop")

    assert bracket.actions(2) == []
