"""The paper broker: its fill rules in tick and bar mode, admission, latency, its own book.

Each test drives one broker on a real SQLite file with a manual scheduler and records what it
reports (tests/paper_support.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.paper import PaperBroker, PaperBrokerConfig, calendar_hooks
from engine.fees import IndianEquityIntradayFees, PercentageFees
from engine.messages.trading import (
    LiquiditySide,
    OrderFilled,
    OrderSide,
    OrderStatus,
    OrderStatusReport,
    OrderType,
    TimeInForce,
)
from engine.timezones import from_exchange_time
from tests.paper_support import (
    INFY,
    MINUTE,
    SECOND,
    T0,
    D,
    Venue,
    bar,
    cancel,
    instrument,
    modify,
    order,
    quote,
    trade,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
MARKET, LIMIT = OrderType.MARKET, OrderType.LIMIT
STOP, STOP_LIMIT = OrderType.STOP_MARKET, OrderType.STOP_LIMIT
MS = 1_000_000


@pytest.fixture
def venues(tmp_path: Path) -> Iterator[list[Venue]]:
    opened: list[Venue] = []
    yield opened
    for venue in opened:
        venue.close()


@pytest.fixture
def make(tmp_path: Path, venues: list[Venue]) -> Any:
    def build(**settings: Any) -> Venue:
        venue = Venue(tmp_path / f"v{len(venues)}", **settings)
        venues.append(venue)
        return venue

    return build


def fill_prices(venue: Venue) -> list[tuple[str, int, Decimal]]:
    return [(f.client_order_id, f.last_qty, f.last_price) for f in venue.events.fills()]


# --- Tick mode ----------------------------------------------------------------------------------


def test_a_market_order_fills_at_the_next_trade_not_the_last_one(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))

    venue.broker.submit(order("m1", BUY, 10))
    venue.broker.on_trade(trade(100.5, T0 + SECOND))

    assert venue.events.kinds() == ["accepted", "filled"]
    (fill,) = venue.events.fills()
    assert (fill.last_qty, fill.last_price, fill.ts_event) == (10, D("100.50"), T0 + SECOND)
    assert fill.liquidity_side is LiquiditySide.TAKER
    assert fill.trade_id == "paper-T0000000001"
    assert venue.broker.position(INFY) is not None
    assert venue.broker.cash == D("1000000.00") - D("1005.00")


def test_quote_mode_fills_market_orders_at_the_ask_or_the_bid(make: Any) -> None:
    venue = make(market_fill_price="quote")
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("b", BUY, 10))
    venue.broker.submit(order("s", SELL, 5))

    venue.broker.on_trade(trade(100.0, T0 + SECOND))  # trades do not fill market orders here
    venue.broker.on_quote(quote(99.95, 100.10, T0 + 2 * SECOND))

    assert fill_prices(venue) == [("b", 10, D("100.10")), ("s", 5, D("99.95"))]


def test_a_resting_limit_fills_only_on_a_trade_through_it_at_its_price(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(101.0, T0 - SECOND))
    venue.broker.submit(order("l1", BUY, 10, LIMIT, price="100.00"))

    venue.broker.on_trade(trade(100.0, T0 + SECOND))  # at the limit: not proof of a fill
    assert venue.events.fills() == []
    venue.broker.on_trade(trade(99.9, T0 + 2 * SECOND))

    (fill,) = venue.events.fills()
    assert (fill.last_price, fill.liquidity_side) == (D("100.00"), LiquiditySide.MAKER)


def test_a_marketable_limit_takes_the_next_trade_price(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(99.0, T0 - SECOND))
    venue.broker.submit(order("l1", BUY, 10, LIMIT, price="100.00"))

    venue.broker.on_trade(trade(99.5, T0 + SECOND))

    assert fill_prices(venue) == [("l1", 10, D("99.50"))]


def test_a_marketable_limit_the_market_ran_away_from_rests_at_its_price(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(99.0, T0 - SECOND))
    venue.broker.submit(order("l1", BUY, 10, LIMIT, price="100.00"))

    venue.broker.on_trade(trade(100.5, T0 + SECOND))
    venue.broker.on_trade(trade(99.95, T0 + 2 * SECOND))

    assert fill_prices(venue) == [("l1", 10, D("100.00"))]


def test_a_stop_fills_at_its_trigger_when_touched_and_at_the_trade_when_gapped(
    make: Any,
) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("touch", BUY, 10, STOP, trigger="101.00"))
    venue.broker.submit(order("gap", SELL, 10, STOP, trigger="99.00"))

    venue.broker.on_trade(trade(100.9, T0 + 1 * SECOND))  # neither
    venue.broker.on_trade(trade(101.0, T0 + 2 * SECOND))  # touches the buy stop
    venue.broker.on_trade(trade(98.2, T0 + 3 * SECOND))  # jumps through the sell stop

    assert fill_prices(venue) == [("touch", 10, D("101.00")), ("gap", 10, D("98.20"))]


def test_a_stop_limit_becomes_a_limit_at_its_trigger(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("in", BUY, 10, STOP_LIMIT, trigger="101.00", price="101.50"))
    venue.broker.submit(order("out", BUY, 10, STOP_LIMIT, trigger="101.00", price="101.20"))

    # Jumps to 101.40: both trigger; 101.40 is within the first limit only.
    venue.broker.on_trade(trade(101.4, T0 + SECOND))
    assert fill_prices(venue) == [("in", 10, D("101.40"))]
    # The other now rests as a limit at 101.20 and fills on a trade through it.
    venue.broker.on_trade(trade(101.15, T0 + 2 * SECOND))
    assert fill_prices(venue)[1:] == [("out", 10, D("101.20"))]


def test_slippage_moves_market_and_stop_fills_against_the_trader_not_limits(make: Any) -> None:
    venue = make(
        slippage_bps=D("10"), slippage_ticks=1, instruments={INFY: instrument(tick="0.05")}
    )
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("buy", BUY, 10))
    venue.broker.submit(order("sell", SELL, 10))
    venue.broker.submit(order("limit", SELL, 10, LIMIT, price="100.50"))

    venue.broker.on_trade(trade(100.55, T0 + SECOND))

    # buy: 100.55 x 1.001 = 100.65055, + 1 tick = 100.70055, up to the tick: 100.75
    # sell: 100.55 x 0.999 = 100.44945, - 1 tick = 100.39945, down to the tick: 100.35
    assert fill_prices(venue) == [
        ("buy", 10, D("100.75")),
        ("sell", 10, D("100.35")),
        ("limit", 10, D("100.50")),
    ]


def test_participation_splits_a_fill_over_trades_and_charges_the_order_once(
    make: Any,
) -> None:
    venue = make(
        participation=0.25, fee_model=IndianEquityIntradayFees(), starting_cash=D("3000000")
    )
    venue.broker.on_trade(trade(2500.0, T0 - SECOND))
    venue.broker.submit(order("big", BUY, 1000))

    venue.broker.on_trade(trade(2500.0, T0 + 1 * SECOND, size=1600))  # 400 of it
    venue.broker.on_trade(trade(2500.0, T0 + 2 * SECOND, size=1600))  # 400 more
    venue.broker.on_trade(trade(2500.0, T0 + 3 * SECOND, size=10_000))  # the last 200

    fills = venue.events.fills()
    assert [f.last_qty for f in fills] == [400, 400, 200]
    assert len({f.trade_id for f in fills}) == 3
    # The whole order is the 25,00,000.00 buy of tests/test_fees.py: 189.17 in all, the
    # 20.00 brokerage cap paid once.
    assert sum(f.fee for f in fills) == D("189.17")
    assert venue.events.kinds("big") == ["accepted", "filled", "filled", "filled"]
    assert venue.broker.open_orders() == []
    assert venue.broker.cash == D("3000000") - D("2500000.00") - D("189.17")


def test_participation_is_shared_by_the_orders_on_one_trade(make: Any) -> None:
    venue = make(participation=0.1)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("first", BUY, 80))
    venue.broker.submit(order("second", BUY, 80))

    venue.broker.on_trade(trade(100.0, T0 + SECOND, size=1000))  # 100 units in all

    assert [(f.client_order_id, f.last_qty) for f in venue.events.fills()] == [
        ("first", 80),
        ("second", 20),
    ]
    assert venue.events.kinds("second") == ["accepted", "filled"]
    (second,) = [r for r in venue.broker.open_orders() if r.client_order_id == "second"]
    assert (second.status, second.filled_qty) == (OrderStatus.PARTIALLY_FILLED, 20)


def test_fees_from_the_fee_model_on_every_fill(make: Any) -> None:
    venue = make(fee_model=IndianEquityIntradayFees())
    venue.broker.on_trade(trade(500.0, T0 - SECOND))
    venue.broker.submit(order("buy", BUY, 100))
    venue.broker.on_trade(trade(500.0, T0 + SECOND))
    venue.broker.submit(order("sell", SELL, 100))
    venue.broker.on_trade(trade(505.0, T0 + 2 * SECOND))

    # The contract notes worked in tests/test_fees.py: 21.02 on the buy, 32.71 on the sell.
    assert [f.fee for f in venue.events.fills()] == [D("21.02"), D("32.71")]
    assert venue.broker.cash == D("1000000.00") - D("50000.00") - D("21.02") + D("50500.00") - D(
        "32.71"
    )


def test_an_ioc_order_cancels_what_its_first_trade_does_not_fill(make: Any) -> None:
    venue = make(participation=0.5)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("ioc", BUY, 100, tif=TimeInForce.IOC))

    venue.broker.on_trade(trade(100.0, T0 + SECOND, size=60))

    assert venue.events.kinds("ioc") == ["accepted", "filled", "canceled"]
    assert venue.events.fills()[0].last_qty == 30


# --- Latency ---------------------------------------------------------------------------------


def test_ack_latency_delays_acceptance_and_trades_before_it_do_not_fill(make: Any) -> None:
    venue = make(ack_latency_ns=50 * MS)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("m", BUY, 10))
    assert venue.events.kinds() == []

    venue.clock.advance(20 * MS)
    venue.broker.on_trade(trade(100.1, T0 + 20 * MS))  # the order is still on its way
    venue.clock.advance(30 * MS)
    assert venue.events.kinds() == ["accepted"]
    assert venue.events.of("accepted")[0].ts_event == T0 + 50 * MS
    venue.broker.on_trade(trade(100.2, T0 + 60 * MS))

    assert fill_prices(venue) == [("m", 10, D("100.20"))]


def test_fill_latency_delays_the_report_and_keeps_the_orders_reports_in_order(
    make: Any,
) -> None:
    venue = make(fill_latency_ns=100 * MS, participation=0.5)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("m", BUY, 100))

    venue.broker.on_trade(trade(100.0, T0, size=100))  # 50 filled, reported at T0 + 100 ms
    venue.broker.cancel(cancel("m"))  # cancels the rest now
    assert venue.events.kinds("m") == ["accepted"]

    venue.clock.advance(100 * MS)

    assert venue.events.kinds("m") == ["accepted", "filled", "canceled"]
    assert venue.events.fills()[0].ts_event == T0  # executed then, reported later


# --- Admission -------------------------------------------------------------------------------


def test_insufficient_funds_is_a_rejection_with_the_figures(make: Any) -> None:
    venue = make(starting_cash=D("10000.00"))
    venue.broker.on_trade(trade(100.0, T0 - SECOND))

    venue.broker.submit(order("too-big", BUY, 101))
    venue.broker.submit(order("fits", BUY, 100))

    (rejected,) = venue.events.of("rejected")
    assert rejected.client_order_id == "too-big"
    assert rejected.reason == (
        "insufficient funds: the order needs 10100.00 INR of buying power, 10000.00 is available"
    )
    assert venue.events.kinds("fits") == ["accepted"]


def test_working_orders_hold_buying_power_and_exits_never_need_it(make: Any) -> None:
    venue = make(starting_cash=D("10000.00"))
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("a", BUY, 60, LIMIT, price="99.00"))  # holds 5,940.00
    venue.broker.submit(order("b", BUY, 60, LIMIT, price="99.00"))  # 4,060.00 left: refused
    assert venue.events.kinds("b") == ["rejected"]

    venue.broker.cancel(cancel("a"))
    venue.broker.submit(order("c", BUY, 100))
    venue.broker.on_trade(trade(100.0, T0 + SECOND))  # all the cash is in the position now
    venue.broker.submit(order("exit", SELL, 100, STOP, trigger="95.00"))

    assert venue.events.kinds("exit") == ["accepted"]


def test_orders_outside_the_session_are_rejected(make: Any) -> None:
    close = T0 + MINUTE
    venue = make(market_open=lambda _instrument, ts: ts < close)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("open", BUY, 1))
    venue.clock.advance_to(close)

    venue.broker.submit(order("late", BUY, 1))

    assert venue.events.kinds("open") == ["accepted"]
    (rejected,) = venue.events.of("rejected")
    assert rejected.reason == "outside the session: the market for NSE:INFY is closed"


def test_freeze_quantity_lot_size_and_unknown_instruments_are_rejected(make: Any) -> None:
    venue = make(instruments={INFY: instrument(freeze=1800, lot_size=10)})
    venue.broker.on_trade(trade(100.0, T0 - SECOND))

    venue.broker.submit(order("frozen", BUY, 1810))
    venue.broker.submit(order("odd-lot", BUY, 15))
    venue.broker.submit(order("unknown", BUY, 10, instrument="NSE:NOPE"))
    venue.broker.submit(order("ok", BUY, 1800))

    reasons = {r.client_order_id: r.reason for r in venue.events.of("rejected")}
    assert reasons == {
        "frozen": "quantity 1810 is above the freeze quantity 1800 of NSE:INFY",
        "odd-lot": "quantity 15 is not a multiple of the lot size 10 of NSE:INFY",
        "unknown": "unknown instrument 'NSE:NOPE'",
    }
    assert venue.events.kinds("ok") == ["accepted"]


def test_a_trade_with_no_fee_rate_is_rejected_before_it_can_fill(make: Any) -> None:
    venue = make(fee_model=IndianEquityIntradayFees())
    venue.broker.on_trade(trade(100.0, T0 - SECOND, instrument="MCX:GOLD"))

    venue.broker.submit(order("gold", BUY, 1, instrument="MCX:GOLD"))

    (rejected,) = venue.events.of("rejected")
    assert rejected.reason.startswith("no fee rate for this trade: ")
    assert "exchange 'MCX'" in rejected.reason


def test_a_market_order_with_no_price_seen_cannot_be_funded(make: Any) -> None:
    venue = make()
    venue.broker.submit(order("blind", BUY, 1))
    (rejected,) = venue.events.of("rejected")
    assert "no price seen for NSE:INFY yet" in rejected.reason


# --- Requests ----------------------------------------------------------------------------------


def test_a_duplicate_client_order_id_never_makes_a_second_order(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("dup", BUY, 10, LIMIT, price="99.00"))

    venue.broker.submit(order("dup", BUY, 10, LIMIT, price="99.00"))

    assert venue.events.kinds("dup") == ["accepted", "status"]
    (status,) = venue.events.of("status")
    assert (status.status, status.venue_order_id) == (OrderStatus.ACCEPTED, "paper-1")
    assert [r.client_order_id for r in venue.broker.open_orders()] == ["dup"]


def test_cancel_a_working_order_then_a_finished_one_then_an_unknown_one(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("l", BUY, 10, LIMIT, price="99.00"))

    venue.broker.cancel(cancel("l"))
    venue.broker.cancel(cancel("l"))
    venue.broker.cancel(cancel("ghost"))
    venue.broker.on_trade(trade(98.0, T0 + SECOND))  # a canceled order does not fill

    assert venue.events.kinds() == ["accepted", "canceled", "status", "unknown"]
    assert venue.events.of("status")[0].status is OrderStatus.CANCELED
    assert venue.events.fills() == []
    assert venue.broker.open_orders() == []


def test_modify_moves_a_limit_and_refuses_a_quantity_below_the_filled(make: Any) -> None:
    venue = make(participation=0.5)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("l", BUY, 100, LIMIT, price="98.00"))

    venue.broker.modify(modify("l", price="99.50"))
    venue.broker.on_trade(trade(99.0, T0 + SECOND, size=100))  # 50 at the new limit
    venue.broker.modify(modify("l", quantity=40))

    statuses: list[OrderStatusReport] = venue.events.of("status")
    assert statuses[0].price == D("99.50")
    assert fill_prices(venue) == [("l", 50, D("99.50"))]
    assert statuses[1].reason == (
        "modify refused: new quantity 40 is not above the 50 units already filled"
    )
    assert (statuses[1].quantity, statuses[1].status) == (100, OrderStatus.PARTIALLY_FILLED)


def test_modify_a_stop_trigger_and_refuse_a_price_on_a_market_order(make: Any) -> None:
    venue = make(ack_latency_ns=0)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("stop", SELL, 10, STOP, trigger="95.00"))
    venue.broker.modify(modify("stop", trigger="99.00"))
    venue.broker.on_trade(trade(98.9, T0 + SECOND))

    assert fill_prices(venue) == [("stop", 10, D("98.90"))]
    venue.broker.modify(modify("stop", trigger="97.00"))
    venue.broker.modify(modify("nobody", price="1.00"))
    assert venue.events.kinds()[-2:] == ["status", "unknown"]
    assert venue.events.of("status")[-1].status is OrderStatus.FILLED


def test_day_orders_expire_at_the_session_close_and_gtc_orders_stay(make: Any) -> None:
    close = T0 + 10 * MINUTE
    venue = make(session_close=lambda _instrument, _ts: close)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("day", BUY, 10, LIMIT, price="90.00"))
    venue.broker.submit(order("gtc", BUY, 10, LIMIT, price="90.00", tif=TimeInForce.GTC))

    venue.clock.advance_to(close)

    assert venue.events.kinds("day") == ["accepted", "expired"]
    assert venue.events.of("expired")[0].ts_event == close
    assert [r.client_order_id for r in venue.broker.open_orders()] == ["gtc"]


def test_expire_day_orders_ends_the_days_orders(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("day", BUY, 10, LIMIT, price="90.00"))

    venue.broker.expire_day_orders()

    assert venue.events.kinds("day") == ["accepted", "expired"]


def test_a_lost_submit_makes_no_order_and_a_lost_answer_leaves_one_to_query(
    make: Any,
) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.fail_next("submit")
    venue.broker.submit(order("lost", BUY, 10, LIMIT, price="99.00"))
    venue.broker.fail_next("submit", reached=True)
    venue.broker.submit(order("arrived", BUY, 10, LIMIT, price="99.00"))

    venue.broker.query_order("lost")
    venue.broker.query_order("arrived")

    assert venue.events.kinds() == ["transport_error", "transport_error", "unknown", "status"]
    assert venue.events.of("transport_error")[1][:2] == ("arrived", "submit")
    assert venue.events.of("status")[0].status is OrderStatus.ACCEPTED
    # Sent again after the query, the id is known: still one order.
    venue.broker.submit(order("arrived", BUY, 10, LIMIT, price="99.00"))
    assert [r.client_order_id for r in venue.broker.open_orders()] == ["arrived"]


def test_a_lost_cancel_answer_still_cancels(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("l", BUY, 10, LIMIT, price="99.00"))
    venue.broker.fail_next("cancel", reached=True)

    venue.broker.cancel(cancel("l"))
    venue.broker.query_order("l")

    assert venue.events.kinds("l") == ["accepted", "transport_error", "status"]
    assert venue.events.of("status")[0].status is OrderStatus.CANCELED


def test_an_unknown_operation_to_fail_names_the_allowed_ones(make: Any) -> None:
    venue = make()
    with pytest.raises(ValueError, match="unknown operation 'ping'"):
        venue.broker.fail_next("ping")


# --- The book ----------------------------------------------------------------------------------


def test_the_book_is_persisted_and_a_new_broker_resumes_it(make: Any) -> None:
    venue = make(fee_model=PercentageFees(D("0.1")))
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("entry", BUY, 10))
    venue.broker.on_trade(trade(100.0, T0))
    venue.broker.submit(order("stop", SELL, 10, STOP, trigger="95.00", tif=TimeInForce.GTC))
    cash = venue.broker.cash

    broker = venue.reopen()  # a restart: a new broker on the same file

    assert broker.cash == cash == D("1000000.00") - D("1000.00") - D("1.00")
    assert [(p.instrument, p.quantity, p.avg_price) for p in broker.positions()] == [
        (INFY, 10, D("100.00"))
    ]
    (stop,) = broker.open_orders()
    assert (stop.client_order_id, stop.status, stop.venue_order_id) == (
        "stop",
        OrderStatus.ACCEPTED,
        "paper-2",
    )
    # The resumed stop still works; ids go on from the stored counters.
    broker.on_trade(trade(94.0, T0 + SECOND))
    (fill,) = venue.events.fills()
    assert (fill.client_order_id, fill.trade_id, fill.last_price) == (
        "stop",
        "paper-T0000000002",
        D("94.00"),
    )
    broker.submit(order("again", BUY, 1))
    assert venue.events.of("accepted")[0].venue_order_id == "paper-3"
    assert broker.positions() == []
    assert [row["trade_id"] for row in broker.stored_fills()] == [
        "paper-T0000000001",
        "paper-T0000000002",
    ]


def test_a_resumed_order_that_was_on_its_way_is_taken_on_connect(make: Any) -> None:
    venue = make(ack_latency_ns=50 * MS)
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("m", BUY, 10, LIMIT, price="99.00"))

    broker = venue.reopen()  # the process died inside the latency

    assert venue.events.kinds("m") == ["accepted"]
    assert [r.status for r in broker.open_orders()] == [OrderStatus.ACCEPTED]


def test_reports_made_on_two_threads_leave_in_order_and_once(make: Any) -> None:
    venue = make()
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    ids = [f"o{i}" for i in range(40)]

    def submit_all() -> None:
        for order_id in ids:
            venue.broker.submit(order(order_id, BUY, 1))

    def trade_all() -> None:
        for i in range(200):
            venue.broker.on_trade(trade(100.0, T0 + i))

    threads = [threading.Thread(target=submit_all), threading.Thread(target=trade_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    venue.broker.on_trade(trade(100.0, T0 + 1_000))  # fills whatever came after the trades

    fills = venue.events.fills()
    assert sorted(f.client_order_id for f in fills) == sorted(ids)
    assert len({f.trade_id for f in fills}) == len(ids)
    for order_id in ids:
        assert venue.events.kinds(order_id) == ["accepted", "filled"]
    assert venue.broker.positions()[0].quantity == len(ids)


# --- Bar mode ----------------------------------------------------------------------------------


def bar_venue(make: Any, **settings: Any) -> Venue:
    venue: Venue = make(fill_on="bar", now_ns=T0 + MINUTE, **settings)
    venue.broker.on_bar(bar(T0, 100, 101, 99, 100))  # bar t, closed at T0 + 1 min
    return venue


def test_a_market_order_made_on_a_bars_close_fills_at_the_next_bars_open(make: Any) -> None:
    venue = bar_venue(make)
    venue.broker.submit(order("m", BUY, 10))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100.5, 102, 100, 101.5))

    (fill,) = venue.events.fills()
    assert (fill.last_price, fill.ts_event) == (D("100.50"), T0 + MINUTE)


def test_an_order_that_arrives_after_a_bar_opened_waits_for_the_next_bar(make: Any) -> None:
    venue = bar_venue(make)
    venue.clock.advance_to(T0 + MINUTE + 30 * SECOND)  # a time stop, in the middle of bar t+1
    venue.broker.submit(order("m", SELL, 10))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100.5, 102, 100, 101.5))
    assert venue.events.fills() == []
    venue.clock.advance_to(T0 + 3 * MINUTE)
    venue.broker.on_bar(bar(T0 + 2 * MINUTE, 101.0, 101.5, 100.5, 101))

    assert fill_prices(venue) == [("m", 10, D("101.00"))]


def test_bar_limits_fill_at_their_price_or_at_a_better_open(make: Any) -> None:
    venue = bar_venue(make)
    venue.broker.submit(order("touch", BUY, 10, LIMIT, price="99.50"))
    venue.broker.submit(order("better", BUY, 10, LIMIT, price="100.00"))
    venue.broker.submit(order("missed", BUY, 10, LIMIT, price="98.00"))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 99.8, 100.2, 99.5, 100))  # low == 99.50: touched

    assert fill_prices(venue) == [("touch", 10, D("99.50")), ("better", 10, D("99.80"))]


def test_bar_stops_fill_at_their_price_or_at_the_open_of_a_gap(make: Any) -> None:
    venue = bar_venue(make)
    venue.broker.submit(order("reached", BUY, 10, STOP, trigger="101.00"))
    venue.broker.submit(order("gapped", SELL, 10, STOP, trigger="99.50"))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 99.0, 101.5, 98.5, 101))  # opens below 99.50

    assert fill_prices(venue) == [("reached", 10, D("101.00")), ("gapped", 10, D("99.00"))]
    assert [f.ts_event for f in venue.events.fills()] == [T0 + 2 * MINUTE, T0 + MINUTE]


def test_bar_stop_limit_fills_at_its_trigger_only_within_its_limit(make: Any) -> None:
    venue = bar_venue(make)
    venue.broker.submit(order("within", BUY, 10, STOP_LIMIT, trigger="100.50", price="100.60"))
    venue.broker.submit(order("beyond", BUY, 10, STOP_LIMIT, trigger="100.50", price="100.40"))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 101, 99.8, 100.8))
    assert fill_prices(venue) == [("within", 10, D("100.50"))]
    venue.clock.advance_to(T0 + 3 * MINUTE)
    venue.broker.on_bar(bar(T0 + 2 * MINUTE, 100.9, 101, 100.3, 100.4))  # a limit now

    assert fill_prices(venue)[1:] == [("beyond", 10, D("100.40"))]


def stop_on_entry(venue: Venue, *, stop: str, target: str | None = None) -> None:
    """The router's part: once the entry fills, send its protective stop (and target)."""

    def protect(fill: OrderFilled) -> None:
        if fill.client_order_id != "entry":
            return
        venue.broker.submit(order("stop", SELL, fill.last_qty, STOP, trigger=stop))
        if target is not None:
            venue.broker.submit(order("target", SELL, fill.last_qty, LIMIT, price=target))

    venue.events.on_fill = protect


