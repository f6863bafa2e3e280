"""Figures for the whole path on the threaded runtime: a tick in, the order it causes out at the
paper broker, with the journal written ahead.

Benchmarks report figures; they do not pass or fail (DESIGN §2). ``tests/test_bench_pipeline.py``
checks what has a right answer (every trigger tick made its order), never the speeds. Targets
from the issue: ``tick_to_order_us_p50`` < 250, ``tick_to_order_us_p99`` < 2000, no unbounded
mailbox growth, with 500 instruments and 20,000 ticks a second.

Run it with ``troupe bench pipeline [--json] [--quick]`` or ``python -m bench.pipeline``.

The actors are the production ones, on the threaded runtime with the default placement: feed
(its client is the bench's own: a thread that delivers :data:`TICKS_PER_S` trades a second in
batches, as a broker socket does), bar aggregator, one strategy host per instrument
(:class:`TriggerOnTick`, tick-driven: a signal on each *trigger* tick, a trade of size
:data:`TRIGGER_SIZE`), the ranker (``cycle="signal"``), the risk supervisor (limits wide open,
one unit per entry; last prices from the feed's price board), the order router with the
journal (``DURABLE``: each order committed to
SQLite before it is sent) and the paper broker, the ledger.

``tick_to_order_us_p50`` / ``_p99`` / ``_max``, ``orders``
    From the bench client handing a trigger tick to the feed (``FeedEvents.on_ticks``) to the
    router handing the order it caused to the paper broker (``submit``), for every trigger.
``ticks_per_s``, ``ticks_sent``
    The rate achieved by the client over the run, and its count.
``max_mailbox_depth``, ``mailbox_depth_end``
    The deepest mailbox seen (sampled every 100 ms) and the total queued at the end: a
    pipeline that keeps up ends near zero.
``journal_records_per_s``
    The journal writer alone, on its own SQLite file: fills appended as fast as they go, over
    the time until the last is committed.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from actors.bar_aggregator import NAME as AGGREGATOR
from actors.bar_aggregator import BarAggregator
from actors.feed import Feed, FeedConfig
from actors.journal import Journal
from actors.ledger import Ledger
from actors.order_router import order_router_spec
from actors.ranker import Ranker
from actors.risk import RiskSupervisor
from actors.strategy_host import StrategyPlan
from adapters.paper.broker import PaperBroker
from adapters.paper.config import PaperBrokerConfig
from bench.figures import Figures, Progress, bench_parser, collector, percentile, quiet_logs, report
from engine.calendars import AlwaysOpenCalendar
from engine.data_client import DataClient, FeedEvents, Scheduler
from engine.instruments import Instrument
from engine.journal.records import JournalMode
from engine.journal.writer import JournalWriter
from engine.messages.market import QuoteTick, TradeTick
from engine.messages.ranking import Penalties, ScoringConfig
from engine.messages.trading import LiquiditySide, OrderFilled, OrderSide, SubmitOrder
from engine.orders.config import RateLimit, RouterConfig
from engine.price_board import PriceBoard
from engine.risk.limits import RiskLimits, checks_off
from engine.runtime_config import RuntimeConfig
from engine.spec import ActorSpec, SupervisorSpec
from engine.store.database import Database
from engine.strategy import Strategy, StrategyContext, StrategyParams
from engine.strategy_vault import StrategyVault
from engine.threaded import ThreadedRuntime
from troupe.strategies import HostServices, strategies_supervisor

INSTRUMENTS = 500
TICKS_PER_S = 20_000
BATCH = 1000
"""Trades per delivery: 20 deliveries a second (a busy broker socket's frames; the latency is
counted from the delivery, so batching does not hide any of it)."""
TRIGGER_EVERY = 1000
"""One trade in this many is a trigger (20 orders a second at 20,000 ticks a second)."""
TRIGGER_SIZE = 777.0
SECOND_NS = 1_000_000_000


class TriggerParams(StrategyParams, frozen=True, kw_only=True):
    pass


class TriggerOnTick(Strategy[TriggerParams]):
    """The bench's strategy: a BUY signal on each trigger trade, nothing else."""

    name = "trigger_on_tick"
    summary = "A signal on each trade of the benchmark's trigger size."
    rule = "on a trade of size 777: BUY"
    Params = TriggerParams
    wants_ticks = True
    signals: dict[str, tuple[str, int]] = {}  # noqa: RUF012 (shared by the bench's hosts)
    """Correlation id -> the trigger (instrument, ts_event) it came from."""

    def on_tick(self, ctx: StrategyContext, tick: TradeTick | QuoteTick) -> None:
        if isinstance(tick, TradeTick) and tick.size == TRIGGER_SIZE:
            made = ctx.signal(OrderSide.BUY, 1.0, entry=tick.price, reason="trigger")
            if made is not None:
                TriggerOnTick.signals[made.correlation_id] = (tick.instrument, tick.ts_event)

    def indicators(self) -> Mapping[str, Any]:
        return {}


