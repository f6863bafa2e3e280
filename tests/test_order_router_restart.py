"""The order router after a process restart, under both runtimes: a book handed to it as the
journal would (a :class:`RouterRebuild`), a scripted venue that kept its own orders, and a
journal stand-in.

What is restored and how the venue's answers are taken (each order asked about, never sent
twice), the exits a restored bracket still needs, a trailing stop that trails on from the
venue's trigger, the entries refused until the book was compared, and the comparison's report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from actors.order_router import order_router_spec
from actors.order_router_recovery import HOLD_REASON
from engine.backoff import Backoff
from engine.journal.views import JournaledOrder
from engine.messages.feed import TOPIC_ALERTS, ticks_topic
from engine.messages.market import TradeTick
from engine.messages.orders import (
    TOPIC_FILLS,
    TOPIC_ORDERS,
    ClosePosition,
    ExitPlan,
    SubmitBracket,
)
from engine.messages.reconciliation import (
    TOPIC_RECONCILIATION,
    OrderDifferenceKind,
    ReconciliationReport,
)
from engine.messages.trading import (
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderType,
    SubmitOrder,
)
from engine.orders import (
    DescribeOrders,
    OrdersReport,
    OrderView,
    RateLimit,
    RetryPolicy,
    RouterAnswer,
    RouterConfig,
)
from engine.orders.rebuild import RouterRebuild
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import Capture, Driver
from tests.venue_support import LOSE_BEFORE, JournalBook, RecordingJournal, ScriptedVenue

INFY = "NSE:INFY"
CID = "sma:NSE:INFY:1000:1"
ENTRY = f"{CID}:entry"
STOP, TARGET, TRAIL = f"{ENTRY}:stop", f"{ENTRY}:target", f"{ENTRY}:trail"
NO_LIMIT = RateLimit(orders_per_s=10_000.0, burst=10_000)
SLOW_RETRY = RetryPolicy(
    backoff=Backoff(initial_s=0.5, multiplier=2.0, max_s=1.0, jitter=0.0, reset_after_s=60.0),
    max_resends=2,
)
CONFIG = RouterConfig(retry=SLOW_RETRY, rate_limit=NO_LIMIT)


@dataclasses.dataclass
class Desk:
    driver: Driver
    venue: ScriptedVenue
    book: JournalBook
    capture: Capture

    def ask(self, message: Any) -> Any:
        return self.driver.runtime.ask("router", message)

    def views(self) -> dict[str, OrderView]:
        report = self.ask(DescribeOrders(ts_event=0, ts_init=0))
        assert isinstance(report, OrdersReport)
        return {view.client_order_id: view for view in report.orders}

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        self.driver.wait_for(condition, timeout_s=10.0, what=what)

    def reports(self) -> list[ReconciliationReport]:
        return self.capture.messages(TOPIC_RECONCILIATION, ReconciliationReport)

    def reconciled(self) -> ReconciliationReport:
        self.wait(lambda: bool(self.reports()), "reconciled")
        (report,) = self.reports()
        return report


def restart(driver: Driver, venue: ScriptedVenue, rebuild: RouterRebuild) -> Desk:
    """A router in a new process: its book from ``rebuild``, the venue as it was left."""
    book = JournalBook()
    capture = Capture(
        driver.runtime, (TOPIC_ORDERS, TOPIC_FILLS, TOPIC_RECONCILIATION, TOPIC_ALERTS)
    )
    driver.start(
        SupervisorSpec(
            "root",
            [
                ActorSpec("journal", lambda: RecordingJournal(book)),
                order_router_spec(venue, driver.runtime, config=CONFIG, rebuild=lambda: rebuild),
            ],
        )
    )
    return Desk(driver, venue, book, capture)


# -- what the journal and the venue hold --------------------------------------------------------


def order(
    client_order_id: str,
    side: OrderSide = OrderSide.BUY,
    quantity: int = 10,
    order_type: OrderType = OrderType.MARKET,
    *,
    price: str | None = None,
    trigger: str | None = None,
) -> SubmitOrder:
    return SubmitOrder(
        ts_event=1,
        ts_init=1,
        client_order_id=client_order_id,
        instrument=INFY,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=None if price is None else Decimal(price),
        trigger_price=None if trigger is None else Decimal(trigger),
        strategy="sma",
        correlation_id=CID,
    )


def stop_order(trigger: str = "95.00", role: str = STOP) -> SubmitOrder:
    return order(role, OrderSide.SELL, order_type=OrderType.STOP_MARKET, trigger=trigger)


def target_order() -> SubmitOrder:
    return order(TARGET, OrderSide.SELL, order_type=OrderType.LIMIT, price="110.00")


def bracket(**plan: Any) -> SubmitBracket:
    plan.setdefault("stop", Decimal("95.00"))
    plan.setdefault("target", Decimal("110.00"))
    return SubmitBracket(ts_event=1, ts_init=1, entry=order(ENTRY), exits=ExitPlan(**plan))


def journaled(source: SubmitOrder, status: OrderStatus, filled: int = 0) -> JournaledOrder:
    return JournaledOrder(
        order=source,
        status=status,
        filled_qty=filled,
        avg_price=Decimal("100.00") if filled else None,
        fees=Decimal(0),
        venue_order_id=None,
        reason=None,
        ts_created=1,
        ts_updated=1,
    )


def at_venue(venue: ScriptedVenue, *orders: SubmitOrder) -> None:
    """The venue took these orders before the restart (accepted, nobody listening)."""
    for source in orders:
        venue.submit(source)
    venue.calls.clear()
    venue.submits.clear()


def entry_filled(venue: ScriptedVenue) -> OrderFilled:
    """The bracket's entry at the venue, filled 10 at 100."""
    at_venue(venue, order(ENTRY))
    return venue.fill(ENTRY, 10, "100.00")


