"""Risk and the paper broker judge an entry's funds by one rule (issue 12: risk sized entries
the paper broker then rejected for insufficient funds).

The trading core as the service builds it (:func:`troupe.trading.trading_core`), under both
runtimes, on real SQLite files: with fees, risk counts the order's charges by the broker's
own fee model; with ``[risk] leverage``, the paper broker lends that margin. Whatever risk
approves, the broker takes; what the broker would refuse, risk refuses first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.config.load import load_config
from engine.messages.market import TradeTick
from engine.messages.orders import TOPIC_ORDERS
from engine.messages.risk import TOPIC_RISK, RiskCode, RiskDenied
from engine.messages.trading import OrderRejected, OrderSide, SubmitOrder
from engine.spec import SupervisorSpec
from engine.store import Database
from engine.testing import SECOND, Capture, Driver, make_runtime
from tests.paper_support import instrument, order
from troupe.trading import trading_control, trading_core

INFY = "NSE:INFY"
START_NS = 1_795_000_000 * SECOND


@pytest.fixture
def kind(driver: Driver) -> Iterator[str]:
    yield "simulated" if driver.simulated else "threaded"


def start(kind: str, data_dir: Path, **env: str) -> tuple[Driver, Any, Database, Capture]:
    config = load_config(
        [],
        env={
            "TROUPE__DATA_DIR": str(data_dir),
            "TROUPE__RUNTIME__KIND": kind,
            "TROUPE__PAPER__STARTING_CASH": "10000",
            # Only the funds decide here.
            "TROUPE__RISK__RISK_PER_TRADE_PCT": "100",
            "TROUPE__RISK__MAX_PORTFOLIO_HEAT_PCT": "0",
            **env,
        },
    )
    options = {"start_ns": START_NS, "seed": 1} if kind == "simulated" else {}
    runtime = make_runtime(kind, **options)
    database = Database(f"sqlite+aiosqlite:///{data_dir / 'troupe.db'}")
    core = trading_core(config, runtime, database, {INFY: instrument(INFY)}, simulated_market=True)
    core.attach(runtime, [INFY])
    capture = Capture(runtime, [TOPIC_RISK, TOPIC_ORDERS])
    driver = Driver(runtime)
    driver.start(SupervisorSpec("root", [trading_control(runtime, core), *core.specs]))
    tick = TradeTick(ts_event=START_NS, ts_init=START_NS, instrument=INFY, price=100.0, size=1e4)
    runtime.publish(f"ticks:{INFY}", tick)
    driver.settle()
    return driver, core, database, capture


def buy(quantity: int, n: int) -> SubmitOrder:
    source = order(f"manual:{n}", OrderSide.BUY, quantity, correlation_id=f"manual:{n}")
    return SubmitOrder(
        ts_event=START_NS,
        ts_init=START_NS,
        client_order_id=source.client_order_id,
        instrument=INFY,
        side=OrderSide.BUY,
        order_type=source.order_type,
        quantity=quantity,
        strategy="manual",
        correlation_id=source.correlation_id,
    )


@pytest.mark.parametrize(
    ("env", "too_many", "fits"),
    [
        # 0.1 % fees: 100 x 100.00 = 10,000 + 10.00 fees > 10,000 cash; 99 fit.
        ({"TROUPE__PAPER__FEES": "percentage", "TROUPE__PAPER__FEE_RATE": "0.001"}, 100, 99),
        # 2x margin: 200 x 100.00 = 20,000 fits; 201 does not.
        ({"TROUPE__RISK__LEVERAGE": "2", "TROUPE__PAPER__FEES": "zero"}, 201, 200),
    ],
)
def test_what_risk_approves_the_broker_takes(
    kind: str, tmp_path: Path, env: dict[str, str], too_many: int, fits: int
) -> None:
    driver, core, database, capture = start(kind, tmp_path, **env)
    try:
        refused = driver.runtime.ask("risk", buy(too_many, 1))
        assert isinstance(refused, RiskDenied), refused
        assert refused.code is RiskCode.INSUFFICIENT_CASH

        sent = driver.runtime.ask("risk", buy(fits, 2))
        assert isinstance(sent, SubmitOrder), sent
        driver.wait_for(
            lambda: any(o.client_order_id == "manual:2" for o in core.broker.open_orders()),
            what="the broker took the order",
        )
        driver.settle()
        rejected = capture.messages(TOPIC_ORDERS, OrderRejected)
        assert rejected == [], rejected  # the broker never said "insufficient funds"
        assert [d.code for d in capture.messages(TOPIC_RISK, RiskDenied)] == [
            RiskCode.INSUFFICIENT_CASH
        ]
    finally:
        driver.stop()
        core.close()
        database.close()