class PacedClient(DataClient):
    """Delivers trades from its own thread at a fixed rate, in batches (a broker socket)."""

    name = "bench"

    def __init__(self, instruments: Sequence[str], duration_s: float) -> None:
        self.instruments = list(instruments)
        self.duration_s = duration_s
        self.arrivals: dict[tuple[str, int], int] = {}
        """Trigger (instrument, ts_event) -> perf_counter_ns when handed to the feed."""
        self.sent = 0
        self.elapsed_s = 0.0
        self.done = threading.Event()
        self._events: FeedEvents | None = None
        self._thread: threading.Thread | None = None

    def connect(self, events: FeedEvents, scheduler: Scheduler) -> None:
        self._events = events
        events.on_connected()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bench-client", daemon=True)
            self._thread.start()

    def subscribe(self, instruments: Sequence[str]) -> None:
        pass

    def unsubscribe(self, instruments: Sequence[str]) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def _run(self) -> None:
        events = self._events
        assert events is not None
        draw = np.random.default_rng(5)
        period = BATCH / TICKS_PER_S
        started = time.perf_counter()
        batches = int(self.duration_s * TICKS_PER_S / BATCH)
        names = self.instruments
        level = {name: 1000.0 for name in names}
        for n in range(batches):
            due = started + n * period
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            now = time.time_ns()
            picks = draw.integers(0, len(names), BATCH).tolist()
            ticks = []
            for k, index in enumerate(picks):
                name = names[index]
                self.sent += 1
                trigger = self.sent % TRIGGER_EVERY == 0
                price = level[name] = round(level[name] + 0.05 * (k % 3 - 1), 2)
                ticks.append(
                    TradeTick(
                        ts_event=now - BATCH + k,
                        ts_init=now,
                        instrument=name,
                        price=price,
                        size=TRIGGER_SIZE if trigger else 10.0,
                    )
                )
            stamp = time.perf_counter_ns()
            for tick in ticks:
                if tick.size == TRIGGER_SIZE:
                    self.arrivals[(tick.instrument, tick.ts_event)] = stamp
            events.on_ticks(ticks)
        self.elapsed_s = time.perf_counter() - started
        self.done.set()