# -- the scenarios -----------------------------------------------------------------------------


def test_every_restored_order_is_asked_about_and_nothing_is_sent_twice(driver: Driver) -> None:
    venue = ScriptedVenue()
    fill = entry_filled(venue)
    at_venue(venue, stop_order(), target_order())
    rebuild = RouterRebuild(
        orders=[
            journaled(order(ENTRY), OrderStatus.FILLED, 10),
            journaled(stop_order(), OrderStatus.NEW),  # its OrderSubmitted was not recorded
            journaled(target_order(), OrderStatus.ACCEPTED),
        ],
        brackets=[bracket()],
        fills=[fill],
        positions={INFY: 10},
    )

    desk = restart(driver, venue, rebuild)
    report = desk.reconciled()

    assert report.in_agreement, report
    assert (report.restored_orders, report.restored_brackets) == (2, 1)
    assert sorted(venue.queries) == sorted([STOP, TARGET])
    assert venue.submits == [] and venue.modifies == []
    views = desk.views()
    assert views[STOP].status is OrderStatus.ACCEPTED and views[STOP].bracket == ENTRY
    assert views[TARGET].status is OrderStatus.ACCEPTED and views[TARGET].role == "target"
    # The stop was recorded as NEW only: the venue's word is published once.
    accepted = desk.capture.messages(TOPIC_ORDERS, OrderAccepted)
    assert [a.client_order_id for a in accepted] == [STOP]

    # The bracket is managed as before: the stop fills, the target is canceled (OCO).
    venue.fill(STOP, 10, "95.00")
    desk.wait(lambda: venue.working() == [], "the target canceled")
    desk.wait(lambda: bool(desk.capture.messages(TOPIC_FILLS)), "the fill published")
    fills = desk.capture.messages(TOPIC_FILLS, OrderFilled)
    assert [f.client_order_id for f in fills] == [STOP]
    assert [c.client_order_id for c in venue.cancels] == [TARGET]


def test_a_filled_entry_gets_the_exits_it_never_had_once(driver: Driver) -> None:
    venue = ScriptedVenue()
    fill = entry_filled(venue)
    rebuild = RouterRebuild(
        orders=[journaled(order(ENTRY), OrderStatus.FILLED, 10)],
        brackets=[bracket()],
        fills=[fill],
        positions={INFY: 10},
    )

    desk = restart(driver, venue, rebuild)
    report = desk.reconciled()
    desk.wait(lambda: sorted(venue.working()) == sorted([STOP, TARGET]), "exits placed")
    driver.settle()

    assert report.in_agreement, report
    assert sorted(venue.submit_ids()) == sorted([STOP, TARGET])
    assert [r.key for r in desk.book.records] == [STOP, TARGET]