def test_a_stop_sent_when_its_entry_fills_at_the_open_is_hit_in_the_same_bar(
    make: Any,
) -> None:
    venue = bar_venue(make)
    stop_on_entry(venue, stop="98.00", target="103.00")
    venue.broker.submit(order("entry", BUY, 10))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    # Entry at the open, 100; the bar goes to 104 and to 97 in some order: the stop is hit
    # (the pessimistic reading), the target is not booked in the entry's bar.
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 104, 97, 99))

    assert fill_prices(venue) == [("entry", 10, D("100.00")), ("stop", 10, D("98.00"))]
    assert venue.events.fills()[1].ts_event == T0 + 2 * MINUTE
    assert venue.broker.positions() == []
    assert [r.client_order_id for r in venue.broker.open_orders()] == ["target"]


def test_a_stop_sent_after_the_entry_bar_was_handled_still_meets_its_rest(make: Any) -> None:
    venue = bar_venue(make)
    venue.broker.submit(order("entry", BUY, 10))
    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 100.5, 97, 99))

    # The router's message arrives later, but before the next bar.
    venue.broker.submit(order("stop", SELL, 10, STOP, trigger="98.00"))

    assert fill_prices(venue) == [("entry", 10, D("100.00")), ("stop", 10, D("98.00"))]