class TimedBroker(PaperBroker):
    """The paper broker, noting when each order reaches it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: dict[str, int] = {}

    def submit(self, order: SubmitOrder) -> None:
        self.received.setdefault(order.correlation_id, time.perf_counter_ns())
        super().submit(order)


def instruments(count: int = INSTRUMENTS) -> dict[str, Instrument]:
    return {
        f"BENCH:S{i:03d}": Instrument(
            id=f"BENCH:S{i:03d}",
            symbol=f"S{i:03d}",
            exchange="BENCH",
            currency="INR",
            tick_size=Decimal("0.05"),
            time_zone="UTC",
            calendar="ALWAYS",
        )
        for i in range(count)
    }


def open_limits() -> RiskLimits:
    """Limits that let every trigger through: this measures the path, not the rules."""
    return checks_off(
        RiskLimits(sizing="fixed_qty", sizing_quantity=1, square_off={}, entry_cutoff={})
    )


def bench_pipeline(duration_s: float, folder: Path) -> Figures:
    gc.collect()
    masters = instruments()
    names = list(masters)
    runtime = ThreadedRuntime(pools={"strategies": 1})
    database = Database(f"sqlite+aiosqlite:///{folder / 'pipeline.db'}")
    writer = JournalWriter(database)
    broker = TimedBroker(
        PaperBrokerConfig(
            database_url=f"sqlite+aiosqlite:///{folder / 'paper.db'}",
            starting_cash=Decimal("1e12"),
        ),
        instruments=masters.get,
    )
    client = PacedClient(names, duration_s)
    board = PriceBoard()
    TriggerOnTick.signals.clear()
    plans = [StrategyPlan("trigger", TriggerOnTick, TriggerParams(), i, "1m") for i in names]
    services = HostServices(vault=StrategyVault())
    scoring = ScoringConfig(weights={"strength": 1.0}, penalties=Penalties(), top_n=1000)
    tree = SupervisorSpec(
        "root",
        [
            ActorSpec("journal", lambda: Journal(writer, mode=JournalMode.DURABLE)),
            ActorSpec("ledger", lambda: Ledger(Decimal("1e12"), "INR", per_strategy=False)),
            order_router_spec(
                broker,
                runtime,
                config=RouterConfig(rate_limit=RateLimit(orders_per_s=1000.0, burst=1000)),
                instruments=masters.get,
            ),
            ActorSpec(
                "risk",
                lambda: RiskSupervisor(
                    open_limits(),
                    masters,
                    equity=Decimal("1e12"),
                    calendars={"ALWAYS": AlwaysOpenCalendar()},
                    price_topics=("bars:*",),
                    price_board=board,
                ),
            ),
            ActorSpec("ranker", lambda: Ranker(scoring, cycle="signal", risk="risk")),
            strategies_supervisor(plans, services),
            ActorSpec(AGGREGATOR, lambda: BarAggregator({"*": ["1m"]})),
            ActorSpec(
                "feed",
                lambda: Feed(
                    client,
                    runtime,
                    names,
                    market_open=lambda _i, _t: True,
                    config=FeedConfig(downstream=AGGREGATOR, price_board=board),
                ),
            ),
        ],
        intensity=100,
    )
    placed = RuntimeConfig(pools={"strategies": 1}, placement={"strategy.*": "strategies"})
    depths: list[int] = []
    try:
        runtime.start(placed.apply(tree))
        while not client.done.wait(0.1):
            depths.append(max(a.mailbox_depth for a in runtime.describe().actors))
        runtime.wait_idle(30.0)
        end_depth = sum(a.mailbox_depth for a in runtime.describe().actors)
    finally:
        runtime.stop()
        writer.close()
        broker.close()
        database.close()
    latencies = []
    for correlation, trigger in TriggerOnTick.signals.items():
        arrived = client.arrivals.get(trigger)
        reached = broker.received.get(correlation)
        if arrived is not None and reached is not None:
            latencies.append((reached - arrived) / 1000)
    triggers = sum(1 for _ in client.arrivals)
    return {
        "ticks_sent": client.sent,
        "ticks_per_s": round(client.sent / client.elapsed_s) if client.elapsed_s else 0,
        "triggers": triggers,
        "orders": len(latencies),
        "tick_to_order_us_p50": percentile(latencies, 50) if latencies else float("nan"),
        "tick_to_order_us_p99": percentile(latencies, 99) if latencies else float("nan"),
        "tick_to_order_us_max": max(latencies) if latencies else float("nan"),
        "max_mailbox_depth": max(depths, default=0),
        "mailbox_depth_end": end_depth,
    }


def bench_journal(records: int, folder: Path) -> Figures:
    gc.collect()
    database = Database(f"sqlite+aiosqlite:///{folder / 'journal.db'}")
    writer = JournalWriter(database)
    now = time.time_ns()
    fills = [
        OrderFilled(
            ts_event=now + i,
            ts_init=now + i,
            client_order_id=f"o{i}",
            venue_order_id=f"v{i}",
            trade_id=f"t{i}",
            instrument="BENCH:S000",
            strategy="bench",
            side=OrderSide.BUY,
            last_qty=1,
            last_price=Decimal("100.05"),
            fee=Decimal("0.02"),
            currency="INR",
            liquidity_side=LiquiditySide.TAKER,
        )
        for i in range(records)
    ]
    try:
        started = time.perf_counter_ns()
        futures = [writer.append(fill, lazy=True) for fill in fills]
        writer.flush().result(60)
        for future in futures:
            future.result(60)
        elapsed = time.perf_counter_ns() - started
    finally:
        writer.close()
        database.close()
    return {"journal_records": records, "journal_records_per_s": records * 1e9 / elapsed}


def run(quick: bool = False, progress: Progress | None = None) -> Figures:
    figures: Figures = {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count() or 0,
        "instruments": INSTRUMENTS,
        "target_ticks_per_s": TICKS_PER_S,
    }
    add = collector(figures, progress)
    with quiet_logs(), tempfile.TemporaryDirectory(prefix="troupe-bench-") as folder:
        add(bench_pipeline(5.0 if quick else 30.0, Path(folder)))
        add(bench_journal(5_000 if quick else 50_000, Path(folder)))
    return figures


def main(argv: list[str] | None = None) -> int:
    args = bench_parser(
        "pipeline", "Measure tick to order through every actor.", "smaller sizes (~15 s)"
    ).parse_args(argv)
    return report(run, quick=args.quick, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