def test_an_exit_not_at_the_venue_goes_again_and_a_stale_entry_does_not(driver: Driver) -> None:
    venue = ScriptedVenue()
    fill = entry_filled(venue)
    at_venue(venue, target_order())
    other = order("rsi:NSE:INFY:900:1:entry", quantity=5)
    rebuild = RouterRebuild(
        orders=[
            journaled(other, OrderStatus.NEW),  # recorded, never sent: the crash came first
            journaled(order(ENTRY), OrderStatus.FILLED, 10),
            journaled(stop_order(), OrderStatus.NEW),
            journaled(target_order(), OrderStatus.ACCEPTED),
        ],
        brackets=[bracket()],
        fills=[fill],
        positions={INFY: 10},
    )

    desk = restart(driver, venue, rebuild)
    report = desk.reconciled()

    assert report.in_agreement, report
    assert venue.submit_ids() == [STOP]  # same id, the only order sent
    rejected = desk.capture.messages(TOPIC_ORDERS, OrderRejected)
    assert [r.client_order_id for r in rejected] == [other.client_order_id]
    assert "not sent late" in rejected[0].reason
    desk.wait(lambda: desk.views()[STOP].status is OrderStatus.ACCEPTED, "the stop working")


def test_a_trailing_stop_trails_on_from_the_venues_trigger(driver: Driver) -> None:
    venue = ScriptedVenue()
    fill = entry_filled(venue)
    trail = stop_order("98.00", TRAIL)
    at_venue(venue, trail)
    venue.orders[TRAIL].trigger_price = Decimal("103.00")  # moved up before the crash
    rebuild = RouterRebuild(
        orders=[
            journaled(order(ENTRY), OrderStatus.FILLED, 10),
            journaled(trail, OrderStatus.ACCEPTED),  # the journal keeps the first trigger
        ],
        brackets=[bracket(stop=None, target=None, trailing_distance=Decimal("2.00"))],
        fills=[fill],
        positions={INFY: 10},
    )

    desk = restart(driver, venue, rebuild)
    assert desk.reconciled().in_agreement
    driver.settle()
    assert venue.modifies == []  # never loosened back to 98
    assert desk.views()[TRAIL].trigger_price == Decimal("103.00")

    driver.runtime.publish(
        ticks_topic(INFY),
        TradeTick(ts_event=2, ts_init=2, instrument=INFY, price=106.0, size=100.0),
    )
    desk.wait(lambda: bool(venue.modifies), "the stop moved")
    assert [m.trigger_price for m in venue.modifies] == [Decimal("104.00")]


def test_entries_wait_until_the_book_is_compared_exits_do_not(driver: Driver) -> None:
    venue = ScriptedVenue()
    held = order("manual:1", quantity=10, order_type=OrderType.LIMIT, price="90.00")
    at_venue(venue, held)
    venue.script("query", LOSE_BEFORE)  # the first answer is lost: asked again after 0.5 s
    rebuild = RouterRebuild(
        orders=[journaled(held, OrderStatus.ACCEPTED)],
        positions={INFY: 10},
    )

    desk = restart(driver, venue, rebuild)
    refused = desk.ask(
        SubmitBracket(
            ts_event=2,
            ts_init=2,
            entry=order("sma:NSE:INFY:2000:1:entry"),
            exits=ExitPlan(stop=Decimal("95.00")),
        )
    )
    also_refused = desk.ask(order("manual:2", quantity=5))  # a buy adds to the long
    exit_order = desk.ask(order("manual:3", OrderSide.SELL, quantity=5))

    assert isinstance(refused, RouterAnswer) and not refused.ok
    assert refused.reason == HOLD_REASON
    assert isinstance(also_refused, RouterAnswer) and not also_refused.ok
    assert isinstance(exit_order, RouterAnswer) and exit_order.ok
    rejected = desk.capture.messages(TOPIC_ORDERS, OrderRejected)
    assert [r.client_order_id for r in rejected] == ["sma:NSE:INFY:2000:1:entry", "manual:2"]

    report = desk.reconciled()
    after = desk.ask(order("manual:4", quantity=5))
    assert isinstance(after, RouterAnswer) and after.ok
    assert report.restored_orders == 1
    assert venue.queries == ["manual:1", "manual:1"]