def test_a_stop_the_entry_bar_does_not_reach_waits_for_the_next_bar(make: Any) -> None:
    venue = bar_venue(make)
    stop_on_entry(venue, stop="98.00")
    venue.broker.submit(order("entry", BUY, 10))
    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 101, 98.5, 99))
    assert fill_prices(venue) == [("entry", 10, D("100.00"))]

    venue.clock.advance_to(T0 + 3 * MINUTE)
    venue.broker.on_bar(bar(T0 + 2 * MINUTE, 97.5, 98, 97, 97.5))  # gaps through it

    assert fill_prices(venue)[1:] == [("stop", 10, D("97.50"))]


def test_a_stop_already_through_the_entry_price_fills_at_the_entry_price(make: Any) -> None:
    venue = bar_venue(make)
    stop_on_entry(venue, stop="100.50")  # above the long's entry: through it at once
    venue.broker.submit(order("entry", BUY, 10))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 101, 99.9, 100))

    assert fill_prices(venue) == [("entry", 10, D("100.00")), ("stop", 10, D("100.00"))]


def test_a_short_entrys_stop_is_a_buy_stop_checked_against_the_high(make: Any) -> None:
    venue = bar_venue(make)

    def protect(fill: OrderFilled) -> None:
        if fill.client_order_id == "short":
            venue.broker.submit(order("cover", BUY, 10, STOP, trigger="102.00"))

    venue.events.on_fill = protect
    venue.broker.submit(order("short", SELL, 10))
    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 102.5, 99, 101))

    assert fill_prices(venue) == [("short", 10, D("100.00")), ("cover", 10, D("102.00"))]


