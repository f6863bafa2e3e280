"""An end-to-end paper session on the simulated market and runtime, wired as the service wires
it: sim market → feed → bars → strategies → ranker → risk → router → paper broker → ledger, with
the journal written ahead. Deterministic, every fill in the journal, and the ledger's positions
equal to the paper broker's own book."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.config.load import load_config
from engine.journal.reader import JournalReader
from engine.messages.account import TOPIC_ACCOUNT, AccountChanged
from engine.messages.orders import TOPIC_FILLS, TOPIC_ORDERS
from engine.messages.ranking import TOPIC_POSITIONS
from engine.messages.trading import OrderFilled, PositionChanged
from engine.simulated import SimulatedRuntime
from engine.store import Database
from engine.testing import SECOND, Capture
from troupe.decisions import decisions
from troupe.market import market_data
from troupe.service import actor_tree
from troupe.trading import trading_core

START_NS = 1_795_000_000 * SECOND  # 2026-11-19, an arbitrary fixed start
RUN_S = 150
"""Long enough for a few round trips, ending with a position open (seen: TCS long)."""


def run_session(data_dir: Path) -> dict[str, Any]:
    """Run the paper session; return what was published and what was stored."""
    config = load_config(
        [],
        env={
            "TROUPE__DATA_DIR": str(data_dir),
            "TROUPE__MARKET__SIM__TICKS_PER_SECOND": "40",
            "TROUPE__RUNTIME__KIND": "simulated",
        },
    )
    runtime = SimulatedRuntime(start_ns=START_NS, seed=3)
    market = market_data(config, runtime)
    assert market.database is not None
    middle = decisions(config, runtime, market)
    core = trading_core(
        config,
        runtime,
        market.database,
        market.master,
        simulated_market=True,
        prices=market.prices,
    )
    core.attach(runtime, market.instruments)
    capture = Capture(runtime, [TOPIC_FILLS, TOPIC_ORDERS, TOPIC_POSITIONS, TOPIC_ACCOUNT])
    try:
        tree = actor_tree(config, lambda _batch: None, market.specs, middle.specs, core.specs)
        runtime.start(tree)
        runtime.advance(RUN_S * SECOND)
        runtime.stop()
        broker_positions = {p.instrument: p.quantity for p in core.broker.positions()}
        broker_cash = core.broker.cash
        broker_fills = [str(f["trade_id"]) for f in core.broker.stored_fills()]
    finally:
        core.close()
        market.close()
    with Database(f"sqlite+aiosqlite:///{data_dir / 'troupe.db'}") as database:
        journaled = database.call(JournalReader(database).fills_since(0))
    return {
        "fills": capture.messages(TOPIC_FILLS, OrderFilled),
        "orders": [type(m).__name__ for m in capture.messages(TOPIC_ORDERS)],
        "positions": capture.messages(TOPIC_POSITIONS, PositionChanged),
        "accounts": capture.messages(TOPIC_ACCOUNT, AccountChanged),
        "journaled": journaled,
        "broker_positions": broker_positions,
        "broker_cash": broker_cash,
        "broker_fills": broker_fills,
    }


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    first = run_session(tmp_path_factory.mktemp("first"))
    second = run_session(tmp_path_factory.mktemp("second"))
    return first, second


def test_the_session_trades(sessions: tuple[dict[str, Any], dict[str, Any]]) -> None:
    first, _ = sessions
    assert len(first["fills"]) >= 2, first["orders"]
    assert "OrderSubmitted" in first["orders"] and "OrderAccepted" in first["orders"]


def test_every_fill_is_in_the_journal(sessions: tuple[dict[str, Any], dict[str, Any]]) -> None:
    first, _ = sessions
    published = sorted(f.trade_id for f in first["fills"])
    journaled = sorted(f.trade_id for f in first["journaled"])
    assert published == journaled == sorted(first["broker_fills"])


def test_the_ledger_agrees_with_the_paper_brokers_book(
    sessions: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    first, _ = sessions
    latest: dict[str, int] = {}
    for change in first["positions"]:
        if change.strategy is None:
            latest[change.instrument] = change.quantity
    held = {i: q for i, q in latest.items() if q}
    assert held, "the session should end with a position open"
    assert held == {i: q for i, q in first["broker_positions"].items() if q}
    # Cash: the ledger's last account against the broker's book, to the paisa.
    assert first["accounts"][-1].cash == Decimal(first["broker_cash"]).quantize(Decimal("0.01"))


def test_the_same_inputs_give_the_same_session(
    sessions: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    first, second = sessions

    def fills(session: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (f.ts_event, f.client_order_id, f.trade_id, f.side, f.last_qty, f.last_price, f.fee)
            for f in session["fills"]
        ]

    assert fills(first) == fills(second)
    assert first["orders"] == second["orders"]
