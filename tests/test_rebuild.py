"""Rebuilding after a restart, the pure parts: what the journal gives back (on a real SQLite
file), the router's book restored from it, the comparison with a venue, and the risk
supervisor's day replayed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.journal.reader import JournalReader
from engine.journal.views import JournaledOrder
from engine.journal.writer import JournalWriter
from engine.messages.orders import ExitPlan, SubmitBracket
from engine.messages.reconciliation import OrderDifferenceKind, PositionDifference
from engine.messages.trading import (
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderStatusReport,
    OrderType,
    PositionReport,
    SubmitOrder,
    TimeInForce,
)
from engine.orders.ids import exit_order_id, parse_exit_id
from engine.orders.order import TrackedOrder
from engine.orders.rebuild import RouterRebuild, restore_book
from engine.orders.reconcile import reconcile
from engine.risk.day import TradingDay
from engine.risk.exposure import Exposure
from engine.risk.limits import RiskLimits
from engine.risk.replay import replay_day
from engine.store import Database
from tests.test_journal_store import (
    INFY,
    SECOND,
    T0,
    accepted,
    canceled,
    fill,
    order,
    write_all,
)

TCS = "NSE:TCS"
D1 = Decimal(1)


def sell(coid: str, quantity: int = 10, **kind: Any) -> SubmitOrder:
    base = order(coid, quantity=quantity, side=OrderSide.SELL, price=None)
    if "trigger" in kind:
        return SubmitOrder(
            ts_event=base.ts_event,
            ts_init=base.ts_init,
            client_order_id=coid,
            instrument=base.instrument,
            side=OrderSide.SELL,
            order_type=OrderType.STOP_MARKET,
            quantity=quantity,
            trigger_price=Decimal(kind["trigger"]),
            strategy=base.strategy,
            correlation_id=base.correlation_id,
        )
    if "price" in kind:
        return SubmitOrder(
            ts_event=base.ts_event,
            ts_init=base.ts_init,
            client_order_id=coid,
            instrument=base.instrument,
            side=OrderSide.SELL,
            order_type=OrderType.LIMIT,
            quantity=quantity,
            price=Decimal(kind["price"]),
            strategy=base.strategy,
            correlation_id=base.correlation_id,
        )
    return base


def bracket(entry_id: str, *, ts: int = T0, quantity: int = 10, **plan: Any) -> SubmitBracket:
    plan.setdefault("stop", Decimal("1400.00"))
    plan.setdefault("target", Decimal("1600.00"))
    entry = order(entry_id, ts=ts, quantity=quantity, price=None)
    return SubmitBracket(ts_event=ts, ts_init=ts, entry=entry, exits=ExitPlan(**plan))


def sold(trade_id: str, coid: str, qty: int = 10, price: str = "1400.00") -> OrderFilled:
    return fill(trade_id, coid, qty=qty, price=price, side=OrderSide.SELL, ts=T0 + 2 * SECOND)


# -- ids ---------------------------------------------------------------------------------------


def test_exit_ids_read_back() -> None:
    for role, nth in (("stop", 1), ("trail", 3), ("target", 1), ("target2", 2), ("flat", 1)):
        client_order_id = exit_order_id("sma:NSE:INFY:1:1:entry", role, nth)
        assert parse_exit_id(client_order_id) == ("sma:NSE:INFY:1:1:entry", role, nth)
    for plain in ("sma:NSE:INFY:1:1:entry", "sma:1:exit", "x:exit:2", "flatten:5:NSE:INFY"):
        assert parse_exit_id(plain) is None


# -- what the journal gives back ---------------------------------------------------------------


def test_the_journal_gives_back_what_the_router_must_manage(tmp_path: Any) -> None:
    with Database(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}") as db:
        with JournalWriter(db) as writer:
            write_all(
                writer,
                [
                    # a: entry filled, stop and target working -> restored whole
                    bracket("a:entry"),
                    fill("a1", "a:entry", qty=10),
                    sell("a:entry:stop", trigger="1400.00"),
                    accepted("a:entry:stop"),
                    sell("a:entry:target", price="1600.00"),
                    # b: closed by its stop, target canceled -> done, not restored
                    bracket("b:entry"),
                    fill("b1", "b:entry", qty=10),
                    sell("b:entry:stop", trigger="1400.00"),
                    sold("b2", "b:entry:stop"),
                    sell("b:entry:target", price="1600.00"),
                    canceled("b:entry:target"),
                    # c: entry filled, no exit recorded yet -> restored (a position is open)
                    bracket("c:entry", quantity=5, ts=T0 + SECOND),
                    fill("c1", "c:entry", qty=5),
                    # d: the same, but before the look-back -> not looked at
                    bracket("d:entry", quantity=5, ts=T0 - 2 * SECOND),
                    fill("d1", "d:entry", qty=5),
                    # plain orders: one working (restored), one filled (not)
                    order("p1"),
                    order("p2", quantity=3),
                    fill("p2-1", "p2", qty=3),
                ],
            )
        rebuild = db.call(JournalReader(db).router_rebuild(T0))

    assert [b.entry.client_order_id for b in rebuild.brackets] == ["a:entry", "c:entry"]
    assert sorted(o.client_order_id for o in rebuild.orders) == sorted(
        ["a:entry", "a:entry:stop", "a:entry:target", "c:entry", "p1"]
    )
    assert sorted(f.trade_id for f in rebuild.fills) == ["a1", "c1"]
    assert rebuild.positions == {INFY: 10 + 5 + 5 + 3}


def test_the_risk_supervisors_day_reads_back_in_order(tmp_path: Any) -> None:
    with Database(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}") as db:
        with JournalWriter(db) as writer:
            write_all(
                writer,
                [order("y", ts=T0 - SECOND), bracket("a:entry"), fill("a1", "a:entry", qty=10)],
            )
        records = db.call(JournalReader(db).order_records_since(T0))
    assert [type(r).__name__ for r in records] == ["SubmitBracket", "OrderFilled"]


# -- the router's book -------------------------------------------------------------------------


def journaled(source: SubmitOrder, status: OrderStatus, filled: int = 0) -> JournaledOrder:
    return JournaledOrder(
        order=source,
        status=status,
        filled_qty=filled,
        avg_price=None,
        fees=Decimal(0),
        venue_order_id=None,
        reason="canceled by the bracket" if status is OrderStatus.CANCELED else None,
        ts_created=T0,
        ts_updated=T0,
    )


def restore(rebuild: RouterRebuild) -> Any:
    return restore_book(rebuild, lot_size=lambda _i: 1, tick_size=lambda _i: Decimal("0.05"))


def stop_canceled(**journal: Any) -> Any:
    """A bracket whose stop ended CANCELED with its 10 units open, its target working."""
    entry = bracket("a:entry")
    book = restore(
        RouterRebuild(
            orders=[
                journaled(entry.entry, OrderStatus.FILLED, 10),
                journaled(sell("a:entry:stop", trigger="1400.00"), OrderStatus.CANCELED),
                journaled(sell("a:entry:target", price="1600.00"), OrderStatus.ACCEPTED),
            ],
            brackets=[entry],
            fills=[fill("a1", "a:entry", qty=10)],
            **journal,
        )
    )
    restored = book.brackets["a:entry"]
    assert book.live == ["a:entry:target"]
    assert restored.entry_filled == 10 and restored.open_qty == 10 and not restored.entry_live
    return restored


def test_a_stop_the_router_canceled_with_units_open_is_placed_again() -> None:
    restored = stop_canceled(cancels_asked={"a:entry:stop"})

    actions = restored.actions(T0 + SECOND)

    placed = [a for a in actions if isinstance(a, SubmitOrder)]
    assert [(p.client_order_id, p.order_type, p.quantity) for p in placed] == [
        ("a:entry:stop.2", OrderType.STOP_MARKET, 10)
    ]
    assert restored.closing is None


def test_a_stop_the_venue_canceled_closes_the_position_as_the_running_router_does() -> None:
    restored = stop_canceled()

    restored.actions(T0 + SECOND)

    assert restored.closing == "protective stop lost"


def test_a_stop_the_user_canceled_is_left_to_the_user() -> None:
    restored = stop_canceled(released_exits={"a:entry:stop"}, cancels_asked={"a:entry:stop"})

    actions = restored.actions(T0 + SECOND)

    assert [a for a in actions if isinstance(a, SubmitOrder)] == []
    assert restored.closing is None


def test_a_bracket_restored_while_closing_keeps_closing() -> None:
    entry = bracket("a:entry", time_stop_ns=SECOND)
    book = restore(
        RouterRebuild(
            orders=[
                journaled(entry.entry, OrderStatus.FILLED, 10),
                journaled(sell("a:entry:stop", trigger="1400.00"), OrderStatus.CANCELED),
                journaled(sell("a:entry:target", price="1600.00"), OrderStatus.CANCELED),
                journaled(sell("a:entry:time"), OrderStatus.SUBMITTED),
            ],
            brackets=[entry],
            fills=[fill("a1", "a:entry", qty=10)],
        )
    )
    restored = book.brackets["a:entry"]
    assert restored.closing == "time stop"
    assert book.live == ["a:entry:time"]
    assert restored.actions(T0 + SECOND) == []  # the market close is the venue's to answer


def test_restored_orders_count_their_fills_by_trade_id() -> None:
    tracked = TrackedOrder.restored(
        order("o1"),
        OrderStatus.NEW,
        [("t1", 4, Decimal("10")), ("t1", 4, Decimal("10")), ("t2", 2, Decimal("13"))],
        venue_order_id=None,
        reason="",
        created_ns=T0,
        updated_ns=T0,
    )
    assert tracked.status is OrderStatus.SUBMITTED  # it may have left: asked, not sent
    assert (tracked.filled_qty, tracked.avg_fill_price) == (6, Decimal(11))


# -- the comparison ----------------------------------------------------------------------------


def report(client_order_id: str | None, filled: int = 0) -> OrderStatusReport:
    return OrderStatusReport(
        ts_event=T0,
        ts_init=T0,
        client_order_id=client_order_id,
        venue_order_id=f"v-{client_order_id}",
        instrument=INFY,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        status=OrderStatus.ACCEPTED,
        quantity=10,
        filled_qty=filled,
        price=Decimal("1500.05"),
    )


def tracked(client_order_id: str, status: OrderStatus) -> TrackedOrder:
    return TrackedOrder.restored(
        order(client_order_id),
        status,
        [],
        venue_order_id=None,
        reason="",
        created_ns=T0,
        updated_ns=T0,
    )


def test_the_comparison_lists_every_kind_of_difference() -> None:
    orders = {
        "same": tracked("same", OrderStatus.ACCEPTED),
        "ended": tracked("ended", OrderStatus.CANCELED),
        "short": tracked("short", OrderStatus.ACCEPTED),
        "gone": tracked("gone", OrderStatus.ACCEPTED),
        "leaving": tracked("leaving", OrderStatus.ACCEPTED),
        "on its way": tracked("on its way", OrderStatus.SUBMITTED),
    }
    found = reconcile(
        venue="paper",
        orders=orders,
        positions={INFY: 10, TCS: 5},
        venue_orders=[report("same"), report(None), report("ended"), report("short", 4)],
        venue_positions=[
            PositionReport(ts_event=T0, ts_init=T0, instrument=INFY, quantity=10, avg_price=D1),
            PositionReport(
                ts_event=T0, ts_init=T0, instrument="NSE:SBIN", quantity=-2, avg_price=D1
            ),
        ],
        canceling={"leaving"},
        now_ns=T0,
    )

    assert [(d.kind, d.client_order_id) for d in found.order_differences] == [
        (OrderDifferenceKind.UNKNOWN_TO_ENGINE, None),
        (OrderDifferenceKind.ENDED_IN_ENGINE, "ended"),
        (OrderDifferenceKind.FILLED_QUANTITY, "short"),
        (OrderDifferenceKind.NOT_AT_VENUE, "gone"),
    ]
    assert found.position_differences == [
        PositionDifference(instrument="NSE:SBIN", engine_quantity=0, venue_quantity=-2),
        PositionDifference(instrument=TCS, engine_quantity=5, venue_quantity=0),
    ]
    assert not found.in_agreement and found.venue_positions == 2


# -- the risk supervisor's day -----------------------------------------------------------------


def test_the_day_replays_trades_working_orders_and_the_losing_streak() -> None:
    limits = RiskLimits(max_consecutive_losses=2, loss_cooldown_s=600.0)
    day = TradingDay(limits, equity=Decimal(1_000_000), cash=Decimal(1_000_000))
    day.roll(T0)
    exposure = Exposure()
    records: list[object] = [
        # two losing round trips in INFY
        bracket("a:entry"),
        fill("a1", "a:entry", qty=10, price="1500", fee="0"),
        sell("a:entry:stop", trigger="1400.00"),
        sold("a2", "a:entry:stop", price="1400"),
        bracket("b:entry"),
        fill("b1", "b:entry", qty=10, price="1500", fee="0"),
        order("b:exit", quantity=10, side=OrderSide.SELL, price=None),  # risk's exit
        sold("b2", "b:exit", price="1450"),
        # an entry rejected unfilled no longer counts; one still working does
        bracket("c:entry"),
        OrderRejected(
            ts_event=T0,
            ts_init=T0,
            client_order_id="c:entry",
            instrument=INFY,
            strategy="s",
            reason="no",
        ),
        bracket("d:entry", stop=Decimal("1450.00")),
    ]

    found = replay_day(records, exposure, day)

    assert day.trades_today == 3 == found.entries
    assert found.closed_trades == 2 and day.consecutive_losses == 2
    assert day.cooldown_until_ns == T0 + 2 * SECOND + 600 * SECOND
    assert list(exposure.working) == ["d:entry"] and exposure.stops == {INFY: Decimal("1450.00")}
    assert [b.entry.client_order_id for b in found.brackets] == [
        "a:entry",
        "b:entry",
        "c:entry",
        "d:entry",
    ]