def test_an_unrelated_stop_does_not_meet_the_rest_of_the_bar(make: Any) -> None:
    venue = bar_venue(make)
    venue.broker.submit(order("entry", BUY, 10, correlation_id="sig-1"))
    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 100.5, 97, 99))

    venue.broker.submit(order("other", SELL, 10, STOP, trigger="98.00", correlation_id="sig-2"))

    assert fill_prices(venue) == [("entry", 10, D("100.00"))]


def test_bar_participation_fills_a_share_of_the_bars_volume_per_bar(make: Any) -> None:
    venue = bar_venue(make, participation=0.01)
    venue.broker.submit(order("m", BUY, 150))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 101, 99, 100, volume=10_000))  # 100 of it
    venue.clock.advance_to(T0 + 3 * MINUTE)
    venue.broker.on_bar(bar(T0 + 2 * MINUTE, 100.5, 101, 99, 100, volume=10_000))

    assert fill_prices(venue) == [("m", 100, D("100.00")), ("m", 50, D("100.50"))]


def test_a_bar_without_trades_fills_nothing_and_other_intervals_are_ignored(make: Any) -> None:
    venue = bar_venue(make, bar_interval="1m")
    venue.broker.submit(order("m", BUY, 10))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 100, 100, 100, volume=0, trades=0))
    venue.broker.on_bar(bar(T0 + MINUTE, 100.2, 101, 99, 100, interval="5m"))
    assert venue.events.fills() == []
    venue.clock.advance_to(T0 + 3 * MINUTE)
    venue.broker.on_bar(bar(T0 + 2 * MINUTE, 100.3, 101, 99, 100))

    assert fill_prices(venue) == [("m", 10, D("100.30"))]


