"""A process killed with a bracket open, then started again on the same files (DESIGN §7).

The trading core as the service builds it (:func:`troupe.trading.trading_core`: journal, router,
risk, ledger on the real paper broker), on real SQLite files, under both runtimes. "kill -9":
the journal's writer is abandoned (what it had queued and not committed is lost), nothing is
flushed or closed gracefully, and a new runtime with new actors starts on the same journal and
paper-broker files. The paper broker's own book survives, as a real broker's would.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.trading_control import NAME as TRADING
from adapters.paper import PaperBroker
from engine.config.load import load_config
from engine.config.schema import TroupeConfig
from engine.journal.reader import JournalReader
from engine.ledger.describe import DescribeLedger, LedgerSnapshot
from engine.messages.feed import TOPIC_ALERTS
from engine.messages.market import TradeTick
from engine.messages.orders import TOPIC_FILLS, TOPIC_ORDERS, CancelAllOrders
from engine.messages.ranking import TOPIC_POSITIONS
from engine.messages.reconciliation import (
    TOPIC_RECONCILIATION,
    OrderDifferenceKind,
    PositionDifference,
    ReconciliationReport,
)
from engine.messages.runtime import TradingState
from engine.messages.trading import (
    HaltTrading,
    OrderCanceled,
    OrderFilled,
    OrderSide,
    OrderStatus,
    OrderType,
    PauseTrading,
    ResumeTrading,
    TradeIntent,
)
from engine.orders import DescribeOrders, OrdersReport, RouterAnswer
from engine.risk.messages import DescribeRisk, RiskReport
from engine.spec import SupervisorSpec
from engine.store import Database
from engine.testing import SECOND, Capture, Driver, make_runtime
from tests.paper_support import ManualScheduler, RecordingEvents, instrument, order
from troupe.trading import TradingCore, paper_broker, trading_control, trading_core

INFY = "NSE:INFY"
INSTRUMENTS = {INFY: instrument(INFY)}
START_NS = 1_795_000_000 * SECOND
CID = "sma:NSE:INFY:1795000000:1"
ENTRY = f"{CID}:entry"
STOP, TARGET = f"{ENTRY}:stop", f"{ENTRY}:target"


def settings(data_dir: Path, kind: str) -> TroupeConfig:
    return load_config(
        [],
        env={
            "TROUPE__DATA_DIR": str(data_dir),
            "TROUPE__RUNTIME__KIND": kind,
            "TROUPE__RISK__SIZING": "fixed_qty",
            "TROUPE__RISK__SIZING_QUANTITY": "10",
        },
    )


@dataclasses.dataclass
class Engine:
    """One process's trading core on ``data_dir``."""

    kind: str
    data_dir: Path
    driver: Driver
    core: TradingCore
    database: Database
    capture: Capture

    @property
    def runtime(self) -> Any:
        return self.driver.runtime

    def now(self) -> int:
        return int(self.runtime.now_ns())

    def trade(self, price: str) -> None:
        """A trade prints: the paper broker fills what it fills, risk marks the price."""
        now = self.now()
        tick = TradeTick(ts_event=now, ts_init=now, instrument=INFY, price=float(price), size=1e4)
        self.runtime.publish(f"ticks:{INFY}", tick)
        self.driver.settle()

    def report(self) -> ReconciliationReport:
        reports = self.capture.messages(TOPIC_RECONCILIATION, ReconciliationReport)
        assert len(reports) == 1, reports
        report: ReconciliationReport = reports[0]
        return report

    def orders(self) -> OrdersReport:
        answer = self.runtime.ask("router", DescribeOrders(ts_event=0, ts_init=0))
        assert isinstance(answer, OrdersReport)
        return answer

    def risk(self) -> RiskReport:
        answer = self.runtime.ask("risk", DescribeRisk(ts_event=0, ts_init=0))
        assert isinstance(answer, RiskReport)
        return answer

    def broker_open(self) -> list[str]:
        return [str(o.client_order_id) for o in self.core.broker.open_orders()]

    def ledger(self) -> LedgerSnapshot:
        snapshot = self.runtime.ask("ledger", DescribeLedger(curve_tail=0))
        assert isinstance(snapshot, LedgerSnapshot)
        return snapshot

    def ledger_position(self) -> int:
        """The ledger's position in INFY now (asked: a ledger that netted a fill in its
        replay announces no change for it)."""
        held = [p.quantity for p in self.ledger().positions if p.instrument == INFY]
        return held[0] if held else 0

    def wait(self, condition: Any, what: str) -> None:
        self.driver.wait_for(condition, timeout_s=20.0, what=what)

    def kill(self) -> None:
        """What ``kill -9`` leaves: the journal's queue is lost, nothing is closed in order."""
        self.core.writer.abandon()
        if not self.driver.simulated:
            self.driver.stop()  # its threads must end; the journal is already gone
        self.core.broker.disconnect()
        self.core.broker.close()
        self.database.close()

    def stop(self) -> None:
        self.driver.stop()
        self.core.close()
        self.database.close()