def test_what_differs_is_reported_and_raised_as_an_alert(driver: Driver) -> None:
    venue = ScriptedVenue()
    at_venue(venue, order("by-hand", quantity=3, order_type=OrderType.LIMIT, price="80.00"))
    gone = order("sma:NSE:INFY:500:1:entry", quantity=5, order_type=OrderType.LIMIT, price="90")
    rebuild = RouterRebuild(orders=[journaled(gone, OrderStatus.ACCEPTED)], positions={INFY: 7})

    desk = restart(driver, venue, rebuild)
    report = desk.reconciled()

    assert [(d.kind, d.client_order_id) for d in report.order_differences] == [
        (OrderDifferenceKind.UNKNOWN_TO_ENGINE, "by-hand")
    ]
    assert [(p.engine_quantity, p.venue_quantity) for p in report.position_differences] == [(7, 0)]
    assert desk.capture.messages(TOPIC_ALERTS) == [report]
    # The restored order the venue no longer knows is ended, not left working.
    assert desk.views()[gone.client_order_id].status is OrderStatus.CANCELED
    assert venue.cancels == []


def test_a_bracket_is_recorded_whole_with_its_entry(driver: Driver) -> None:
    desk = restart(driver, ScriptedVenue(), RouterRebuild())
    desk.reconciled()
    command = SubmitBracket(ts_event=2, ts_init=2, entry=order(ENTRY), exits=ExitPlan(stop=None))
    answer = desk.ask(command)
    assert isinstance(answer, RouterAnswer) and answer.ok
    desk.wait(lambda: bool(desk.book.records), "recorded")
    assert desk.book.records[0].record == command


def test_a_close_taken_before_the_crash_cancels_again_then_goes(driver: Driver) -> None:
    """The process died after the close was recorded (the bracket released) and before its
    exit was sent: the stop's cancel may not have left. The close goes on, never twice."""
    venue = ScriptedVenue()
    fill = entry_filled(venue)
    at_venue(venue, stop_order())
    exit_id = "sma:NSE:INFY:2000:1:exit"
    close = ClosePosition(
        ts_event=1,
        ts_init=1,
        orders=[order(exit_id, OrderSide.SELL)],
        reason="exit sma:NSE:INFY:2000:1",
        only_strategy="sma",
    )
    rebuild = RouterRebuild(
        orders=[
            journaled(order(ENTRY), OrderStatus.FILLED, 10),
            journaled(stop_order(), OrderStatus.ACCEPTED),
        ],
        brackets=[bracket(target=None)],
        fills=[fill],
        positions={INFY: 10},
        released={ENTRY},
        closes=[close],
    )

    desk = restart(driver, venue, rebuild)
    desk.wait(lambda: venue.working() == [exit_id], "the stop canceled, the exit sent")
    desk.reconciled()

    assert [c.client_order_id for c in venue.cancels] == [STOP]
    assert venue.calls.index(("cancel", STOP)) < venue.calls.index(("submit", exit_id))
    assert venue.submit_ids() == [exit_id]  # no stop or target placed again
    venue.fill(exit_id, 10, "101.00")
    desk.wait(lambda: venue.positions() == [], "flat")
    driver.settle()
    assert venue.submit_ids() == [exit_id]


def test_a_released_bracket_is_not_taken_up_again(driver: Driver) -> None:
    """Issue 12, defect 1, at the router: a bracket released with its exits canceled and its
    position closed by another order places nothing after a restart."""
    venue = ScriptedVenue()
    fill = entry_filled(venue)
    rebuild = RouterRebuild(
        orders=[
            journaled(order(ENTRY), OrderStatus.FILLED, 10),
            journaled(stop_order(), OrderStatus.CANCELED),
            journaled(target_order(), OrderStatus.CANCELED),
        ],
        brackets=[bracket()],
        fills=[fill],
        positions={INFY: 10},
        released={ENTRY},
    )

    desk = restart(driver, venue, rebuild)
    desk.reconciled()
    driver.settle()

    assert venue.submits == []
