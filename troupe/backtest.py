"""A backtest: the engine's own actors on the simulated runtime over a CSV of bars.

The path is the live one (DESIGN §8): the CSV replay feeds the feed actor, whose bars reach
the strategy host, the ranker, risk, the order router, the paper broker (filling on bars) and
the ledger; the journal runs ``DEFERRED`` (a rerun rebuilds it, so no commit waits). The
simulated clock jumps from bar to bar.

Fill rules (the paper broker's ``fill_on = "bar"``): a market order created on bar t's close
fills at bar t+1's open; an order created on the last bar never fills. When data ends, open
positions are reported and marked to the last close, not closed.

This module runs the one-instrument form (:class:`BacktestRun`); ``troupe backtest`` builds
one from its options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from actors.bar_aggregator import bars_topic
from actors.feed import Feed, FeedConfig
from actors.journal import Journal
from actors.ledger import Ledger
from actors.order_router import order_router_spec
from actors.ranker import Ranker
from actors.risk import RiskSupervisor
from actors.strategies import strategy_class
from actors.strategy_host import StrategyPlan, decode_params
from adapters.paper.broker import PaperBroker
from adapters.paper.config import PaperBrokerConfig
from adapters.replay import BarRow, CsvReplay, CsvSource, check_csv, read_csv
from engine.backtest.report import (
    Report,
    build_report,
    write_equity_csv,
    write_fills_csv,
    write_orders_csv,
    write_report,
)
from engine.calendars import AlwaysOpenCalendar
from engine.fees.config import FeeConfig
from engine.instruments import Instrument
from engine.journal.records import JournalMode
from engine.journal.writer import JournalWriter
from engine.ledger.equity_curve import EquityPoint
from engine.messages.market import Bar
from engine.messages.orders import TOPIC_FILLS
from engine.messages.ranking import Penalties, ScoringConfig
from engine.messages.trading import OrderFilled
from engine.orders.config import RateLimit, RouterConfig
from engine.orders.describe import DescribeOrders
from engine.risk.limits import RiskLimits, checks_off
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.store.database import Database
from engine.strategy_vault import StrategyVault
from troupe.backtest_html import write_backtest_html
from troupe.strategies import HostServices, strategies_supervisor

_DAY_NS = 86_400 * 1_000_000_000
CALENDAR = "ALWAYS"
"""Bars read from a file are taken to be inside the trading session."""


@dataclass(frozen=True)
class BacktestRun:
    """A one-instrument backtest."""

    data: Path
    instrument: str
    strategy: str
    out: Path
    params: Mapping[str, Any] = field(default_factory=dict)
    qty: int = 1
    cash: Decimal = Decimal("100000")
    fees: str = "zero"
    timezone: str = "UTC"
    currency: str = "INR"
    risk: bool = True
    """False: every risk check off but available cash."""
    stop_loss_pct: float = 0.0
    """Each entry's protective stop this % from its fill price; 0: none."""
    seed: int = 0


@dataclass
class BacktestResult:
    report: Report
    fills: list[OrderFilled]
    bars: int
    files: list[Path]