def start(kind: str, data_dir: Path, start_ns: int = START_NS) -> Engine:
    """Start the trading core on ``data_dir``; return once it has reconciled."""
    config = settings(data_dir, kind)
    options = {"start_ns": start_ns, "seed": 1} if kind == "simulated" else {}
    runtime = make_runtime(kind, **options)
    database = Database(f"sqlite+aiosqlite:///{data_dir / 'troupe.db'}")
    core = trading_core(config, runtime, database, INSTRUMENTS, simulated_market=True)
    core.attach(runtime, [INFY])
    capture = Capture(
        runtime, [TOPIC_RECONCILIATION, TOPIC_ALERTS, TOPIC_FILLS, TOPIC_ORDERS, TOPIC_POSITIONS]
    )
    driver = Driver(runtime)
    driver.start(SupervisorSpec("root", [trading_control(runtime, core), *core.specs]))
    engine = Engine(kind, data_dir, driver, core, database, capture)
    engine.wait(lambda: bool(capture.messages(TOPIC_RECONCILIATION)), "reconciled")
    return engine


@pytest.fixture
def kind(driver: Driver) -> Iterator[str]:
    """The runtime kind of this run (each test starts its own runtimes of that kind)."""
    yield "simulated" if driver.simulated else "threaded"


def intent(now: int) -> TradeIntent:
    return TradeIntent(
        ts_event=now,
        ts_init=now,
        strategy="sma",
        instrument=INFY,
        side=OrderSide.BUY,
        strength=0.9,
        stop=Decimal("95.00"),
        target=Decimal("110.00"),
        correlation_id=CID,
        score=1.0,
    )


def open_bracket(engine: Engine) -> None:
    """Enter long 10 through risk; return once the stop and the target work at the broker."""
    engine.trade("100.00")
    engine.driver.send("risk", intent(engine.now()))
    engine.wait(lambda: bool(engine.broker_open()), "the entry at the broker")
    engine.trade("100.05")  # the market entry fills
    engine.wait(lambda: sorted(engine.broker_open()) == sorted([STOP, TARGET]), "exits working")
    engine.wait(lambda: engine.ledger_position() == 10, "the ledger long 10")


def paper_orders(data_dir: Path) -> list[tuple[str, str]]:
    """Every order the paper broker was ever sent: (client order id, status)."""
    with closing(sqlite3.connect(data_dir / "paper_broker.db")) as conn:
        rows = conn.execute("SELECT client_order_id, status FROM paper_orders ORDER BY seq")
        return [(str(cid), str(status)) for cid, status in rows]


def journaled_fills(data_dir: Path) -> list[str]:
    with Database(f"sqlite+aiosqlite:///{data_dir / 'troupe.db'}") as database:
        return [f.trade_id for f in database.call(JournalReader(database).fills_since(0))]


def broker_alone(data_dir: Path, kind: str, now_ns: int) -> tuple[PaperBroker, RecordingEvents]:
    """The paper broker's book on its own, while no engine runs (the venue carries on)."""
    broker = paper_broker(settings(data_dir, kind), INSTRUMENTS.get, simulated_market=True)
    events = RecordingEvents()
    broker.connect(events, ManualScheduler(now_ns))
    return broker, events


# -- the scenarios -----------------------------------------------------------------------------


