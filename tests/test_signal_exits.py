"""A strategy's exit signal and a ``stop_loss_pct`` stop never close a position twice: the risk
supervisor and the order router together, under both runtimes, against a scripted venue (the
test plays the ledger, publishing positions when it chooses, so that its lag is in the
test's hands).

* the stop goes out when the entry fills, ``stop_loss_pct`` from its fill price;
* an exit signal cancels the stop first and sells what is held: never short;
* after the stop filled, an exit signal finds nothing to exit (even before the ledger says so);
* an exit signal on the entry's own bar, before the ledger reported the entry, still exits;
* with shorting allowed, an exit-only signal never opens a short.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import msgspec

from actors.order_router import order_router_spec
from actors.risk import RiskSupervisor
from engine.instruments import Instrument
from engine.messages.market import Bar
from engine.messages.orders import TOPIC_FILLS, TOPIC_ORDERS
from engine.messages.ranking import TOPIC_POSITIONS
from engine.messages.risk import TOPIC_RISK, RiskCode, RiskDenied
from engine.messages.trading import (
    OrderFilled,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionChanged,
    TradeIntent,
)
from engine.orders import DescribeOrders, OrdersReport, RateLimit, RouterConfig
from engine.risk.limits import RiskLimits
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import Capture, Driver
from tests.venue_support import JournalBook, RecordingJournal, ScriptedVenue

D = Decimal
AAA = Instrument(
    id="NSE:AAA",
    symbol="AAA",
    exchange="NSE",
    currency="INR",
    tick_size=D("0.05"),
    time_zone="UTC",
    calendar="ALWAYS",  # open at any hour: the threaded runtime runs on the wall clock
)
LIMITS = RiskLimits(
    sizing="fixed_qty",
    sizing_quantity=10,
    bracket_exits=False,  # the strategy's own exits, as backtests run
    stop_loss_pct=2.0,
    square_off={},
    entry_cutoff={},
    trading_day_tz="UTC",
    entry_timeout_s=0.0,
)
ENTRY, STOP = "in:entry", "in:entry:stop"


@dataclasses.dataclass
class Desk:
    driver: Driver
    venue: ScriptedVenue
    capture: Capture

    def intent(self, side: OrderSide, cid: str, *, exit_only: bool = False) -> None:
        self.driver.send(
            "risk",
            TradeIntent(
                ts_event=1,
                ts_init=1,
                strategy="sma_cross",
                instrument=AAA.id,
                side=side,
                strength=0.5,
                exit_only=exit_only,
                correlation_id=cid,
                score=1.0,
            ),
        )
        self.driver.settle()

    def ledger_says(self, quantity: int) -> None:
        self.driver.runtime.publish(
            TOPIC_POSITIONS,
            PositionChanged(
                ts_event=1,
                ts_init=1,
                instrument=AAA.id,
                quantity=quantity,
                avg_price=D("101.35") if quantity else D(0),
                realized_pnl=D(0),
                currency="INR",
            ),
        )
        self.driver.settle()

    def wait(self, condition: Any, what: str) -> None:
        self.driver.wait_for(condition, timeout_s=10.0, what=what)

    def status(self, client_order_id: str) -> OrderStatus | None:
        now = self.driver.runtime.now_ns()
        report = self.driver.runtime.ask("router", DescribeOrders(ts_event=now, ts_init=now))
        assert isinstance(report, OrdersReport)
        return next((v.status for v in report.orders if v.client_order_id == client_order_id), None)

    def fills_seen(self) -> int:
        return len(self.capture.messages(TOPIC_FILLS, OrderFilled))

    def denials(self) -> list[RiskDenied]:
        return self.capture.messages(TOPIC_RISK, RiskDenied)

    def held(self) -> int:
        """Units held at the venue (signed)."""
        return sum(p.quantity for p in self.venue.positions())


def start(driver: Driver, limits: RiskLimits = LIMITS) -> Desk:
    venue = ScriptedVenue()
    book = JournalBook()
    capture = Capture(driver.runtime, (TOPIC_ORDERS, TOPIC_FILLS, TOPIC_RISK))
    tree = SupervisorSpec(
        "root",
        [
            ActorSpec("journal", lambda: RecordingJournal(book)),
            order_router_spec(
                venue,
                driver.runtime,
                config=RouterConfig(rate_limit=RateLimit(orders_per_s=10_000.0, burst=10_000)),
                instruments={AAA.id: AAA}.get,
            ),
            ActorSpec(
                "risk",
                lambda: RiskSupervisor(
                    limits, {AAA.id: AAA}, equity=D("1000000"), price_topics=("bars:*",)
                ),
            ),
        ],
    )
    driver.start(tree)
    driver.settle()
    driver.runtime.publish(
        f"bars:{AAA.id}",
        Bar(
            ts_event=0,
            ts_init=0,
            instrument=AAA.id,
            interval="1d",
            ts_close=1,
            open=101.0,
            high=102.0,
            low=100.0,
            close=101.35,
            volume=1000.0,
            trade_count=10,
            vwap=101.0,
        ),
    )
    driver.settle()
    return Desk(driver, venue, capture)


def entered(desk: Desk, *, ledger: bool = True) -> None:
    """Buy 10, filled at 101.37: its stop at 99.30 (99.3426 down to the 0.05 tick)."""
    desk.intent(OrderSide.BUY, "in")
    desk.wait(lambda: desk.venue.order(ENTRY) is not None, "entry at the venue")
    desk.venue.fill(ENTRY, price="101.37")
    desk.wait(lambda: desk.venue.order(STOP) is not None, "stop at the venue")
    desk.wait(lambda: desk.fills_seen() >= 1, "entry fill published")
    if ledger:
        desk.ledger_says(10)


def test_the_stop_goes_out_when_the_entry_fills_at_the_pct_from_its_price(
    driver: Driver,
) -> None:
    desk = start(driver)
    desk.intent(OrderSide.BUY, "in")
    desk.wait(lambda: desk.venue.order(ENTRY) is not None, "entry at the venue")
    assert desk.venue.order(STOP) is None

    desk.venue.fill(ENTRY, price="101.37")
    desk.wait(lambda: desk.venue.order(STOP) is not None, "stop at the venue")

    stop = desk.venue.order(STOP)
    assert stop is not None
    assert (stop.order.order_type, stop.order.side, stop.quantity, stop.trigger_price) == (
        OrderType.STOP_MARKET,
        OrderSide.SELL,
        10,
        D("99.30"),
    )
    assert [s for s in desk.venue.submit_ids() if s.endswith(":target")] == []  # no target


def test_an_exit_signal_cancels_the_stop_first_and_never_goes_short(driver: Driver) -> None:
    desk = start(driver)
    entered(desk)

    desk.intent(OrderSide.SELL, "out", exit_only=True)
    desk.wait(lambda: desk.venue.order("out:exit") is not None, "exit at the venue")

    calls = desk.venue.calls
    assert calls.index(("cancel", STOP)) < calls.index(("submit", "out:exit"))
    exit_order = desk.venue.order("out:exit")
    assert exit_order is not None and exit_order.quantity == 10
    desk.venue.fill("out:exit", price="102.00")
    desk.wait(lambda: desk.status("out:exit") is OrderStatus.FILLED, "exit filled")
    assert desk.status(STOP) is OrderStatus.CANCELED
    assert desk.held() == 0


def test_after_the_stop_filled_an_exit_signal_finds_nothing_to_exit(driver: Driver) -> None:
    desk = start(driver)
    entered(desk)
    desk.venue.fill(STOP, price="99.30")
    desk.wait(lambda: desk.fills_seen() >= 2, "stop fill published")

    # The ledger has not reported the position flat yet: risk counts the stop's fill itself.
    desk.intent(OrderSide.SELL, "late", exit_only=True)

    [denied] = desk.denials()
    assert (denied.code, denied.correlation_id) == (RiskCode.ZERO_SIZE, "late")
    assert not any(cid.startswith("late") for cid in desk.venue.submit_ids())
    assert desk.held() == 0


def test_an_exit_signal_before_the_ledger_reported_the_entry_still_exits(
    driver: Driver,
) -> None:
    # An entry filled at a bar's open and a cross back at the same bar's close.
    desk = start(driver)
    entered(desk, ledger=False)

    desk.intent(OrderSide.SELL, "out", exit_only=True)
    desk.wait(lambda: desk.venue.order("out:exit") is not None, "exit at the venue")

    assert desk.denials() == []
    exit_order = desk.venue.order("out:exit")
    assert exit_order is not None and exit_order.quantity == 10
    assert desk.status(STOP) is OrderStatus.CANCELED


def test_an_exit_only_signal_never_opens_a_short(driver: Driver) -> None:
    desk = start(driver, msgspec.structs.replace(LIMITS, allow_short=True))

    desk.intent(OrderSide.SELL, "out", exit_only=True)

    [denied] = desk.denials()
    assert denied.code is RiskCode.ZERO_SIZE and "exit-only" in denied.message
    assert desk.venue.submit_ids() == []