def test_bar_mode_ignores_ticks_for_fills(make: Any) -> None:
    venue = bar_venue(make)
    venue.broker.submit(order("m", BUY, 10))
    venue.broker.on_trade(trade(100.0, T0 + MINUTE + 1))
    assert venue.events.fills() == []


# --- Config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fill_on": "minute"}, 'fill_on: expected "tick" or "bar", got \'minute\''),
        ({"participation": 1.5}, "participation: expected within (0, 1], got 1.5"),
        ({"leverage": D("0")}, "leverage: expected > 0, got 0"),
        ({"ack_latency_ns": -1}, "latency: expected >= 0 ns"),
    ],
)
def test_config_names_the_bad_value(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        PaperBrokerConfig(**settings)
    assert message in str(raised.value)


def test_using_the_broker_before_connect_is_a_programming_error(tmp_path: Path) -> None:
    broker = PaperBroker(PaperBrokerConfig(database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db"))
    try:
        with pytest.raises(RuntimeError, match="connect"):
            broker.submit(order("o", BUY, 1))
    finally:
        broker.close()


def test_bar_mode_slippage_applies_to_open_and_stop_fills(make: Any) -> None:
    venue = bar_venue(make, slippage_ticks=2, instruments={INFY: instrument(tick="0.05")})
    stop_on_entry(venue, stop="98.00")
    venue.broker.submit(order("entry", BUY, 10))

    venue.clock.advance_to(T0 + 2 * MINUTE)
    venue.broker.on_bar(bar(T0 + MINUTE, 100, 101, 97, 99))

    # entry 100.00 + 2 ticks; the stop 98.00 - 2 ticks
    assert fill_prices(venue) == [("entry", 10, D("100.10")), ("stop", 10, D("97.90"))]


# --- Sessions and start-up -----------------------------------------------------------------------


def test_calendar_hooks_answer_from_the_instruments_calendar(make: Any) -> None:
    lookup = {INFY: instrument()}.get
    market_open, session_close = calendar_hooks(lookup)
    close = from_exchange_time("2025-01-15 15:30", "Asia/Kolkata")

    assert market_open(INFY, T0) is True  # 10:45 IST on a Wednesday
    assert market_open(INFY, close) is False
    assert market_open(INFY, from_exchange_time("2030-01-15 10:45", "Asia/Kolkata")) is False
    assert session_close(INFY, T0) == close

    venue = make(
        instruments={INFY: instrument()}, market_open=market_open, session_close=session_close
    )
    venue.broker.on_trade(trade(100.0, T0 - SECOND))
    venue.broker.submit(order("day", BUY, 10, LIMIT, price="90.00"))
    venue.clock.advance_to(close)
    assert venue.events.kinds("day") == ["accepted", "expired"]


def test_market_data_before_connect_only_marks_prices(tmp_path: Path) -> None:
    first = Venue(tmp_path)
    url = f"sqlite+aiosqlite:///{first.path}"
    first.broker.on_trade(trade(100.0, T0 - SECOND))
    first.broker.submit(order("l", BUY, 10, LIMIT, price="99.00"))
    first.close()
    resumed = PaperBroker(PaperBrokerConfig(database_url=url))
    try:
        resumed.on_trade(trade(98.0, T0 + SECOND))  # the feed may start first: no crash
        assert [r.status for r in resumed.open_orders()] == [OrderStatus.ACCEPTED]
    finally:
        resumed.close()