def test_a_bracket_survives_a_kill_and_its_stop_fills_once_after(kind: str, tmp_path: Path) -> None:
    first = start(kind, tmp_path)
    assert first.report().in_agreement and first.report().restored_orders == 0
    open_bracket(first)
    first.kill()

    second = start(kind, tmp_path, START_NS + 120 * SECOND)
    try:
        # The router knows the orders and the bracket again; nothing was sent twice.
        report = second.report()
        assert report.in_agreement, report
        assert (report.restored_orders, report.restored_brackets) == (2, 1)
        assert second.capture.messages(TOPIC_ALERTS) == []
        views = {view.client_order_id: view for view in second.orders().orders}
        assert views[ENTRY].status is OrderStatus.FILLED and views[ENTRY].filled_qty == 10
        assert (views[STOP].status, views[STOP].bracket, views[STOP].role) == (
            OrderStatus.ACCEPTED,
            ENTRY,
            "stop",
        )
        assert (views[TARGET].status, views[TARGET].role) == (OrderStatus.ACCEPTED, "target")
        assert views[STOP].trigger_price == Decimal("95.00")
        assert [cid for cid, _ in paper_orders(tmp_path)] == [ENTRY, STOP, TARGET]
        # Risk counts today's trade and the open one (the ledger announced its position).
        second.wait(lambda: second.risk().usage.open_trades == 1, "risk sees the position")
        assert second.risk().usage.trades_today == 1

        second.trade("94.00")  # the stop is hit
        second.wait(lambda: second.broker_open() == [], "the target canceled (OCO)")
        second.wait(lambda: second.ledger_position() == 0, "the ledger flat")

        fills = second.capture.messages(TOPIC_FILLS, OrderFilled)
        assert [f.client_order_id for f in fills] == [STOP]
        assert second.ledger().fills == 2  # the entry replayed, the stop live: once each
        canceled = second.capture.messages(TOPIC_ORDERS, OrderCanceled)
        assert [c.client_order_id for c in canceled] == [TARGET]
        assert paper_orders(tmp_path) == [
            (ENTRY, "FILLED"),
            (STOP, "FILLED"),
            (TARGET, "CANCELED"),
        ]
        assert list(second.core.broker.positions()) == []
        broker_fills = [str(f["trade_id"]) for f in second.core.broker.stored_fills()]
        counts = second.orders().counts
        assert (counts.resends, counts.duplicate_submits) == (0, 0)
    finally:
        second.stop()
    assert sorted(journaled_fills(tmp_path)) == sorted(broker_fills) and len(broker_fills) == 2


def test_a_stop_filled_while_the_engine_was_down_is_recovered_once(
    kind: str, tmp_path: Path
) -> None:
    first = start(kind, tmp_path)
    open_bracket(first)
    down_at = first.now() + SECOND
    first.kill()
    # The broker carries on while the engine is down: its stop is hit.
    broker, _ = broker_alone(tmp_path, kind, down_at)
    broker.on_trade(
        TradeTick(ts_event=down_at, ts_init=down_at, instrument=INFY, price=94.0, size=1e4)
    )
    assert [o.client_order_id for o in broker.open_orders()] == [TARGET]
    broker.close()

    second = start(kind, tmp_path, START_NS + 120 * SECOND)
    try:
        report = second.report()
        assert report.in_agreement, report
        second.wait(lambda: second.broker_open() == [], "the target canceled (OCO)")
        second.wait(lambda: second.ledger_position() == 0, "the ledger flat")
        fills = second.capture.messages(TOPIC_FILLS, OrderFilled)
        assert [(f.client_order_id, f.last_qty) for f in fills] == [(STOP, 10)]
        assert fills[0].strategy == "sma" and fills[0].correlation_id == CID
        assert second.ledger().fills == 2  # replayed or heard: netted once
        assert [cid for cid, _ in paper_orders(tmp_path)] == [ENTRY, STOP, TARGET]
        broker_fills = [str(f["trade_id"]) for f in second.core.broker.stored_fills()]
    finally:
        second.stop()
    assert sorted(journaled_fills(tmp_path)) == sorted(broker_fills)


def test_orders_and_positions_the_engine_never_made_are_reported_not_touched(
    kind: str, tmp_path: Path
) -> None:
    now = START_NS
    broker, _ = broker_alone(tmp_path, kind, now)
    broker.on_trade(TradeTick(ts_event=now, ts_init=now, instrument=INFY, price=100.0, size=1e4))
    broker.submit(
        order("by-hand-1", OrderSide.BUY, 5, OrderType.LIMIT, price="50.00", instrument=INFY)
    )
    broker.submit(order("by-hand-2", OrderSide.BUY, 5, instrument=INFY))
    later = now + SECOND
    broker.on_trade(
        TradeTick(ts_event=later, ts_init=later, instrument=INFY, price=100.0, size=1e4)
    )
    assert [p.quantity for p in broker.positions()] == [5]
    broker.close()

    engine = start(kind, tmp_path, now + 2 * SECOND)
    try:
        report = engine.report()
        assert not report.in_agreement
        assert [(d.kind, d.client_order_id) for d in report.order_differences] == [
            (OrderDifferenceKind.UNKNOWN_TO_ENGINE, "by-hand-1")
        ]
        assert report.position_differences == [
            PositionDifference(instrument=INFY, engine_quantity=0, venue_quantity=5)
        ]
        assert engine.capture.messages(TOPIC_ALERTS) == [report]
        # Not touched, not even by a cancel-all: the engine cancels only its own orders.
        answer = engine.runtime.ask("router", CancelAllOrders(ts_event=0, ts_init=0, reason="test"))
        assert isinstance(answer, RouterAnswer) and answer.canceled == []
        engine.driver.settle()
        assert engine.broker_open() == ["by-hand-1"]
    finally:
        engine.stop()