def run_backtest(run: BacktestRun) -> BacktestResult:
    """Run ``run``; write ``report.json``, ``equity.csv``, ``fills.csv``, ``orders.csv`` and
    ``report.html`` into ``run.out``.
    Raises ``ValueError`` naming a bad option, ``ReplayError`` for a bad file."""
    run.out.mkdir(parents=True, exist_ok=True)
    if run.qty < 1:
        raise ValueError(f"--qty must be a whole number of units >= 1, got {run.qty}")
    strategy = strategy_class(run.strategy)
    params = decode_params(strategy, dict(run.params))
    source = CsvSource(path=str(run.data), instrument=run.instrument, tz=run.timezone)
    bars = _bars_of(source)
    interval = bars[0].interval
    instrument = Instrument(
        id=run.instrument,
        symbol=run.instrument.rpartition(":")[2],
        exchange=run.instrument.rpartition(":")[0] or "BACKTEST",
        currency=run.currency,
        tick_size=Decimal("0.01"),
        time_zone=run.timezone,
        calendar=CALENDAR,
    )
    runtime = SimulatedRuntime(start_ns=bars[0].ts_event, seed=run.seed)
    for name in ("journal.db", "paper.db"):  # a run starts from nothing (WAL files too)
        for suffix in ("", "-wal", "-shm"):
            (run.out / f"{name}{suffix}").unlink(missing_ok=True)
    database = Database(f"sqlite+aiosqlite:///{run.out / 'journal.db'}")
    writer = JournalWriter(database)
    broker = PaperBroker(
        PaperBrokerConfig(
            database_url=f"sqlite+aiosqlite:///{run.out / 'paper.db'}",
            fill_on="bar",
            starting_cash=run.cash,
            currency=run.currency,
            fees=FeeConfig(model=run.fees),
        ),
        instruments={run.instrument: instrument}.get,
    )
    points: list[EquityPoint] = []
    fills: list[OrderFilled] = []
    runtime.add_listener(TOPIC_FILLS, lambda _t, m: fills.append(m))
    runtime.add_listener(bars_topic(run.instrument), lambda _t, m: _feed_broker(broker, m))
    plan = StrategyPlan(strategy.name, strategy, params, run.instrument, interval)
    tree = SupervisorSpec(
        "root",
        [
            ActorSpec("journal", lambda: Journal(writer, mode=JournalMode.DEFERRED)),
            order_router_spec(
                broker,
                runtime,
                config=RouterConfig(rate_limit=RateLimit(orders_per_s=1e9, burst=10**9)),
                instruments={run.instrument: instrument}.get,
            ),
            ActorSpec(
                "risk",
                lambda: RiskSupervisor(
                    _limits(run),
                    {run.instrument: instrument},
                    equity=run.cash,
                    calendars={CALENDAR: AlwaysOpenCalendar()},
                    price_topics=("bars:*",),
                ),
            ),
            ActorSpec(
                "ledger",
                lambda: Ledger(
                    run.cash,
                    run.currency,
                    mark_sources=("bars",),
                    mark_interval_ns=0,
                    per_strategy=False,
                    time_zone=run.timezone,
                    equity_sink=points.append,
                ),
            ),
            ActorSpec(
                "ranker",
                lambda: Ranker(
                    ScoringConfig(weights={"strength": 1.0}, penalties=Penalties(), top_n=1000),
                    # At the bar's close itself: the order then reaches the broker at the next
                    # bar's open instant, and fills at that open.
                    settle_ns=0,
                    risk="risk",
                ),
            ),
            strategies_supervisor([plan], HostServices(vault=StrategyVault())),
            ActorSpec(
                "feed",
                lambda: Feed(
                    # Paced on the simulated clock: each bar at its close (the clock jumps), so no
                    # mailbox ever holds two bars of the instrument (they would conflate).
                    CsvReplay(source, speed=1.0),
                    runtime,
                    [run.instrument],
                    market_open=lambda _i, _t: True,
                    # History has no silence to watch: a beat a simulated second over years
                    # of bars would be most of the run's events.
                    config=FeedConfig(
                        stale_factor=1e12,
                        watchdog_interval_ns=_DAY_NS * 365,
                        health_interval_ns=_DAY_NS * 365,
                    ),
                ),
            ),
        ],
        intensity=0,
    )
    try:
        runtime.start(tree)
        runtime.run(until_ns=bars[-1].ts_close + (bars[-1].ts_close - bars[-1].ts_event))
        now = runtime.now_ns()
        described = runtime.ask("router", DescribeOrders(ts_event=now, ts_init=now))
        orders = list(reversed(described.orders))  # oldest first
        runtime.stop()
    finally:
        writer.close()
        broker.close()
        database.close()
    equity = _one_per_bar(points, bars)
    report = build_report(
        fills=fills,
        equity=equity,
        exposure=[point.positions_value != 0 for point in equity],
        marks={run.instrument: Decimal(repr(bars[-1].close))},
        timezone=run.timezone,
        currency=run.currency,
        start_cash=run.cash,
        settings=_settings(run, interval),
    )
    title = f"{run.strategy} on {run.instrument}"
    files = [
        write_report(run.out, report),
        write_equity_csv(run.out, equity, run.timezone),
        write_fills_csv(run.out, fills, run.timezone),
        write_orders_csv(run.out, orders, run.timezone),
        write_backtest_html(run.out / "report.html", title, report, equity, bars),
    ]
    return BacktestResult(report=report, fills=fills, bars=len(bars), files=files)


def _bars_of(source: CsvSource) -> list[BarRow]:
    """The file's bars, checked and read once up front for the run's start, end and last
    close (the replay reads the file again, as the live path does). Raises ``ReplayError``
    listing every problem of the file."""
    check_csv(source)
    bars = [row for row in read_csv(source) if isinstance(row, BarRow)]
    if not bars:
        raise ValueError(f"{source.path}: no bars to test on")
    return bars


def _feed_broker(broker: PaperBroker, message: object) -> None:
    if isinstance(message, Bar):
        broker.on_bar(message)


def _limits(run: BacktestRun) -> RiskLimits:
    """Fixed quantity entries, exits by the strategy's signals only; with ``risk`` off, every
    limit off but cash."""
    limits = RiskLimits(
        sizing="fixed_qty",
        sizing_quantity=run.qty,
        bracket_exits=False,
        square_off={},
        entry_cutoff={},
        trading_day_tz=run.timezone,
        entry_timeout_s=0.0,
    )
    if run.stop_loss_pct:
        limits = msgspec.structs.replace(limits, stop_loss_pct=run.stop_loss_pct)
    return limits if run.risk else checks_off(limits)


def _one_per_bar(points: list[EquityPoint], bars: list[BarRow]) -> list[EquityPoint]:
    """The ledger's points reduced to one per bar: the last point at or before each bar's
    close (the start cash before the first)."""
    out: list[EquityPoint] = []
    index = 0
    last: EquityPoint | None = None
    for bar in bars:
        while index < len(points) and points[index].ts <= bar.ts_close:
            last = points[index]
            index += 1
        if last is None:
            continue
        out.append(
            EquityPoint(
                ts=bar.ts_close,
                cash=last.cash,
                positions_value=last.positions_value,
                equity=last.equity,
            )
        )
    return out


def _settings(run: BacktestRun, interval: str) -> dict[str, str]:
    params = {k: str(v) for k, v in sorted(run.params.items())}
    return {
        "strategy": run.strategy,
        "params": ", ".join(f"{k}={v}" for k, v in params.items()),
        "instrument": run.instrument,
        "interval": interval,
        "qty": str(run.qty),
        "cash": str(run.cash),
        "fees": run.fees,
        "risk": "on" if run.risk else "off",
        "data": run.data.name,
        "stop_loss_pct": "none",
    }
