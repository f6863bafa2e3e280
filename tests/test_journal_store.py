"""The journal's tables, writer and readers on a real SQLite file: where each record goes and
how it reads back (decoded to the same message), orders folded from their events, idempotent
orders and fills, grouped transactions (counted, never timed), failures that stay with their
record, and round trips computed from fills."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.journal.commands import record_command, record_outcome_soon
from engine.journal.reader import JournalReader
from engine.journal.records import AuditRecord, CommandOutcome, CommandRecord
from engine.journal.tables import COMPONENT
from engine.journal.trades import round_trips
from engine.journal.writer import JournalClosedError, JournalWriter
from engine.messages.account import AccountChanged
from engine.messages.base import Message
from engine.messages.orders import ExitPlan, SubmitBracket
from engine.messages.ranking import RankedSignal, ScoringConfig, SignalsRanked
from engine.messages.risk import RiskCode, RiskDenied
from engine.messages.runtime import TradingState, TradingStateChanged
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
    PositionChanged,
    Signal,
    SubmitOrder,
    TradeIntent,
)
from engine.store import Database
from engine.store.rankings import RankingStore
from engine.store.schema import SCHEMA_VERSIONS

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
T0 = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z
INFY = "NSE:INFY"
TCS = "NSE:TCS"


# -- messages ---------------------------------------------------------------------------------


def order(
    coid: str = "o1",
    *,
    ts: int = T0,
    quantity: int = 10,
    side: OrderSide = OrderSide.BUY,
    instrument: str = INFY,
    strategy: str = "sma",
    price: str | None = "1500.05",
) -> SubmitOrder:
    return SubmitOrder(
        ts_event=ts,
        ts_init=ts + 1,
        client_order_id=coid,
        instrument=instrument,
        side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        quantity=quantity,
        price=Decimal(price) if price is not None else None,
        strategy=strategy,
        correlation_id=f"corr-{coid}",
    )


def fill(
    trade_id: str,
    coid: str = "o1",
    *,
    qty: int = 4,
    price: str = "1500.05",
    fee: str = "1.20",
    ts: int = T0 + SECOND,
    side: OrderSide = OrderSide.BUY,
    instrument: str = INFY,
    strategy: str = "sma",
) -> OrderFilled:
    return OrderFilled(
        ts_event=ts,
        ts_init=ts + 7,
        client_order_id=coid,
        venue_order_id=f"v-{coid}",
        trade_id=trade_id,
        instrument=instrument,
        strategy=strategy,
        side=side,
        last_qty=qty,
        last_price=Decimal(price),
        fee=Decimal(fee),
        currency="INR",
        correlation_id=f"corr-{coid}",
    )


def accepted(coid: str = "o1", ts: int = T0 + 500) -> OrderAccepted:
    return OrderAccepted(
        ts_event=ts,
        ts_init=ts,
        client_order_id=coid,
        venue_order_id=f"v-{coid}",
        instrument=INFY,
        strategy="sma",
        correlation_id=f"corr-{coid}",
    )


def submitted(coid: str = "o1", ts: int = T0 + 100) -> OrderSubmitted:
    return OrderSubmitted(
        ts_event=ts,
        ts_init=ts,
        client_order_id=coid,
        instrument=INFY,
        strategy="sma",
        correlation_id=f"corr-{coid}",
    )


def canceled(coid: str = "o1", ts: int = T0 + 2 * SECOND) -> OrderCanceled:
    return OrderCanceled(
        ts_event=ts,
        ts_init=ts,
        client_order_id=coid,
        venue_order_id=f"v-{coid}",
        instrument=INFY,
        strategy="sma",
        reason="entry timed out",
    )


def signal(i: int = 0, *, instrument: str = INFY, strategy: str = "sma") -> Signal:
    return Signal(
        ts_event=T0 + i * SECOND,
        ts_init=T0 + i * SECOND + 3,
        strategy=strategy,
        instrument=instrument,
        side=OrderSide.BUY,
        strength=0.75,
        entry=Decimal("1500.05"),
        stop=Decimal("1490.00"),
        features={"rsi": 28.5, "atr": 12.25},
        reason="rsi below 30",
        correlation_id=f"sig-{i}",
    )


def ranking(i: int = 0) -> SignalsRanked:
    return SignalsRanked(
        ts_event=T0 + i * SECOND,
        ts_init=T0 + i * SECOND,
        bar_close=T0 + i * SECOND,
        candidates=[
            RankedSignal(
                rank=1,
                strategy="sma",
                instrument=INFY,
                side=OrderSide.BUY,
                strength=0.75,
                score=1.5,
                contributions={"strength": 1.5},
                picked=True,
                correlation_id=f"sig-{i}",
                signal_ts=T0,
            )
        ],
        scoring=ScoringConfig(weights={"strength": 1.0}),
    )


def denial(i: int = 0, *, instrument: str = INFY) -> RiskDenied:
    return RiskDenied(
        ts_event=T0 + i * SECOND,
        ts_init=T0 + i * SECOND,
        code=RiskCode.FREEZE_QUANTITY,
        instrument=instrument,
        strategy="sma",
        message="quantity 1801 is above the freeze quantity 1800",
        figures={"quantity": "1801", "freeze_quantity": "1800"},
        correlation_id=f"sig-{i}",
    )


def position(i: int = 0, *, qty: int = 10, instrument: str = INFY) -> PositionChanged:
    return PositionChanged(
        ts_event=T0 + i * SECOND,
        ts_init=T0 + i * SECOND,
        instrument=instrument,
        strategy="sma",
        quantity=qty,
        avg_price=Decimal("1500.05"),
        realized_pnl=Decimal("-2.40"),
        currency="INR",
    )


def account(i: int = 0) -> AccountChanged:
    return AccountChanged(
        ts_event=T0 + i * SECOND,
        ts_init=T0 + i * SECOND,
        currency="INR",
        cash=Decimal("985000.50"),
        equity=Decimal("1000010.25"),
        realized_pnl=Decimal("-2.40"),
        unrealized_pnl=Decimal("12.65"),
        fees=Decimal("2.40"),
        open_positions=1,
    )


def state_changed(i: int = 0) -> TradingStateChanged:
    return TradingStateChanged(
        ts_event=T0 + i * SECOND,
        ts_init=T0 + i * SECOND,
        previous=TradingState.ACTIVE,
        state=TradingState.HALTED,
        reason="kill switch",
    )


# -- fixtures ---------------------------------------------------------------------------------


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "journal.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = Database(url(db_path))
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def writer(db: Database) -> Iterator[JournalWriter]:
    w = JournalWriter(db)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def reader(db: Database) -> JournalReader:
    return JournalReader(db)


def write_all(writer: JournalWriter, records: list[Any]) -> None:
    """Append every record, then wait for all of them (they succeed)."""
    futures = [writer.append(r) for r in records]
    for future in futures:
        future.result(10)


def rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read through a connection of its own: what another process would see."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, args).fetchall()


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another connection holding SQLite's write lock until it rolls back."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def wait_until(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    """Wait on a condition with a deadline (no sleeps: a bounded event wait per poll)."""
    idle = threading.Event()
    for _ in range(int(timeout_s * 1000)):
        if condition():
            return
        idle.wait(0.001)
    raise AssertionError(f"{what} did not hold within {timeout_s}s")


# -- the tables -------------------------------------------------------------------------------


def test_every_database_creates_the_journal_tables_with_their_version(db_path: Path) -> None:
    with Database(url(db_path)):
        pass
    tables = {name for (name,) in rows(db_path, "SELECT name FROM sqlite_master")}
    assert {
        "orders",
        "order_events",
        "fills",
        "position_snapshots",
        "account_snapshots",
        "signals",
        "rankings",
        "risk_denials",
        "commands",
        "audit_events",
        "candles",
    } <= tables
    assert SCHEMA_VERSIONS[COMPONENT] == 1
    assert rows(db_path, "SELECT version FROM schema_version WHERE component = ?", COMPONENT) == [
        (1,)
    ]


# -- orders -----------------------------------------------------------------------------------


def test_an_order_is_folded_from_its_events_exactly(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    sent = order(quantity=10)
    events: list[Message] = [
        sent,
        submitted(),
        accepted(),
        fill("t1", qty=3, price="1500.05", fee="1.20"),
        fill("t2", qty=4, price="1500.10", fee="1.30", ts=T0 + 2 * SECOND),
    ]
    write_all(writer, events)

    got = db.call(reader.order("o1"))
    assert got is not None
    assert got.order == sent
    assert got.status is OrderStatus.PARTIALLY_FILLED
    assert got.filled_qty == 7
    # (3 x 1500.05 + 4 x 1500.10) / 7, to 28 significant digits
    assert got.avg_price == Decimal("10500.55") / 7
    assert got.fees == Decimal("2.50")
    assert got.venue_order_id == "v-o1"
    assert (got.ts_created, got.ts_updated) == (T0, T0 + 2 * SECOND)
    assert got.open
    assert db.call(reader.order_events("o1")) == events

    write_all(writer, [fill("t3", qty=3, price="1500.00", ts=T0 + 3 * SECOND)])
    done = db.call(reader.order("o1"))
    assert done is not None
    assert done.status is OrderStatus.FILLED
    assert done.filled_qty == 10
    assert done.avg_price == Decimal("1500.055")
    assert not done.open
    assert db.call(reader.orders_open()) == []


def test_an_order_status_moves_forward_only(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    write_all(writer, [order(), fill("t1", qty=4), accepted(ts=T0 + 3 * SECOND)])
    late = db.call(reader.order("o1"))
    assert late is not None
    assert late.status is OrderStatus.PARTIALLY_FILLED  # the late ACCEPTED is only an event
    assert [type(e) for e in db.call(reader.order_events("o1"))][-1] is OrderAccepted

    write_all(writer, [canceled(), fill("t2", qty=6, ts=T0 + 4 * SECOND)])
    final = db.call(reader.order("o1"))
    assert final is not None
    assert final.status is OrderStatus.CANCELED  # terminal stays; the late fill still counts
    assert final.filled_qty == 10
    assert final.reason == "entry timed out"


def test_a_rejection_keeps_its_reason(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    rejected = OrderRejected(
        ts_event=T0 + 1,
        ts_init=T0 + 1,
        client_order_id="o1",
        instrument=INFY,
        strategy="sma",
        reason="insufficient funds: need 15000.50, have 100.00",
    )
    write_all(writer, [order(), rejected])
    got = db.call(reader.order("o1"))
    assert got is not None
    assert (got.status, got.reason) == (OrderStatus.REJECTED, rejected.reason)


def test_orders_and_fills_are_recorded_once_however_often_written(
    db_path: Path, db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    first = order()
    again = order()  # a restarted router writing the same order ahead again
    write_all(writer, [first, fill("t1"), again, fill("t1")])  # one batch or several
    write_all(writer, [again, fill("t1")])

    assert rows(db_path, "SELECT COUNT(*) FROM orders") == [(1,)]
    assert rows(db_path, "SELECT COUNT(*) FROM fills") == [(1,)]
    assert [type(e) for e in db.call(reader.order_events("o1"))] == [SubmitOrder, OrderFilled]
    got = db.call(reader.order("o1"))
    assert got is not None
    assert got.filled_qty == 4


def test_a_bracket_records_its_entry_as_the_order_and_itself_as_an_event(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    bracket = SubmitBracket(
        ts_event=T0,
        ts_init=T0,
        entry=order("b1"),
        exits=ExitPlan(stop=Decimal("1490.00"), target=Decimal("1520.00")),
        entry_timeout_ns=60 * SECOND,
    )
    write_all(
        writer,
        [
            bracket,
            CancelOrder(
                ts_event=T0 + 5,
                ts_init=T0 + 5,
                client_order_id="b1",
                instrument=INFY,
                strategy="sma",
                reason="manual",
            ),
        ],
    )
    got = db.call(reader.order("b1"))
    assert got is not None
    assert got.order == bracket.entry
    assert got.status is OrderStatus.NEW
    events = db.call(reader.order_events("b1"))
    assert events[0] == bracket
    assert isinstance(events[1], CancelOrder)


def test_an_event_of_an_order_never_written_ahead_is_kept(
    db_path: Path, db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    write_all(writer, [accepted("ghost"), fill("t9", "ghost")])
    assert db.call(reader.order("ghost")) is None
    assert [type(e) for e in db.call(reader.order_events("ghost"))] == [
        OrderAccepted,
        OrderFilled,
    ]
    assert db.call(reader.fills()) == [fill("t9", "ghost")]


def test_open_orders_are_what_may_still_fill_oldest_first(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    write_all(
        writer,
        [
            order("new", ts=T0 + 4),
            order("working", ts=T0 + 1),
            accepted("working"),
            order("part", ts=T0 + 2),
            fill("t1", "part", qty=1),
            order("done", ts=T0 + 3, quantity=4),
            fill("t2", "done", qty=4),
            order("gone", ts=T0 + 5),
            canceled("gone"),
        ],
    )
    opened = db.call(reader.orders_open())
    assert [o.client_order_id for o in opened] == ["working", "part", "new"]
    assert [o.status for o in opened] == [
        OrderStatus.ACCEPTED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.NEW,
    ]


# -- everything else reads back as written ----------------------------------------------------


def test_every_kind_of_record_reads_back_as_the_same_message(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    intent = TradeIntent(
        **{f: getattr(signal(2), f) for f in Signal.__struct_fields__},
        score=1.5,
        contributions={"strength": 1.5},
    )
    write_all(
        writer,
        [
            signal(1),
            intent,
            ranking(1),
            denial(1),
            position(1),
            account(1),
            state_changed(1),
            AuditRecord(
                kind="reconciliation",
                message="2 orders matched",
                detail={"matched": 2, "cash": Decimal("10.50")},
                ts_event=T0 + 9,
            ),
        ],
    )
    assert db.call(reader.signals()) == [intent, signal(1)]
    assert db.call(reader.rankings()) == [ranking(1)]
    assert db.call(RankingStore(db).read()) == [ranking(1)]  # the ranker's own store reads it
    assert db.call(reader.risk_denials()) == [denial(1)]
    assert db.call(reader.positions()) == [position(1)]
    assert db.call(reader.accounts()) == [account(1)]
    audit = db.call(reader.audit_events())
    assert [(a.kind, a.message) for a in audit] == [
        ("TradingStateChanged", "kill switch"),
        ("reconciliation", "2 orders matched"),
    ]
    assert audit[1].detail == {"matched": 2, "cash": "10.50"}
    assert msgspec.convert(audit[0].detail, TradingStateChanged) == state_changed(1)


def test_a_ranking_written_twice_is_kept_once(
    db_path: Path, db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    write_all(writer, [ranking(1)])
    db.call(RankingStore(db).write(ranking(1)))  # the ranker's store: the same row
    write_all(writer, [ranking(1)])
    assert rows(db_path, "SELECT COUNT(*) FROM rankings") == [(1,)]


def test_commands_are_recorded_with_their_outcome(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    body = {"reason": "kill switch", "instrument": None}
    asyncio.run(
        record_command(writer, command_id="c1", kind="flatten", who="ops", body=body, ts_event=T0)
    )
    assert [(c.command_id, c.outcome) for c in db.call(reader.commands())] == [("c1", None)]

    record_outcome_soon(writer, command_id="c1", outcome="accepted", ts_event=T0 + 5)
    writer.flush().result(10)
    again = CommandRecord(command_id="c1", kind="other", who="x", body=None, ts_event=T0 + 9)
    write_all(writer, [again, CommandOutcome(command_id="nobody", outcome="x", ts_event=T0)])
    [command] = db.call(reader.commands())
    assert (command.kind, command.who, command.body) == ("flatten", "ops", body)
    assert (command.outcome, command.ts_outcome) == ("accepted", T0 + 5)


# -- readers ----------------------------------------------------------------------------------


def test_readers_give_the_newest_first_within_limit_range_and_filters(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    write_all(writer, [signal(i, instrument=(INFY, TCS)[i % 2]) for i in range(10)])
    newest = db.call(reader.signals(limit=3))
    assert [s.correlation_id for s in newest] == ["sig-9", "sig-8", "sig-7"]
    ranged = db.call(reader.signals(start_ns=T0 + 2 * SECOND, end_ns=T0 + 5 * SECOND))
    assert [s.correlation_id for s in ranged] == ["sig-4", "sig-3", "sig-2"]
    infy = db.call(reader.signals(instrument=INFY, limit=2))
    assert [s.correlation_id for s in infy] == ["sig-8", "sig-6"]
    assert db.call(reader.signals(strategy="other")) == []
    assert db.call(reader.signals(limit=0)) == []
    with pytest.raises(ValueError, match="limit must be an int >= 0, got -1"):
        db.call(reader.signals(limit=-1))


def test_records_of_one_instant_come_back_later_recorded_first(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    same = [denial(0, instrument=i) for i in (INFY, TCS, "NSE:SBIN")]
    write_all(writer, same)
    assert db.call(reader.risk_denials()) == list(reversed(same))


def test_fills_since_replays_in_time_order_for_a_restart(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    late, early, middle = (fill(f"t{i}", ts=T0 + i * SECOND) for i in (3, 1, 2))
    write_all(writer, [order(), late, early, middle])
    assert db.call(reader.fills_since(T0)) == [early, middle, late]
    assert db.call(reader.fills_since(T0 + 2 * SECOND)) == [middle, late]
    assert db.call(reader.fills(limit=2)) == [late, middle]


def test_the_latest_position_of_each_instrument(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    write_all(
        writer,
        [
            position(1, qty=10),
            position(2, qty=5, instrument=TCS),
            position(3, qty=0),
            position(4, qty=-5, instrument=TCS),
        ],
    )
    assert db.call(reader.latest_positions()) == [
        position(3, qty=0),
        position(4, qty=-5, instrument=TCS),
    ]
    assert len(db.call(reader.positions(instrument=TCS))) == 2


def test_trades_are_round_trips_of_the_recorded_fills(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    write_all(
        writer,
        [
            fill("t1", qty=10, price="100.00", fee="1.00", ts=T0 + 1),
            fill("t2", qty=10, price="101.50", fee="1.00", ts=T0 + 2, side=OrderSide.SELL),
            fill("t3", qty=5, price="102.00", fee="0.50", ts=T0 + 3, side=OrderSide.SELL),
        ],
    )
    short, long = db.call(reader.trades())
    assert (long.side, long.quantity, long.pnl, long.net_pnl) == (
        OrderSide.BUY,
        10,
        Decimal("15.00"),
        Decimal("13.00"),
    )
    assert (short.side, short.quantity, short.closed, short.pnl) == (OrderSide.SELL, 5, False, None)
    assert db.call(reader.trades(limit=1)) == [short]


# -- round trips ------------------------------------------------------------------------------


def test_a_fill_through_flat_closes_one_trade_and_opens_the_next() -> None:
    trips = round_trips(
        [
            fill("a", qty=10, price="100.00", fee="3.00", ts=T0 + 1),
            fill("b", qty=15, price="110.00", fee="3.00", ts=T0 + 2, side=OrderSide.SELL),
            fill("c", qty=5, price="105.00", fee="0.00", ts=T0 + 3),
        ]
    )
    first, second = trips
    assert (first.quantity, first.exit_price, first.pnl) == (10, Decimal("110"), Decimal("100.00"))
    assert first.fees == Decimal("5.00")  # 3.00 + two thirds of 3.00
    assert second.side is OrderSide.SELL
    assert (second.quantity, second.entry_price, second.pnl) == (
        5,
        Decimal("110"),
        Decimal("25.00"),
    )
    assert second.fees == Decimal("1.00")
    assert first.fees + second.fees == Decimal("6.00")
    assert (first.fills, second.fills) == (2, 2)


def test_round_trips_are_per_instrument_whoever_closes_them() -> None:
    # The account's position is the truth: a second strategy's buy adds to the INFY trade,
    # and a sell by the risk supervisor (a kill switch, a square-off) closes it.
    trips = round_trips(
        [
            fill("a", qty=1, ts=T0 + 1),
            fill("b", qty=1, ts=T0 + 2, strategy="other"),
            fill("c", qty=1, ts=T0 + 3, instrument=TCS),
            fill("d", qty=2, ts=T0 + 4, side=OrderSide.SELL, price="1501.05", strategy="risk"),
        ]
    )
    assert [(t.instrument, t.strategy, t.closed) for t in trips] == [
        (INFY, "sma", True),
        (TCS, "sma", False),
    ]
    assert trips[0].pnl == Decimal("2.00")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 50).filter(bool), st.integers(100, 110)), max_size=30))
def test_closed_trades_add_up_to_the_cash_of_the_fills(moves: list[tuple[int, int]]) -> None:
    """If the book ends flat, the trades' P&L is the sells' cash minus the buys', their fees
    the fills' fees, and each fill's quantity is entered or exited once."""
    fills_made = [
        fill(
            f"t{i}",
            qty=abs(q),
            price=str(p),
            fee="0.07",
            ts=T0 + i,
            side=OrderSide.BUY if q > 0 else OrderSide.SELL,
        )
        for i, (q, p) in enumerate(moves)
    ]
    net = sum(q for q, _ in moves)
    if net:
        fills_made.append(
            fill(
                "flat",
                qty=abs(net),
                price="105",
                fee="0.07",
                ts=T0 + 1000,
                side=OrderSide.SELL if net > 0 else OrderSide.BUY,
            )
        )
    trips = round_trips(fills_made)
    assert all(t.closed for t in trips)
    cash = sum(
        (f.last_qty * f.last_price * (1 if f.side is OrderSide.SELL else -1) for f in fills_made),
        Decimal(0),
    )
    assert sum((t.pnl or Decimal(0) for t in trips), Decimal(0)) == cash
    assert sum((t.fees for t in trips), Decimal(0)) == Decimal("0.07") * len(fills_made)
    units = sum(f.last_qty for f in fills_made)
    assert sum(t.quantity + t.exit_quantity for t in trips) == units


# -- the writer: grouping ---------------------------------------------------------------------


def test_an_idle_writer_commits_a_record_at_once(db: Database) -> None:
    # With an hour's delay allowed, only the idle rule can commit it before the deadline.
    with JournalWriter(db, max_delay_ns=HOUR) as w:
        w.append(signal(1)).result(10)
        assert (w.stats().transactions, w.stats().records) == (1, 1)


def test_records_arriving_during_a_transaction_share_the_next_ones(
    db_path: Path, db: Database
) -> None:
    with JournalWriter(db, max_batch=40) as w:
        lock = hold_write_lock(db_path)  # the first transaction waits for it
        try:
            first = w.append(signal(0))
            wait_until(lambda: w.stats().in_flight == 1, "the first transaction started")
            rest = [w.append(signal(i)) for i in range(1, 100)]
        finally:
            lock.rollback()
            lock.close()
        for future in [first, *rest]:
            future.result(10)
        stats = w.stats()
    # 1, then 99 queued records in transactions of at most 40: 40, 40, 19.
    assert (stats.transactions, stats.records, stats.largest_batch) == (4, 100, 40)
    ids = rows(db_path, "SELECT correlation_id FROM signals ORDER BY id")
    assert [i for (i,) in ids] == [f"sig-{i}" for i in range(100)]  # in append order


def test_lazy_records_wait_for_company_and_an_eager_one_takes_them_along(
    db_path: Path, db: Database
) -> None:
    with JournalWriter(db, max_delay_ns=HOUR) as w:
        lazy = [w.append(signal(i), lazy=True) for i in range(3)]
        w.append(order()).result(10)
        assert all(f.done() for f in lazy)
        stats = w.stats()
    assert (stats.transactions, stats.largest_batch) == (1, 4)


def test_a_lazy_record_alone_is_committed_within_the_delay(db: Database) -> None:
    with JournalWriter(db, max_delay_ns=1_000_000) as w:
        w.append(signal(1), lazy=True).result(10)
        assert w.stats().records == 1


def test_a_full_batch_of_lazy_records_does_not_wait(db: Database) -> None:
    with JournalWriter(db, max_delay_ns=HOUR, max_batch=5) as w:
        futures = [w.append(signal(i), lazy=True) for i in range(5)]
        for future in futures:
            future.result(10)
        assert w.stats().transactions == 1


def test_flush_waits_for_what_was_appended_before_it(db_path: Path, db: Database) -> None:
    with JournalWriter(db, max_delay_ns=HOUR) as w:
        for i in range(7):
            assert w.append_unanswered(signal(i)) is None
        w.flush().result(10)
        assert rows(db_path, "SELECT COUNT(*) FROM signals") == [(7,)]


def test_appends_from_many_threads_are_all_written_in_each_threads_order(
    db_path: Path, db: Database
) -> None:
    with JournalWriter(db) as w:

        def produce(strategy: str) -> None:
            for i in range(50):
                w.append(signal(i, strategy=strategy), lazy=i % 2 == 0)

        threads = [threading.Thread(target=produce, args=(f"s{n}",)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        w.flush().result(10)
    for n in range(4):
        got = rows(
            db_path, "SELECT correlation_id FROM signals WHERE strategy = ? ORDER BY id", f"s{n}"
        )
        assert [c for (c,) in got] == [f"sig-{i}" for i in range(50)]


# -- the writer: failures ---------------------------------------------------------------------


def test_a_record_the_database_refuses_fails_alone(
    db_path: Path, db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(
            "CREATE TRIGGER no_fills BEFORE INSERT ON fills "
            "BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END"
        )
        conn.commit()
    lock = hold_write_lock(db_path)  # so the three go in one transaction
    try:
        futures = [writer.append(r) for r in (order(), fill("t1"), signal(1))]
    finally:
        lock.rollback()
        lock.close()
    ok_order, bad_fill, ok_signal = futures
    ok_order.result(10)
    ok_signal.result(10)
    with pytest.raises(sqlite3.IntegrityError, match="disk quota exceeded"):
        bad_fill.result(10)
    assert db.call(reader.fills()) == []
    assert db.call(reader.order_events("o1")) == [order()]  # nothing of the fill
    assert writer.stats().failed_records == 1

    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute("DROP TRIGGER no_fills")
        conn.commit()
    writer.append(fill("t1")).result(10)
    assert db.call(reader.fills()) == [fill("t1")]


def test_a_record_that_cannot_be_encoded_fails_at_once(writer: JournalWriter) -> None:
    bad = Signal(**{**{f: getattr(signal(1), f) for f in Signal.__struct_fields__},
                    "features": {"x": object()}})  # fmt: skip
    future = writer.append(bad)
    assert future.done()
    with pytest.raises(TypeError):
        future.result()
    not_a_record = writer.append("hello")
    with pytest.raises(TypeError, match="the journal records catalogue messages"):
        not_a_record.result()
    assert writer.append_unanswered(bad) is not None
    errors: list[str | None] = []
    writer.append_then(bad, errors.append)
    assert errors and errors[0] is not None and errors[0].startswith("TypeError")


def test_a_closed_writer_refuses_records_and_flushes_at_once(db: Database) -> None:
    w = JournalWriter(db)
    w.append(signal(1))
    w.close()
    assert w.stats().records == 1  # what was queued was written first
    with pytest.raises(JournalClosedError):
        w.append(signal(2)).result(1)
    assert w.append_unanswered(signal(2)) == "JournalClosedError: the journal writer is closed"
    assert w.flush().result(1) is None
    w.close()  # idempotent


def test_the_writer_refuses_what_it_cannot_work_with(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_batch must be an int >= 1, got 0"):
        JournalWriter(db, max_batch=0)
    with pytest.raises(ValueError, match="max_delay_ns must be an int >= 0"):
        JournalWriter(db, max_delay_ns=-1)
    with pytest.raises(ValueError, match="stall_after_ns must be an int > 0"):
        JournalWriter(db, stall_after_ns=0)
    with Database("sqlite+aiosqlite://") as memory, pytest.raises(ValueError, match="SQLite file"):
        JournalWriter(memory)


def resize(coid: str, quantity: int, ts: int) -> ModifyOrder:
    """The router's modify of a bracket's stop to ``quantity``."""
    return ModifyOrder(
        ts_event=ts,
        ts_init=ts,
        client_order_id=coid,
        instrument=INFY,
        strategy="sma",
        quantity=quantity,
        reason="bracket stop",
    )


def test_an_order_grown_by_a_modify_is_filled_only_at_its_new_quantity(
    db: Database, writer: JournalWriter, reader: JournalReader
) -> None:
    """The crash suite: a stop placed for 82 and grown to 84 was FILLED in the journal at 82
    while the venue had 2 units still working (the journal kept no modifies)."""
    grow = resize("o1", 12, T0 + 1)
    write_all(writer, [order("o1"), accepted("o1"), grow, fill("t1", qty=10)])

    [still_open] = db.call(reader.orders_open())
    assert (still_open.status, still_open.filled_qty) == (OrderStatus.PARTIALLY_FILLED, 10)

    write_all(writer, [fill("t2", qty=2)])
    assert db.call(reader.orders_open()) == []


def test_a_shrink_that_came_after_the_fill_leaves_the_filled_quantity(
    db_path: Path, writer: JournalWriter, reader: JournalReader, db: Database
) -> None:
    """The crash suite: a stop shrunk from 65 to 59 by a modify the venue got after it had
    filled all 65 read "65 filled of 59 ordered" in the journal."""
    shrink = resize("o1", 6, T0 + 2)
    write_all(writer, [order("o1"), accepted("o1"), shrink, fill("t1", qty=10)])

    with closing(sqlite3.connect(db_path)) as conn:
        row = conn.execute("SELECT quantity, filled_qty, status FROM orders").fetchone()
    assert row == (10, 10, "FILLED")