def test_a_clean_stop_and_start_reconciles_without_differences(kind: str, tmp_path: Path) -> None:
    first = start(kind, tmp_path)
    open_bracket(first)
    first.stop()

    second = start(kind, tmp_path, START_NS + 60 * SECOND)
    try:
        report = second.report()
        assert report.in_agreement and report.restored_orders == 2
        assert report.venue_open_orders == 2 and report.venue_positions == 1
    finally:
        second.stop()


def exit_intent(now: int) -> TradeIntent:
    """The strategy's exit signal for the long (an exit-only SELL)."""
    return msgspec.structs.replace(
        intent(now),
        side=OrderSide.SELL,
        stop=None,
        target=None,
        exit_only=True,
        correlation_id="sma:NSE:INFY:1795000100:1",
    )


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_bracket_closed_by_an_exit_signal_stays_closed_after_a_restart(
    kind: str, tmp_path: Path, how: str
) -> None:
    """Issue 12, defect 1: the exit that closed a bracket's position was not attributed to
    it and its release was not journaled, so every restart placed its stop and target again
    (``:stop.2``, ``:target.2``) and the stop opened a naked short."""
    first = start(kind, tmp_path)
    open_bracket(first)
    first.driver.send("risk", exit_intent(first.now()))
    exit_id = "sma:NSE:INFY:1795000100:1:exit"
    first.wait(lambda: first.broker_open() == [exit_id], "the stop and target canceled")
    first.trade("101.00")  # the exit fills
    first.wait(lambda: first.ledger_position() == 0, "the ledger flat")
    sent_before = [cid for cid, _ in paper_orders(tmp_path)]
    assert len(sent_before) == 4, sent_before  # entry, stop, target, the exit
    if how == "kill":
        first.kill()
    else:
        first.stop()

    second = start(kind, tmp_path, START_NS + 120 * SECOND)
    try:
        report = second.report()
        second.trade("99.00")  # a price the stop's trigger (95) would not see ...
        second.trade("90.00")  # ... and one it would: nothing may fill
        second.driver.settle()
        assert report.in_agreement, report
        assert report.restored_brackets == 0
        assert [cid for cid, _ in paper_orders(tmp_path)] == sent_before
        assert list(second.core.broker.positions()) == []
        assert second.ledger_position() == 0
    finally:
        second.stop()


@pytest.mark.parametrize(
    ("command", "kept"),
    [
        (HaltTrading(ts_event=0, ts_init=0, reason="by hand"), TradingState.HALTED),
        (PauseTrading(ts_event=0, ts_init=0, reason="lunch"), TradingState.REDUCING),
    ],
)
def test_a_halt_or_a_pause_survives_a_restart_until_a_person_resumes(
    kind: str, tmp_path: Path, command: Any, kept: TradingState
) -> None:
    """Issue 12, defect 2: after a halt (or a pause) and a restart the state was ACTIVE and
    the strategies bought again."""
    first = start(kind, tmp_path)
    assert first.runtime.ask(TRADING, command) is kept
    first.wait(lambda: first.risk().state is kept, "risk follows")
    first.driver.settle()
    first.core.writer.flush().result(10)  # the lazy record committed, as it is within ms
    first.kill()

    second = start(kind, tmp_path, START_NS + 120 * SECOND)
    try:
        assert second.runtime.trading_state is kept
        assert second.risk().state is kept
        second.trade("100.00")
        second.driver.send("risk", intent(second.now()))
        second.driver.settle()
        assert second.broker_open() == [], "an entry went out"
        resumed = second.runtime.ask(TRADING, ResumeTrading(ts_event=0, ts_init=0, reason="back"))
        assert resumed is TradingState.ACTIVE
    finally:
        second.stop()

    third = start(kind, tmp_path, START_NS + 240 * SECOND)
    try:
        assert third.runtime.trading_state is TradingState.ACTIVE  # the resume was kept too
    finally:
        third.stop()
