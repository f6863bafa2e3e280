"""The order router under both runtimes, against a scripted venue and a journal stand-in.

Write-ahead, the state machine with partial fills, duplicates, transport errors, the rate
limit, brackets (partial fills, OCO, partial targets, trailing stop, time stop, entry timeout,
a lost stop), cancel all, modify and describe. Times are kept short so that the threaded
runtime's real timers finish quickly; nothing asserts on wall time.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog

from actors.journal import Journal
from actors.order_router import order_router_spec
from actors.order_router_outbox import Outbox
from engine.backoff import Backoff
from engine.journal.records import JournalMode
from engine.journal.writer import JournalWriter
from engine.messages.feed import ticks_topic
from engine.messages.market import Bar, TradeTick
from engine.messages.orders import (
    TOPIC_FILLS,
    TOPIC_ORDERS,
    CancelAllOrders,
    ExitPlan,
    PartialTarget,
    SubmitBracket,
)
from engine.messages.trading import (
    CancelOrder,
    ModifyOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    SubmitOrder,
    fills_topic,
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
from engine.orders.closing import ClosePosition
from engine.spec import ActorSpec, SupervisorSpec
from engine.store import Database
from engine.testing import MILLISECOND, SECOND, Capture, Driver
from tests.venue_support import (
    HOLD,
    LOSE_AFTER,
    LOSE_BEFORE,
    JournalBook,
    RecordingJournal,
    ReleaseWrites,
    ScriptedVenue,
)

INFY = "NSE:INFY"
CID = "sma:NSE:INFY:1000:1"
FAST_RETRY = RetryPolicy(
    backoff=Backoff(initial_s=0.02, multiplier=2.0, max_s=0.1, jitter=0.0, reset_after_s=60.0),
    max_resends=2,
)
NO_LIMIT = RateLimit(orders_per_s=10_000.0, burst=10_000)


@dataclasses.dataclass
class Desk:
    """A running router with its venue, its journal's book and what it published."""

    driver: Driver
    venue: ScriptedVenue
    book: JournalBook
    capture: Capture

    def ask(self, message: Any) -> Any:
        return self.driver.runtime.ask("router", message)

    def now(self) -> int:
        return self.driver.runtime.now_ns()

    def published(self, kind: type, topic: str = TOPIC_ORDERS) -> list[Any]:
        return self.capture.messages(topic, kind)

    def wait(self, condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
        self.driver.wait_for(condition, timeout_s=timeout_s, what=what)

    def views(self) -> dict[str, OrderView]:
        report = self.ask(DescribeOrders(ts_event=self.now(), ts_init=self.now()))
        assert isinstance(report, OrdersReport)
        return {view.client_order_id: view for view in report.orders}

    def report(self) -> OrdersReport:
        report = self.ask(DescribeOrders(ts_event=self.now(), ts_init=self.now()))
        assert isinstance(report, OrdersReport)
        return report

    def status(self, client_order_id: str) -> OrderStatus:
        return self.views()[client_order_id].status

    def wait_status(self, client_order_id: str, status: OrderStatus) -> None:
        self.wait(lambda: self.status(client_order_id) is status, f"{client_order_id} {status}")

    def wait_at_venue(self, client_order_id: str) -> None:
        self.wait(lambda: self.venue.order(client_order_id) is not None, f"{client_order_id} sent")


def start(
    driver: Driver,
    *,
    venue: ScriptedVenue | None = None,
    config: RouterConfig | None = None,
) -> Desk:
    venue = venue or ScriptedVenue()
    book = JournalBook()
    capture = Capture(driver.runtime, (TOPIC_ORDERS, TOPIC_FILLS, fills_topic(INFY)))
    config = config or RouterConfig(retry=FAST_RETRY, rate_limit=NO_LIMIT)
    tree = SupervisorSpec(
        "root",
        [
            ActorSpec("journal", lambda: RecordingJournal(book)),
            order_router_spec(venue, driver.runtime, config=config),
        ],
    )
    driver.start(tree)
    return Desk(driver, venue, book, capture)


def limit_order(
    client_order_id: str = CID,
    quantity: int = 10,
    price: str = "100.00",
    side: OrderSide = OrderSide.BUY,
) -> SubmitOrder:
    return SubmitOrder(
        ts_event=1,
        ts_init=1,
        client_order_id=client_order_id,
        instrument=INFY,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=quantity,
        price=Decimal(price),
        strategy="sma",
        correlation_id=client_order_id,
    )


def market_order(client_order_id: str, instrument: str, quantity: int = 5) -> SubmitOrder:
    return SubmitOrder(
        ts_event=1,
        ts_init=1,
        client_order_id=client_order_id,
        instrument=instrument,
        side=OrderSide.SELL,
        order_type=OrderType.MARKET,
        quantity=quantity,
        strategy="rsi",
        correlation_id=client_order_id,
    )


def bracket(
    quantity: int = 10, *, entry_timeout_ns: int | None = None, **plan: Any
) -> SubmitBracket:
    plan.setdefault("stop", Decimal("95.00"))
    return SubmitBracket(
        ts_event=1,
        ts_init=1,
        entry=limit_order(quantity=quantity),
        exits=ExitPlan(**plan),
        entry_timeout_ns=entry_timeout_ns,
    )


STOP, TARGET = f"{CID}:stop", f"{CID}:target"


def submitted(desk: Desk, order: Any) -> RouterAnswer:
    answer = desk.ask(order)
    assert isinstance(answer, RouterAnswer)
    assert answer.ok, answer.reason
    return answer


# -- write-ahead -------------------------------------------------------------------------------


def test_an_order_reaches_the_venue_only_after_the_journal_recorded_it(driver: Driver) -> None:
    desk = start(driver)
    desk.book.hold = True

    answer = submitted(desk, limit_order())
    desk.wait(lambda: desk.book.record_keys() == [CID], "the order sent to the journal")
    driver.settle()

    assert answer.order is not None and answer.order.status is OrderStatus.NEW
    assert desk.venue.submits == []
    assert desk.published(OrderSubmitted) == []

    driver.send("journal", ReleaseWrites())
    desk.wait(lambda: bool(desk.published(OrderAccepted)), "accepted")

    assert desk.venue.submit_ids() == [CID]
    assert desk.book.records[0].record == limit_order()
    assert desk.book.records[0].reply_to == "router"
    submitted_event = desk.published(OrderSubmitted)[0]
    accepted = desk.published(OrderAccepted)[0]
    assert (submitted_event.correlation_id, accepted.correlation_id) == (CID, CID)
    assert accepted.strategy == "sma"  # the router's, not the venue's words
    assert desk.status(CID) is OrderStatus.ACCEPTED


def test_an_order_the_journal_could_not_record_never_reaches_the_venue(driver: Driver) -> None:
    desk = start(driver)
    desk.book.fail[CID] = 1

    submitted(desk, limit_order())
    desk.wait(lambda: bool(desk.published(OrderRejected)), "rejected")
    driver.settle()

    assert desk.venue.submits == []
    rejected = desk.published(OrderRejected)[0]
    assert "journal" in rejected.reason and rejected.correlation_id == CID
    assert desk.status(CID) is OrderStatus.REJECTED
    assert desk.report().counts.journal_failures == 1


def test_an_exit_the_journal_could_not_record_is_held_and_recorded_again(
    driver: Driver,
) -> None:
    """Issue 12: while the journal cannot write, exits are held and retried, not refused (an
    entry is refused: above)."""
    desk = start(driver)
    desk.book.fail[STOP] = 2  # the stop's write-ahead fails twice
    submitted(desk, bracket(10))
    desk.wait_status(CID, OrderStatus.ACCEPTED)

    desk.venue.fill(CID, price="100.00")
    desk.wait(lambda: desk.book.record_keys().count(STOP) == 3, "recorded on the third try")
    desk.wait(lambda: desk.venue.working() == [STOP], "the stop sent once recorded")

    assert desk.published(OrderRejected) == []
    assert [s.client_order_id for s in desk.venue.submits] == [CID, STOP]
    assert desk.report().counts.journal_failures == 2


def test_a_fill_is_recorded_before_it_is_published(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.book.hold = True

    desk.venue.fill(CID, 4, "99.95")
    desk.wait(lambda: "T1" in desk.book.record_keys(), "the fill sent to the journal")
    driver.settle()

    assert desk.published(OrderFilled, TOPIC_FILLS) == []
    assert desk.views()[CID].filled_qty == 4  # the order knows; the ledger does not yet

    driver.send("journal", ReleaseWrites())
    desk.wait(lambda: bool(desk.published(OrderFilled, TOPIC_FILLS)), "fill published")

    fill = desk.published(OrderFilled, TOPIC_FILLS)[0]
    assert (fill.trade_id, fill.last_qty, fill.correlation_id) == ("T1", 4, CID)
    assert desk.published(OrderFilled, fills_topic(INFY)) == [fill]
    assert desk.published(OrderFilled, TOPIC_ORDERS) == [fill]


def test_a_fill_the_journal_failed_to_record_is_written_again_and_published_once(
    driver: Driver,
) -> None:
    desk = start(driver)
    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.book.fail["T1"] = 2

    desk.venue.fill(CID)
    desk.wait(lambda: bool(desk.published(OrderFilled, TOPIC_FILLS)), "fill published")
    driver.settle()

    assert desk.book.record_keys().count("T1") == 3
    assert len(desk.published(OrderFilled, TOPIC_FILLS)) == 1


# -- the state machine through the router ------------------------------------------------------


def test_partial_fills_move_the_order_to_filled_with_an_exact_average(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)

    desk.venue.fill(CID, 3, "100.05")
    desk.wait_status(CID, OrderStatus.PARTIALLY_FILLED)
    desk.venue.fill(CID, 4, "100.10")
    desk.venue.fill(CID, 3, "99.95")
    desk.wait_status(CID, OrderStatus.FILLED)

    view = desk.views()[CID]
    assert (view.filled_qty, view.avg_fill_price) == (10, Decimal("100.04"))
    desk.wait(lambda: len(desk.published(OrderFilled, TOPIC_FILLS)) == 3, "three fills")
    assert [f.trade_id for f in desk.published(OrderFilled, TOPIC_FILLS)] == ["T1", "T2", "T3"]


def test_a_duplicated_broker_event_changes_nothing(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    fill = desk.venue.fill(CID, 4)
    desk.wait(lambda: bool(desk.published(OrderFilled, TOPIC_FILLS)), "fill published")
    accepted = desk.venue.reported[0]
    before = desk.views()[CID]

    desk.venue.report_again(fill)
    desk.venue.report_again(accepted)
    desk.wait(lambda: desk.report().counts.duplicate_fills == 1, "duplicate counted")
    desk.wait(lambda: desk.report().counts.refused_events == 1, "late accept refused")
    driver.settle()

    assert desk.views()[CID] == before
    assert len(desk.published(OrderFilled, TOPIC_FILLS)) == 1
    assert len(desk.published(OrderAccepted)) == 1
    assert desk.book.record_keys().count(fill.trade_id) == 1


def test_a_duplicate_submission_is_answered_from_the_existing_order(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)

    again = desk.ask(limit_order())
    as_bracket = desk.ask(bracket())
    driver.settle()

    for answer in (again, as_bracket):
        assert answer.ok and answer.duplicate
        assert answer.order.status is OrderStatus.ACCEPTED
    assert desk.venue.submit_ids() == [CID]
    assert desk.book.record_keys() == [CID]
    assert desk.report().counts.duplicate_submits == 2


def test_a_venue_rejection_is_published_with_its_reason(driver: Driver) -> None:
    desk = start(driver)
    desk.venue.reject_next("insufficient funds")

    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.REJECTED)

    rejected = desk.published(OrderRejected)[0]
    assert (rejected.reason, rejected.correlation_id) == ("insufficient funds", CID)


# -- transport errors --------------------------------------------------------------------------


def test_a_transport_error_after_the_venue_accepted_leads_to_a_query_not_a_second_order(
    driver: Driver,
) -> None:
    desk = start(driver)
    desk.venue.script("submit", LOSE_AFTER)

    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    driver.settle()

    assert desk.venue.calls == [("submit", CID), ("query", CID)]
    assert desk.published(OrderAccepted)[0].venue_order_id == "V1"
    assert desk.report().counts.resends == 0


def test_a_transport_error_before_arrival_leads_to_one_resend_with_the_same_id(
    driver: Driver,
) -> None:
    desk = start(driver)
    desk.venue.script("submit", LOSE_BEFORE)

    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    driver.settle()

    assert desk.venue.calls == [("submit", CID), ("query", CID), ("submit", CID)]
    assert len(desk.venue.orders) == 1
    assert len(desk.published(OrderSubmitted)) == 1  # a re-send is not a new order
    assert desk.report().counts.resends == 1


def test_a_failed_query_is_asked_again_before_anything_is_sent(driver: Driver) -> None:
    desk = start(driver)
    desk.venue.script("submit", LOSE_AFTER)
    desk.venue.script("query", LOSE_BEFORE)

    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    driver.settle()

    assert desk.venue.calls == [("submit", CID), ("query", CID), ("query", CID)]


def test_an_order_the_venue_never_gets_is_rejected_after_the_last_resend(driver: Driver) -> None:
    desk = start(driver)
    desk.venue.script("submit", LOSE_BEFORE, LOSE_BEFORE, LOSE_BEFORE)

    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.REJECTED)

    assert desk.venue.calls == [("submit", CID), ("query", CID)] * 3
    assert "2 re-sends" in desk.published(OrderRejected)[0].reason


def test_a_cancel_lost_in_transport_is_sent_again_once_the_venue_says_the_order_works(
    driver: Driver,
) -> None:
    desk = start(driver)
    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.script("cancel", LOSE_BEFORE)

    answer = desk.ask(
        CancelOrder(
            ts_event=1,
            ts_init=1,
            client_order_id=CID,
            instrument=INFY,
            strategy="sma",
            reason="user",
        )
    )
    desk.wait_status(CID, OrderStatus.CANCELED)

    assert answer.ok
    assert desk.venue.calls[1:] == [("cancel", CID), ("query", CID), ("cancel", CID)]


# -- the rate limit ----------------------------------------------------------------------------


def test_orders_beyond_the_rate_limit_wait_and_all_go_out_in_order(driver: Driver) -> None:
    limit = RateLimit(orders_per_s=5.0, burst=2)
    desk = start(driver, config=RouterConfig(retry=FAST_RETRY, rate_limit=limit))
    ids = [f"{CID}-{i}" for i in range(6)]

    for client_order_id in ids:
        driver.send("router", limit_order(client_order_id))
    desk.wait(lambda: len(desk.venue.submits) == 6, "all six sent", timeout_s=10)

    assert desk.venue.submit_ids() == ids
    times = desk.venue.submit_times
    for i, first in enumerate(times):  # never more than the bucket allows, in any window
        for j in range(i, len(times)):
            assert j - i + 1 <= 2 + 5.0 * (times[j] - first) / SECOND + 1e-9
    if driver.simulated:
        start_ns = times[0]
        assert [t - start_ns for t in times] == [
            0,
            0,
            200 * MILLISECOND,
            400 * MILLISECOND,
            600 * MILLISECOND,
            800 * MILLISECOND,
        ]


def test_cancels_go_ahead_of_queued_orders(driver: Driver) -> None:
    limit = RateLimit(orders_per_s=2.0, burst=1)
    desk = start(driver, config=RouterConfig(retry=FAST_RETRY, rate_limit=limit))
    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    for i in range(3):
        driver.send("router", limit_order(f"{CID}-{i}"))
    driver.send(
        "router",
        CancelOrder(
            ts_event=1,
            ts_init=1,
            client_order_id=CID,
            instrument=INFY,
            strategy="sma",
            reason="user",
        ),
    )

    desk.wait(lambda: len(desk.venue.calls) == 5, "everything sent")

    assert desk.venue.calls[1] == ("cancel", CID)


# -- brackets ----------------------------------------------------------------------------------


def venue_qty(desk: Desk, client_order_id: str) -> int | None:
    order = desk.venue.order(client_order_id)
    return None if order is None else order.quantity


def test_a_partially_filled_entry_sizes_its_exits_and_oco_cancels_the_other(
    driver: Driver,
) -> None:
    desk = start(driver)
    submitted(desk, bracket(10, target=Decimal("110.00")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)

    desk.venue.fill(CID, 4)
    desk.wait(lambda: venue_qty(desk, STOP) == 4 and venue_qty(desk, TARGET) == 4, "exits at 4")
    stop, target = desk.venue.order(STOP), desk.venue.order(TARGET)
    assert stop is not None and target is not None
    assert (stop.order.order_type, stop.trigger_price, stop.order.side) == (
        OrderType.STOP_MARKET,
        Decimal("95.00"),
        OrderSide.SELL,
    )
    assert (target.order.order_type, target.price) == (OrderType.LIMIT, Decimal("110.00"))
    assert {STOP, TARGET} <= set(desk.book.record_keys())  # recorded like any order

    desk.venue.fill(CID, 3)
    desk.wait(lambda: venue_qty(desk, STOP) == 7 and venue_qty(desk, TARGET) == 7, "exits at 7")

    desk.venue.fill(TARGET, 2, "110.00")  # a partial target fill shrinks the stop
    desk.wait(lambda: venue_qty(desk, STOP) == 5, "stop at 5")
    assert venue_qty(desk, TARGET) == 7

    desk.venue.fill(TARGET, 5, "110.00")  # the target closes the rest: OCO
    desk.wait_status(STOP, OrderStatus.CANCELED)
    desk.wait_status(CID, OrderStatus.CANCELED)  # and the entry's remainder goes too

    views = desk.views()
    assert (views[TARGET].status, views[TARGET].filled_qty) == (OrderStatus.FILLED, 7)
    assert (views[CID].filled_qty, views[STOP].filled_qty) == (7, 0)
    assert desk.venue.working() == []


def test_the_stop_filling_cancels_the_target(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, bracket(10, target=Decimal("110.00")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID)
    desk.wait(lambda: desk.venue.working() == [STOP, TARGET], "exits working")

    desk.venue.fill(STOP, price="95.00")
    desk.wait_status(TARGET, OrderStatus.CANCELED)

    assert desk.views()[STOP].status is OrderStatus.FILLED
    assert desk.report().counts.brackets_active == 0


def test_partial_targets_each_take_their_part_and_the_stop_shrinks(driver: Driver) -> None:
    desk = start(driver)
    targets = [
        PartialTarget(price=Decimal("105.00"), fraction=0.5),
        PartialTarget(price=Decimal("110.00"), fraction=0.5),
    ]
    submitted(desk, bracket(9, partial_targets=targets))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    second = f"{CID}:target2"

    desk.venue.fill(CID)
    desk.wait(lambda: len(desk.venue.working()) == 3, "stop and two targets")
    assert (venue_qty(desk, STOP), venue_qty(desk, TARGET), venue_qty(desk, second)) == (9, 4, 5)

    desk.venue.fill(TARGET, price="105.00")
    desk.wait(lambda: venue_qty(desk, STOP) == 5, "stop shrinks to 5")
    desk.venue.fill(second, price="110.00")
    desk.wait_status(STOP, OrderStatus.CANCELED)


def test_a_trailing_stop_moves_up_with_the_price_and_never_down(driver: Driver) -> None:
    desk = start(driver)
    trail = f"{CID}:trail"
    submitted(desk, bracket(10, stop=None, trailing_distance=Decimal("2.00")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID, price="100.00")
    desk.wait(lambda: desk.venue.order(trail) is not None, "trailing stop placed")
    assert desk.venue.order(trail).trigger_price == Decimal("98.00")  # type: ignore[union-attr]

    def tick(price: float) -> None:
        now = desk.now()
        desk.driver.runtime.publish(
            ticks_topic(INFY),
            TradeTick(ts_event=now, ts_init=now, instrument=INFY, price=price, size=1.0),
        )

    tick(101.0)
    desk.wait(lambda: len(desk.venue.modifies) == 1, "moved up")
    tick(100.2)  # lower: never loosened
    tick(99.0)
    now = desk.now()
    desk.driver.runtime.publish(
        f"bars:{INFY}",
        Bar(
            ts_event=now,
            ts_init=now,
            instrument=INFY,
            interval="1m",
            ts_close=now,
            open=101,
            high=103.0,
            low=100.0,
            close=102.0,
            volume=10.0,
            trade_count=3,
            vwap=101.5,
        ),
    )
    desk.wait(lambda: len(desk.venue.modifies) == 2, "moved up again")
    tick(101.5)
    driver.settle()

    assert [m.trigger_price for m in desk.venue.modifies] == [Decimal("99.00"), Decimal("101.00")]
    assert desk.venue.order(trail).trigger_price == Decimal("101.00")  # type: ignore[union-attr]


def test_the_time_stop_cancels_the_exits_then_closes_at_market(driver: Driver) -> None:
    desk = start(driver)
    time_close = f"{CID}:time"
    submitted(desk, bracket(10, target=Decimal("110.00"), time_stop_ns=300 * MILLISECOND))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID)

    desk.wait(lambda: desk.venue.order(time_close) is not None, "closed at market")

    close = desk.venue.order(time_close)
    assert close is not None
    assert (close.order.order_type, close.order.side, close.quantity) == (
        OrderType.MARKET,
        OrderSide.SELL,
        10,
    )
    calls = desk.venue.calls
    assert calls.index(("submit", time_close)) > max(
        calls.index(("cancel", STOP)), calls.index(("cancel", TARGET))
    )
    desk.venue.fill(time_close, price="101.00")
    desk.wait_status(time_close, OrderStatus.FILLED)
    assert desk.venue.working() == []


def test_the_entry_timeout_cancels_the_rest_and_what_filled_keeps_its_exits(
    driver: Driver,
) -> None:
    desk = start(driver)
    submitted(desk, bracket(10, target=Decimal("110.00"), entry_timeout_ns=300 * MILLISECOND))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID, 4)

    desk.wait_status(CID, OrderStatus.CANCELED)
    driver.settle()

    assert sorted(desk.venue.working()) == [STOP, TARGET]
    assert (venue_qty(desk, STOP), venue_qty(desk, TARGET)) == (4, 4)
    assert desk.published(OrderCanceled)[0].reason == "entry timeout"


def test_a_lost_protective_stop_closes_the_position_at_market(driver: Driver) -> None:
    desk = start(driver)
    flat = f"{CID}:flat"
    submitted(desk, bracket(10, target=Decimal("110.00")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID)
    desk.wait(lambda: len(desk.venue.working()) == 2, "exits working")

    desk.venue.cancel_by_venue(STOP, "circuit limit")
    desk.wait(lambda: desk.venue.order(flat) is not None, "flattened")

    assert desk.status(TARGET) is OrderStatus.CANCELED
    assert venue_qty(desk, flat) == 10


def test_exits_not_yet_acknowledged_are_resized_once_they_are(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, bracket(10))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.script("submit", HOLD)

    desk.venue.fill(CID, 4)
    desk.wait(lambda: desk.venue.order(STOP) is not None, "stop sent")
    desk.venue.fill(CID, 6)
    desk.wait_status(CID, OrderStatus.FILLED)
    driver.settle()
    assert desk.venue.modifies == []  # the venue has not acknowledged the stop yet

    desk.venue.accept(STOP)
    desk.wait(lambda: venue_qty(desk, STOP) == 10, "stop resized")


# -- cancel, modify, cancel all, describe ------------------------------------------------------


def test_an_order_canceled_before_it_was_sent_never_reaches_the_venue(driver: Driver) -> None:
    desk = start(driver)
    desk.book.hold = True
    submitted(desk, limit_order())

    answer = desk.ask(
        CancelOrder(
            ts_event=1,
            ts_init=1,
            client_order_id=CID,
            instrument=INFY,
            strategy="sma",
            reason="changed my mind",
        )
    )
    driver.send("journal", ReleaseWrites())
    driver.settle()
    desk.wait_status(CID, OrderStatus.CANCELED)
    driver.settle()

    assert answer.ok
    assert desk.venue.calls == []
    assert desk.published(OrderCanceled)[0].reason == "changed my mind"


def test_modify_reaches_the_venue_and_a_bracket_exit_keeps_its_size(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, bracket(10))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID)
    desk.wait_status(STOP, OrderStatus.ACCEPTED)

    moved = desk.ask(
        ModifyOrder(
            ts_event=1,
            ts_init=1,
            client_order_id=STOP,
            instrument=INFY,
            strategy="sma",
            trigger_price=Decimal("97.00"),
            reason="tighten",
        )
    )
    resized = desk.ask(
        ModifyOrder(
            ts_event=1,
            ts_init=1,
            client_order_id=STOP,
            instrument=INFY,
            strategy="sma",
            quantity=3,
            reason="no",
        )
    )
    desk.wait(
        lambda: desk.venue.order(STOP).trigger_price == Decimal("97.00"),  # type: ignore[union-attr]
        "stop moved",
    )

    assert moved.ok and not resized.ok
    assert venue_qty(desk, STOP) == 10


def test_cancel_all_cancels_every_working_order_and_releases_brackets(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, bracket(10))
    other = "rsi:NSE:TCS:1:1"
    submitted(desk, market_order(other, "NSE:TCS"))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID, 4)
    desk.wait(lambda: STOP in desk.venue.working(), "stop working")

    answer = desk.ask(CancelAllOrders(ts_event=1, ts_init=1, reason="kill switch"))
    desk.wait(lambda: desk.venue.working() == [], "nothing working")

    assert answer.ok and sorted(answer.canceled) == sorted([CID, STOP, other])
    desk.venue.fill(CID, 1)  # a late fill: the bracket is released, nothing new is placed
    driver.settle()
    desk.wait(lambda: desk.views()[CID].filled_qty == 5, "late fill counted")
    assert sorted(desk.venue.orders) == sorted([CID, STOP, other])


def test_cancel_all_of_one_instrument_leaves_the_others(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, limit_order())
    other = "rsi:NSE:TCS:1:1"
    submitted(desk, market_order(other, "NSE:TCS"))
    desk.wait(lambda: len(desk.venue.working()) == 2, "both working")

    desk.ask(CancelAllOrders(ts_event=1, ts_init=1, instrument=INFY, reason="square-off"))
    desk.wait_status(CID, OrderStatus.CANCELED)

    assert desk.venue.working() == [other]


def test_describe_lists_orders_newest_first_with_filters(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, limit_order("a"))
    submitted(desk, limit_order("b"))
    desk.wait(lambda: len(desk.venue.working()) == 2, "both working")
    desk.venue.fill("a")
    desk.wait_status("a", OrderStatus.FILLED)

    now = desk.now()
    everything = desk.ask(DescribeOrders(ts_event=now, ts_init=now))
    open_only = desk.ask(DescribeOrders(ts_event=now, ts_init=now, open_only=True))
    other = desk.ask(DescribeOrders(ts_event=now, ts_init=now, instrument="NSE:TCS"))

    assert [v.client_order_id for v in everything.orders] == ["b", "a"]
    assert [v.client_order_id for v in open_only.orders] == ["b"]
    assert other.orders == []
    assert (everything.counts.orders, everything.counts.open_orders) == (2, 1)


def test_a_refused_bracket_is_answered_and_nothing_is_sent(driver: Driver) -> None:
    desk = start(driver)

    answer = desk.ask(
        bracket(
            10,
            target=Decimal("110"),
            partial_targets=[PartialTarget(price=Decimal("105"), fraction=1.0)],
        )
    )
    driver.settle()

    assert not answer.ok and "not both" in answer.reason
    assert desk.venue.calls == [] and desk.book.records == []
    assert desk.published(OrderRejected)[0].client_order_id == CID


# -- restarts ----------------------------------------------------------------------------------


def test_a_new_incarnation_keeps_the_book(driver: Driver) -> None:
    venue = ScriptedVenue()
    book = JournalBook()
    capture = Capture(driver.runtime, (TOPIC_ORDERS, TOPIC_FILLS))
    config = RouterConfig(retry=FAST_RETRY, rate_limit=NO_LIMIT)
    spec = order_router_spec(venue, driver.runtime, config=config)
    driver.start(
        SupervisorSpec("root", [ActorSpec("journal", lambda: RecordingJournal(book)), spec])
    )
    desk = Desk(driver, venue, book, capture)
    submitted(desk, bracket(10, target=Decimal("110.00")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    venue.fill(CID)
    desk.wait(lambda: len(venue.working()) == 2, "exits working")

    driver.remove_actor("router")
    driver.add_actor("root", spec)
    venue.fill(STOP, price="95.00")

    desk.wait_status(TARGET, OrderStatus.CANCELED)
    assert venue.connects == 1
    assert desk.views()[STOP].status is OrderStatus.FILLED


# -- with the real journal on a SQLite file ----------------------------------------------------


def _stored(path: Path, key: str) -> bool:
    """Whether ``key`` is in the journal, seen through a connection of its own."""
    with closing(sqlite3.connect(path)) as conn:
        found = conn.execute(
            "SELECT (SELECT COUNT(*) FROM orders WHERE client_order_id = :k)"
            " + (SELECT COUNT(*) FROM fills WHERE trade_id = :k)",
            {"k": key},
        ).fetchone()
    return bool(found[0])


class JournalCheckingVenue(ScriptedVenue):
    """Notes, for every order it receives, whether the journal had it stored already."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.stored_when_sent: dict[str, bool] = {}

    def submit(self, order: SubmitOrder) -> None:
        self.stored_when_sent[order.client_order_id] = _stored(self.path, order.client_order_id)
        super().submit(order)


def test_with_the_real_journal_orders_and_fills_are_stored_before_they_go_on(
    driver: Driver, tmp_path: Path
) -> None:
    path = tmp_path / "journal.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    writer = JournalWriter(database)
    try:
        venue = JournalCheckingVenue(path)
        mode = JournalMode.SYNCHRONOUS if driver.simulated else JournalMode.DURABLE
        fills_stored: list[bool] = []
        driver.runtime.add_listener(
            TOPIC_FILLS, lambda _topic, fill: fills_stored.append(_stored(path, fill.trade_id))
        )
        config = RouterConfig(retry=FAST_RETRY, rate_limit=NO_LIMIT)
        driver.start(
            SupervisorSpec(
                "root",
                [
                    ActorSpec("journal", lambda: Journal(writer, mode=mode)),
                    order_router_spec(venue, driver.runtime, config=config),
                ],
            )
        )
        desk = Desk(driver, venue, JournalBook(), Capture(driver.runtime, (TOPIC_ORDERS,)))
        submitted(desk, bracket(10, target=Decimal("110.00")))
        desk.wait_status(CID, OrderStatus.ACCEPTED)

        venue.fill(CID, 6)
        venue.fill(CID, 4)
        desk.wait(lambda: venue_qty(desk, STOP) == 10, "stop at 10")
        venue.fill(TARGET, price="110.00")
        desk.wait(lambda: len(fills_stored) == 3, "three fills published")

        assert venue.stored_when_sent == {CID: True, STOP: True, TARGET: True}
        assert fills_stored == [True, True, True]
    finally:
        driver.stop()
        writer.close()
        database.close()


@pytest.mark.parametrize(
    ("order_type", "price", "trigger"),
    [
        (OrderType.MARKET, None, None),
        (OrderType.LIMIT, Decimal("100.00"), None),
        (OrderType.STOP_MARKET, None, Decimal("101.00")),
        (OrderType.STOP_LIMIT, Decimal("101.50"), Decimal("101.00")),
    ],
    ids=lambda v: getattr(v, "value", str(v)),
)
def test_every_order_type_reaches_the_venue_as_it_was_given(
    driver: Driver, order_type: OrderType, price: Decimal | None, trigger: Decimal | None
) -> None:
    desk = start(driver)
    order = SubmitOrder(
        ts_event=1,
        ts_init=1,
        client_order_id=CID,
        instrument=INFY,
        side=OrderSide.BUY,
        order_type=order_type,
        quantity=3,
        price=price,
        trigger_price=trigger,
        strategy="sma",
        correlation_id=CID,
    )

    submitted(desk, order)
    desk.wait_status(CID, OrderStatus.ACCEPTED)

    assert desk.venue.submits == [order]


def test_a_late_entry_fill_after_the_stop_closed_the_position_gets_a_stop_again(
    driver: Driver,
) -> None:
    desk = start(driver)
    submitted(desk, bracket(10))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.script("cancel", HOLD)  # the entry's cancel does not reach the venue at once
    desk.venue.fill(CID, 4)
    desk.wait(lambda: venue_qty(desk, STOP) == 4, "stop at 4")

    desk.venue.fill(STOP, price="95.00")
    desk.wait(lambda: ("cancel", CID) in desk.venue.calls, "the entry's rest canceled")
    desk.venue.fill(CID, 2)  # the venue filled more before the cancel

    desk.wait(lambda: venue_qty(desk, f"{STOP}.2") == 2, "a second stop for the late fill")


def test_a_modify_lost_in_transport_is_sent_again_after_the_venue_was_asked(
    driver: Driver,
) -> None:
    desk = start(driver)
    submitted(desk, limit_order())
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.script("modify", LOSE_BEFORE)

    desk.ask(
        ModifyOrder(
            ts_event=1,
            ts_init=1,
            client_order_id=CID,
            instrument=INFY,
            strategy="sma",
            price=Decimal("99.50"),
            reason="reprice",
        )
    )
    desk.wait(lambda: len(desk.venue.modifies) == 2, "modify sent again")

    assert desk.venue.calls[1:] == [("modify", CID), ("query", CID), ("modify", CID)]
    assert desk.venue.order(CID).price == Decimal("99.50")  # type: ignore[union-attr]


def test_the_outbox_puts_cancels_first_and_merges_modifies_of_one_order() -> None:
    outbox = Outbox(RateLimit(orders_per_s=1.0, burst=1))
    outbox.bucket.try_take(0)  # no token now: everything waits

    def modify(**fields: Any) -> ModifyOrder:
        return ModifyOrder(
            ts_event=1,
            ts_init=1,
            client_order_id="a",
            instrument=INFY,
            strategy="s",
            reason="r",
            **fields,
        )

    outbox.push(limit_order("b"))
    outbox.push(modify(quantity=7))
    outbox.push(modify(trigger_price=Decimal("99")))
    outbox.push(
        CancelOrder(
            ts_event=1, ts_init=1, client_order_id="c", instrument=INFY, strategy="s", reason="r"
        )
    )

    assert len(outbox) == 3
    sent = [outbox.take(t * SECOND) for t in (1, 2, 3)]
    assert [r.client_order_id for r in sent if r is not None] == ["c", "b", "a"]
    merged = sent[2]
    assert isinstance(merged, ModifyOrder)
    assert (merged.quantity, merged.trigger_price) == (7, Decimal("99"))


# -- a stop from the entry's average fill price; closing without reversing ---------------------

EXIT = "x1:exit"


def exit_order(quantity: int = 10, client_order_id: str = EXIT) -> SubmitOrder:
    return SubmitOrder(
        ts_event=1,
        ts_init=1,
        client_order_id=client_order_id,
        instrument=INFY,
        side=OrderSide.SELL,
        order_type=OrderType.MARKET,
        quantity=quantity,
        strategy="sma",
        correlation_id="x1",
    )


def close(*orders: SubmitOrder) -> ClosePosition:
    return ClosePosition(
        ts_event=1, ts_init=1, orders=list(orders) or [exit_order()], reason="exit x1"
    )


def entered_with_a_pct_stop(desk: Desk) -> None:
    """A 10-unit entry filled at 100.00 with its 2 % stop (98.00) working."""
    submitted(desk, bracket(10, stop=None, stop_pct=Decimal("2")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID, price="100.00")
    desk.wait(lambda: desk.venue.working() == [STOP], "stop working")


def test_a_pct_stop_is_placed_from_the_entrys_average_fill_price(driver: Driver) -> None:
    desk = start(driver)
    submitted(desk, bracket(10, stop=None, stop_pct=Decimal("2")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    assert desk.venue.order(STOP) is None  # nothing to protect yet

    desk.venue.fill(CID, 4, "99.95")
    desk.wait(lambda: venue_qty(desk, STOP) == 4, "stop for the 4 filled")
    stop = desk.venue.order(STOP)
    assert stop is not None
    assert (stop.order.order_type, stop.order.side, stop.trigger_price) == (
        OrderType.STOP_MARKET,
        OrderSide.SELL,
        Decimal("97.95"),  # 99.95 x 0.98 = 97.951, down to the tick
    )

    desk.venue.fill(CID, 6, "99.90")  # average 99.92: x 0.98 = 97.9216
    desk.wait(lambda: venue_qty(desk, STOP) == 10, "stop for all 10")
    assert stop.trigger_price == Decimal("97.92")
    assert desk.venue.modifies[-1].trigger_price == Decimal("97.92")


def test_a_close_cancels_the_stop_first_then_sells_what_is_held(driver: Driver) -> None:
    desk = start(driver)
    entered_with_a_pct_stop(desk)

    answer = desk.ask(close())
    desk.wait(lambda: desk.venue.order(EXIT) is not None, "exit sent")

    assert answer.ok and answer.canceled == [STOP]
    calls = desk.venue.calls
    assert calls.index(("cancel", STOP)) < calls.index(("submit", EXIT))
    assert desk.status(STOP) is OrderStatus.CANCELED
    desk.venue.fill(EXIT, price="101.00")
    desk.wait_status(EXIT, OrderStatus.FILLED)
    assert desk.venue.positions() == []  # flat, not short
    assert desk.report().counts.brackets_active == 0


def test_a_stop_that_fills_while_its_cancel_travels_leaves_the_exit_nothing(
    driver: Driver,
) -> None:
    desk = start(driver)
    entered_with_a_pct_stop(desk)
    desk.venue.script("cancel", HOLD)

    desk.ask(close())
    desk.wait(lambda: ("cancel", STOP) in desk.venue.calls, "stop cancel sent")
    driver.settle()
    assert desk.venue.order(EXIT) is None  # waits for the stop's end
    desk.venue.fill(STOP, price="98.00")  # the venue filled it before the cancel arrived

    desk.wait(lambda: EXIT in desk.views(), "exit decided")
    driver.settle()
    assert desk.status(EXIT) is OrderStatus.REJECTED
    [rejected] = [e for e in desk.published(OrderRejected) if e.client_order_id == EXIT]
    assert "nothing left to close" in rejected.reason
    assert ("submit", EXIT) not in desk.venue.calls
    assert desk.venue.positions() == []  # never reversed


def test_a_close_after_the_stop_filled_sends_nothing(driver: Driver) -> None:
    # Risk decided on a position the ledger had not yet reported closed.
    desk = start(driver)
    entered_with_a_pct_stop(desk)
    desk.venue.fill(STOP, price="98.00")
    desk.wait_status(STOP, OrderStatus.FILLED)

    answer = desk.ask(close())
    desk.wait(lambda: EXIT in desk.views(), "exit decided")

    assert answer.ok and answer.canceled == []
    assert desk.status(EXIT) is OrderStatus.REJECTED
    assert ("submit", EXIT) not in desk.venue.calls


def test_a_close_is_cut_to_what_a_partly_filled_stop_left(driver: Driver) -> None:
    desk = start(driver)
    entered_with_a_pct_stop(desk)
    desk.venue.script("cancel", HOLD)
    second = f"{EXIT}:2"

    desk.ask(close(exit_order(6), exit_order(4, second)))
    desk.wait(lambda: ("cancel", STOP) in desk.venue.calls, "stop cancel sent")
    desk.venue.fill(STOP, 3, "98.00")
    desk.venue.cancel_by_venue(STOP, "canceled")  # the held cancel lands

    desk.wait_at_venue(second)
    assert (venue_qty(desk, EXIT), venue_qty(desk, second)) == (6, 1)  # 7 left: first first
    desk.venue.fill(EXIT)
    desk.venue.fill(second)
    desk.wait_status(second, OrderStatus.FILLED)
    assert desk.venue.positions() == []


def test_a_stop_on_its_way_to_the_journal_is_sent_then_canceled_then_the_exit(
    driver: Driver,
) -> None:
    # The stop is live from its entry's fill: a close cancels it at the venue (which checks
    # what it may still catch, e.g. the rest of the entry's bar), never keeps it back.
    desk = start(driver)
    submitted(desk, bracket(10, stop=None, stop_pct=Decimal("2")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.book.hold = True
    desk.venue.fill(CID, price="100.00")
    desk.wait(lambda: STOP in desk.book.record_keys(), "stop being recorded")

    desk.ask(close())
    driver.settle()
    assert desk.venue.order(STOP) is None and desk.venue.order(EXIT) is None
    driver.send("journal", ReleaseWrites())

    desk.wait(lambda: desk.venue.order(EXIT) is not None, "exit sent")
    calls = desk.venue.calls
    assert calls.index(("submit", STOP)) < calls.index(("cancel", STOP))
    assert calls.index(("cancel", STOP)) < calls.index(("submit", EXIT))
    assert venue_qty(desk, EXIT) == 10


def test_cancel_all_cancels_a_close_still_waiting(driver: Driver) -> None:
    desk = start(driver)
    entered_with_a_pct_stop(desk)
    desk.venue.script("cancel", HOLD)
    desk.ask(close())
    desk.wait(lambda: ("cancel", STOP) in desk.venue.calls, "stop cancel sent")

    answer = desk.ask(CancelAllOrders(ts_event=1, ts_init=1, reason="kill switch"))
    desk.wait(lambda: EXIT in desk.views(), "exit canceled")

    assert EXIT in answer.canceled
    assert desk.status(EXIT) is OrderStatus.CANCELED
    desk.venue.cancel_by_venue(STOP, "canceled")
    driver.settle()
    assert ("submit", EXIT) not in desk.venue.calls


def test_a_repeated_or_mixed_close_does_nothing(driver: Driver) -> None:
    desk = start(driver)
    entered_with_a_pct_stop(desk)
    desk.ask(close())
    desk.wait_at_venue(EXIT)

    again = desk.ask(close())
    elsewhere = msgspec.structs.replace(exit_order(5, "x1:exit:2"), instrument="NSE:TCS")
    mixed = desk.ask(close(exit_order(5, "x2:exit"), elsewhere))

    assert again.ok and again.duplicate
    assert not mixed.ok and "several instruments" in mixed.reason
    assert desk.venue.submit_ids().count(EXIT) == 1


def test_a_strategys_close_leaves_the_traders_own_orders_alone(driver: Driver) -> None:
    """Issue 12: a strategy's exit canceled the trader's manual orders on the instrument."""
    desk = start(driver)
    entered_with_a_pct_stop(desk)
    manual = msgspec.structs.replace(
        limit_order("manual:buy-the-dip", 5, "90.00"), strategy="manual"
    )
    submitted(desk, manual)
    desk.wait(lambda: "manual:buy-the-dip" in desk.venue.working(), "the manual order working")

    answer = desk.ask(msgspec.structs.replace(close(), only_strategy="sma"))
    desk.wait(lambda: desk.venue.order(EXIT) is not None, "exit sent")

    assert answer.ok and answer.canceled == [STOP]
    assert desk.venue.working() == ["manual:buy-the-dip", EXIT]
    # The close, the bracket's release and the stop's cancel were recorded, in that order,
    # before the cancel went.
    noted = [type(m).__name__ for m in desk.book.noted]
    assert noted == ["ClosePosition", "BracketReleased", "CancelOrder"]


def test_a_bracket_released_by_a_close_raises_no_alert_for_its_canceled_exits(
    driver: Driver,
) -> None:
    """Issue 12: routine exit-signal cancellations were logged at ERROR ("given up")."""
    desk = start(driver)
    submitted(desk, bracket(10, target=Decimal("110.00")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID, price="100.00")
    desk.wait(lambda: sorted(desk.venue.working()) == sorted([STOP, TARGET]), "exits working")

    with structlog.testing.capture_logs() as logs:
        desk.ask(close())
        desk.wait(lambda: desk.venue.order(EXIT) is not None, "exit sent")
        driver.settle()

    assert [entry for entry in logs if entry["log_level"] == "error"] == []


def manual_sell(client_order_id: str, quantity: int, price: str | None = "120.00") -> SubmitOrder:
    """A trader's sell risk judged an exit (reduce-only)."""
    return SubmitOrder(
        ts_event=1,
        ts_init=1,
        client_order_id=client_order_id,
        instrument=INFY,
        side=OrderSide.SELL,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=quantity,
        price=None if price is None else Decimal(price),
        strategy="manual",
        correlation_id=client_order_id,
        reduce_only=True,
    )


def test_the_traders_exit_shrinks_the_brackets_stop_so_both_never_sell_more_than_held(
    driver: Driver,
) -> None:
    """Issue 12's crash suite: a stop sized to the bracket's 10 and a trader's sell of 3
    both filled by one trade sold 13 of 10 held (a naked short)."""
    desk = start(driver)
    entered_with_a_pct_stop(desk)

    submitted(desk, manual_sell("manual:1", 3))
    desk.wait(lambda: venue_qty(desk, STOP) == 7, "the stop shrunk to what is left")
    desk.wait(lambda: desk.venue.order("manual:1") is not None, "the trader's sell sent")

    desk.venue.cancel_by_venue("manual:1")  # the trader's order ends unfilled
    desk.wait(lambda: venue_qty(desk, STOP) == 10, "the stop covers all 10 again")

    submitted(desk, manual_sell("manual:2", 4))
    desk.wait(lambda: venue_qty(desk, STOP) == 6, "the stop shrunk again")
    desk.wait(lambda: desk.venue.order("manual:2") is not None, "the trader's sell sent")
    desk.venue.fill("manual:2", price="120.00")
    desk.wait_status("manual:2", OrderStatus.FILLED)
    driver.settle()
    assert venue_qty(desk, STOP) == 6  # 6 held, 6 covered
    # The trader buys 5 of their own: the bracket gave up the 4 for good, its stop stays 6.
    buy_back = msgspec.structs.replace(
        manual_sell("manual:3", 5, price=None), side=OrderSide.BUY, reduce_only=False
    )
    submitted(desk, buy_back)
    desk.wait(lambda: desk.venue.order("manual:3") is not None, "the buy sent")
    desk.venue.fill("manual:3", price="99.00")
    desk.wait_status("manual:3", OrderStatus.FILLED)
    driver.settle()
    assert venue_qty(desk, STOP) == 6
    assert [type(m).__name__ for m in desk.book.noted].count("BracketReduced") == 1
    desk.venue.fill(STOP, price="98.00")
    desk.wait_status(STOP, OrderStatus.FILLED)
    # The stop sold the bracket's 6; the trader's 5 stay theirs.
    assert [p.quantity for p in desk.venue.positions()] == [5]


def test_a_reduce_only_order_after_the_stop_filled_is_cut_to_what_is_held(
    driver: Driver,
) -> None:
    desk = start(driver)
    entered_with_a_pct_stop(desk)
    desk.venue.fill(STOP, 6, price="98.00")  # 4 left
    desk.wait(lambda: desk.views()[STOP].filled_qty == 6, "the stop's fill counted")

    answer = submitted(desk, manual_sell("manual:1", 5, price=None))
    desk.wait(lambda: desk.venue.order("manual:1") is not None, "sent")
    assert answer.order is not None and answer.order.quantity == 4

    refused = desk.ask(manual_sell("manual:2", 1, price=None))
    assert isinstance(refused, RouterAnswer) and not refused.ok
    assert "nothing left to reduce" in refused.reason
    assert desk.venue.order("manual:2") is None


def test_canceling_everything_cancels_the_exits_first(driver: Driver) -> None:
    """The crash suite: a kill switch canceling many orders waits on the rate limit, and a
    bracket's stop queued behind the trader's older limit orders filled after its target
    had, selling 120 of the 23 held. Exits go first; an entry cannot over-sell."""
    config = RouterConfig(retry=FAST_RETRY, rate_limit=RateLimit(orders_per_s=1.0, burst=3))
    desk = start(driver, config=config)
    older = [limit_order(f"manual:{n}", 1, "90.00") for n in range(3)]
    for order in older:
        submitted(desk, msgspec.structs.replace(order, strategy="manual"))
    desk.wait(lambda: len(desk.venue.working()) == 3, "the trader's orders working")
    submitted(desk, bracket(10, stop=None, stop_pct=Decimal("2")))
    desk.wait_status(CID, OrderStatus.ACCEPTED)
    desk.venue.fill(CID, price="100.00")
    desk.wait(lambda: STOP in desk.venue.working(), "the stop working")

    desk.ask(CancelAllOrders(ts_event=0, ts_init=0, reason="kill switch"))
    desk.wait(lambda: len(desk.venue.cancels) >= 1, "a first cancel sent")

    assert desk.venue.cancels[0].client_order_id == STOP


def test_a_reduce_only_order_is_cut_again_if_the_stop_filled_while_it_was_recorded(
    driver: Driver,
) -> None:
    """The crash suite (CI count, 1 run in 4): a trader's sell of 8 judged an exit while 74
    were held was sent after its write-ahead, by when the stop had sold 69: short 3."""
    desk = start(driver)
    entered_with_a_pct_stop(desk)
    desk.book.hold = True  # the journal is slow: the sell waits for its record

    submitted(desk, manual_sell("manual:1", 8, price=None))
    desk.venue.fill(STOP, 7, price="98.00")  # meanwhile the stop sells 7 of the 10
    desk.wait(lambda: desk.views()[STOP].filled_qty == 7, "the stop's fill counted")
    driver.send("journal", ReleaseWrites())
    desk.wait(lambda: desk.venue.order("manual:1") is not None, "the sell sent")

    assert venue_qty(desk, "manual:1") == 3  # what was left, not 8
