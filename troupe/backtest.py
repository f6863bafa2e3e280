"""A backtest: the engine's own actors on the simulated runtime over files of bars.

The path is the live one (DESIGN §8): a replay feeds the feed actor, whose bars reach the
strategy hosts, the ranker, risk, the order router, the paper broker (filling on bars) and the
ledger; the journal runs ``DEFERRED`` (a rerun rebuilds it, so no commit waits). The simulated
clock jumps from bar to bar. What differs from a paper session is only what a rerun makes
pointless: the files are read once up front, and the paper broker keeps its book in memory
(:class:`adapters.paper.memory_store.MemoryPaperStore`).

Fill rules (the paper broker's ``fill_on = "bar"``): a market order created on bar t's close
fills at bar t+1's open; an order created on the last bar never fills; a stop fills at its
price, or at the open when the bar opens through it, and a protective stop is live from its
entry's fill (the rest of the entry's bar is checked against it); a limit fills at its price
when the bar trades through it. When data ends, open positions are reported and marked to the
last close, not closed (unless square-off applies).

Dates: with ``plan.start``, the bars before it are the strategies' warm-up history (as the
candle store is in a live session), so a strategy is warm on the first day traded; bars after
``plan.end`` are not read into the run.

:func:`run_plan` runs a :class:`~engine.backtest.plan.BacktestPlan` (both forms of ``troupe
backtest`` build one); :func:`run_backtest` is the one-instrument form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
from tqdm import tqdm

from actors.bar_aggregator import bars_topic
from actors.feed import Feed, FeedConfig
from actors.journal import DEFAULT_TOPICS, Journal
from actors.ledger import Ledger
from actors.order_router import order_router_spec
from actors.ranker import Ranker
from actors.risk import RiskSupervisor
from actors.strategy_host import StrategyPlan
from adapters.paper.broker import PaperBroker
from adapters.paper.config import PaperBrokerConfig
from adapters.paper.memory_store import MemoryPaperStore
from adapters.paper.sessions import calendar_hooks
from adapters.replay import BarRow, CsvSource, ReplayError, check_csv, read_csv
from adapters.replay.bar_series import BarSeries
from adapters.replay.bars_replay import BarsReplay
from engine.backtest.plan import BacktestPlan, DataFile
from engine.backtest.report import (
    Report,
    build_report,
    write_equity_csv,
    write_fills_csv,
    write_orders_csv,
    write_report,
)
from engine.bar_history import ListHistory
from engine.calendars import AlwaysOpenCalendar, MarketCalendar, calendar
from engine.config.schema import RankerConfig, StrategyConfig
from engine.fees.config import FeeConfig
from engine.instruments import Instrument
from engine.journal.records import JournalMode
from engine.journal.writer import JournalWriter
from engine.ledger.equity_curve import EquityPoint
from engine.messages.account import TOPIC_ACCOUNT
from engine.messages.market import Bar
from engine.messages.orders import TOPIC_FILLS
from engine.messages.risk import TOPIC_RISK, RiskDenied
from engine.messages.trading import OrderFilled, OrderStatus
from engine.orders.config import RateLimit, RouterConfig
from engine.orders.describe import DescribeOrders
from engine.risk.limits import RiskLimits, checks_off
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.store.database import Database
from engine.strategy_vault import StrategyVault
from troupe.backtest_html import write_backtest_html
from troupe.backtest_settings import DATA_INTERVAL, described, plan_settings, plan_title
from troupe.decisions import scoring_of
from troupe.strategies import (
    HostServices,
    calendar_sessions,
    plan_strategies,
    strategies_supervisor,
)

_DAY_NS = 86_400 * 1_000_000_000
JOURNAL_TOPICS = tuple(t for t in DEFAULT_TOPICS if t != TOPIC_ACCOUNT)
"""What a backtest's journal follows."""
WARM_UP_BARS = 10_000
"""Bars before ``--from`` offered as warm-up history, per instrument, at most."""
ALWAYS = "ALWAYS"
"""Without a calendar, bars read from a file are taken to be inside the trading session."""


@dataclass(frozen=True)
class BacktestRun:
    """A one-instrument backtest (``troupe backtest --data FILE ...``)."""

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
    calendar: str | None = None
    """A market calendar name; None: every bar is inside the session."""
    square_off: bool = True
    """False: positions stay open overnight (matters only with a calendar)."""
    start: dt.date | None = None
    end: dt.date | None = None
    seed: int = 0
    progress: bool = False


@dataclass
class BacktestResult:
    report: Report
    fills: list[OrderFilled]
    bars: int
    """Bars played (warm-up history not counted)."""
    files: list[Path]
    denied: Counter[str] = field(default_factory=Counter)
    """Intents risk refused, by code and message."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Orders the broker rejected, by reason."""

    def refusals(self) -> list[str]:
        """Lines for a summary: why signals did not trade, grouped by the reason's kind
        (what comes before its first colon), most common first, each with one example."""
        lines = []
        for what, counts in (
            ("entries refused by risk", self.denied),
            ("orders rejected", self.rejected),
        ):
            kinds: Counter[str] = Counter()
            example: dict[str, str] = {}
            for reason, n in counts.items():
                kind = reason.split(":", 1)[0]
                kinds[kind] += n
                example.setdefault(kind, reason)
            if kinds:
                kind, n = kinds.most_common(1)[0]
                more = f" (and {len(kinds) - 1} other kinds)" if len(kinds) > 1 else ""
                lines.append(f"{sum(kinds.values())} {what}, {n} of them: {example[kind]}{more}")
        return lines


def run_backtest(run: BacktestRun) -> BacktestResult:
    """Run the one-instrument form; see :func:`run_plan`."""
    return run_plan(plan_of(run))


def plan_of(run: BacktestRun) -> BacktestPlan:
    """The plan of a one-instrument run. Its strategy runs on the file's bar interval, long
    only unless ``params`` say ``long_only=false``; entries are ``run.qty`` units; exits come
    from the strategy's signals (and the stop-loss, if any). Raises ``ValueError`` naming a
    bad option."""
    if run.qty < 1:
        raise ValueError(f"--qty must be a whole number of units >= 1, got {run.qty}")
    limits = RiskLimits(
        sizing="fixed_qty",
        sizing_quantity=run.qty,
        bracket_exits=False,
        trading_day_tz=run.timezone,
        entry_timeout_s=0.0,
    )
    if not run.square_off:
        limits = msgspec.structs.replace(limits, square_off={})
    if run.stop_loss_pct:
        limits = msgspec.structs.replace(limits, stop_loss_pct=run.stop_loss_pct)
    if not run.risk:
        limits = checks_off(limits)
    entry = StrategyConfig(use=run.strategy, interval="", params=dict(run.params))
    plan = BacktestPlan(
        data=(DataFile(instrument=run.instrument, path=run.data, timezone=run.timezone),),
        # The interval is the file's: filled in by run_plan (an empty one means "the data's").
        strategies=(entry,),
        out=run.out,
        limits=limits,
        cash=run.cash,
        currency=run.currency,
        timezone=run.timezone,
        fees=FeeConfig(model=run.fees),
        calendar=run.calendar,
        start=run.start,
        end=run.end,
        seed=run.seed,
        progress=run.progress,
    )
    shown = described(entry, run.strategy, dict(sorted(run.params.items())))
    return dataclasses.replace(
        plan,
        settings=plan_settings(plan, [shown], risk_on=run.risk, data=run.data.name),
        title=plan_title(plan),
    )


def run_plan(plan: BacktestPlan) -> BacktestResult:
    """Run ``plan``; write ``report.json``, ``equity.csv``, ``fills.csv``, ``orders.csv`` and
    ``report.html`` into ``plan.out``.

    Raises ``ValueError`` naming a bad value (no bars in the date range, a strategy interval
    the data does not have, an unknown calendar), :class:`~adapters.replay.ReplayError`
    listing every problem of a file, ``ConfigError`` for strategies that do not check."""
    plan.out.mkdir(parents=True, exist_ok=True)
    loaded = {d.instrument: _load(d, plan) for d in plan.data}
    played = {i: series for i, (_, series) in loaded.items() if series}
    if not played:
        raise ValueError(f"no bars to test on between {_span(plan)} in any file")
    strategy_plans = _strategy_plans(plan, loaded)
    exchange_name = plan.calendar or ALWAYS
    exchange: MarketCalendar = calendar(plan.calendar) if plan.calendar else AlwaysOpenCalendar()
    instruments = {d.instrument: _instrument(d, plan, exchange_name) for d in plan.data}
    every_bar: list[int] = np.unique(np.concatenate([s.ts_close for s in played.values()])).tolist()
    bar_count = sum(len(series) for series in played.values())
    first = min(int(series.ts_event[0]) for series in played.values())
    last_close = every_bar[-1]
    interval_ns = min(int(s.ts_close[0] - s.ts_event[0]) for s in played.values())

    runtime = SimulatedRuntime(start_ns=first, seed=plan.seed)
    for suffix in ("", "-wal", "-shm"):  # a run starts from nothing
        (plan.out / f"journal.db{suffix}").unlink(missing_ok=True)
    database = Database(f"sqlite+aiosqlite:///{plan.out / 'journal.db'}")
    writer = JournalWriter(database)
    market_open, session_close = calendar_hooks(instruments.get) if plan.calendar else (None, None)
    broker = PaperBroker(
        PaperBrokerConfig(
            fill_on="bar",
            starting_cash=plan.cash,
            currency=plan.currency,
            fees=plan.fees,
        ),
        instruments=instruments.get,
        market_open=market_open,
        session_close=session_close,
        store=MemoryPaperStore(),
    )
    points: list[EquityPoint] = []
    fills: list[OrderFilled] = []
    progress = tqdm(
        total=bar_count,
        unit="bar",
        unit_scale=True,
        disable=not plan.progress,
        file=sys.stderr,
        mininterval=0.5,
        desc="backtest",
    )
    runtime.add_listener(TOPIC_FILLS, lambda _t, m: fills.append(m))
    denied: Counter[str] = Counter()
    runtime.add_listener(TOPIC_RISK, lambda _t, m: _count_denial(denied, m))
    for instrument in played:
        runtime.add_listener(bars_topic(instrument), _bar_listener(broker, progress))
    # The warm-up history: at most the last WARM_UP_BARS of each file before plan.start (no
    # strategy reads back further; a far --from need not make every earlier bar an object).
    history = [bar for warm, _ in loaded.values() for bar in warm[-WARM_UP_BARS:]]
    services = HostServices(
        vault=StrategyVault(),
        history=ListHistory(history) if history else None,
        sessions=(lambda _i: calendar_sessions(exchange)) if plan.calendar else None,
        tick_sizes={d.instrument: float(d.tick_size) for d in plan.data},
    )
    tree = SupervisorSpec(
        "root",
        [
            ActorSpec(
                "journal",
                # Orders, fills, signals, rankings and denials; not the account after every
                # bar's marks, which equity.csv holds already.
                lambda: Journal(writer, mode=JournalMode.DEFERRED, topics=JOURNAL_TOPICS),
            ),
            order_router_spec(
                broker,
                runtime,
                config=RouterConfig(rate_limit=RateLimit(orders_per_s=1e9, burst=10**9)),
                instruments=instruments.get,
            ),
            ActorSpec(
                "risk",
                lambda: RiskSupervisor(
                    plan.limits,
                    instruments,
                    equity=plan.cash,
                    calendars={exchange_name: exchange},
                    price_topics=("bars:*",),
                ),
            ),
            ActorSpec(
                "ledger",
                lambda: Ledger(
                    plan.cash,
                    plan.currency,
                    mark_sources=("bars",),
                    mark_interval_ns=0,
                    per_strategy=False,
                    time_zone=plan.timezone,
                    equity_sink=points.append,
                ),
            ),
            ActorSpec("ranker", lambda: _ranker(plan.ranker)),
            strategies_supervisor(strategy_plans, services),
            ActorSpec(
                "feed",
                lambda: Feed(
                    # Paced on the simulated clock: each bar at its close (the clock jumps), so no
                    # mailbox ever holds two bars of an instrument (they would conflate).
                    BarsReplay(played, speed=1.0, start_at_ns=first),
                    runtime,
                    list(played),
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
        runtime.run(until_ns=last_close + interval_ns)
        now = runtime.now_ns()
        described = runtime.ask("router", DescribeOrders(ts_event=now, ts_init=now))
        orders = list(reversed(described.orders))  # oldest first
        runtime.stop()
    finally:
        progress.close()
        writer.close()
        broker.close()
        database.close()
    equity = _one_per_bar(points, every_bar)
    report = build_report(
        fills=fills,
        equity=equity,
        exposure=[point.positions_value != 0 for point in equity],
        marks={i: Decimal(repr(float(series.close[-1]))) for i, series in played.items()},
        timezone=plan.timezone,
        currency=plan.currency,
        start_cash=plan.cash,
        settings=_settings(plan, loaded),
    )
    files = [
        write_report(plan.out, report),
        write_equity_csv(plan.out, equity, plan.timezone),
        write_fills_csv(plan.out, fills, plan.timezone),
        write_orders_csv(plan.out, orders, plan.timezone),
        write_backtest_html(plan.out / "report.html", plan.title, report, equity, played),
    ]
    rejected = Counter(o.reason for o in orders if o.status is OrderStatus.REJECTED)
    return BacktestResult(
        report=report,
        fills=fills,
        bars=bar_count,
        files=files,
        denied=denied,
        rejected=rejected,
    )


def _settings(
    plan: BacktestPlan, loaded: Mapping[str, tuple[BarSeries, BarSeries]]
) -> dict[str, str]:
    """The plan's settings, with the data's bar interval where the plan left it to the data."""
    settings = dict(plan.settings)
    if settings.get("interval") == DATA_INTERVAL:
        settings["interval"] = ", ".join(sorted({p.interval for _, p in loaded.values()}))
    return settings


def _count_denial(denied: Counter[str], message: object) -> None:
    # A long-only strategy's sell while flat is refused as an exit with nothing to close:
    # expected, not a reason a trade was missed.
    if isinstance(message, RiskDenied) and not message.message.startswith("an exit-only"):
        denied[f"{message.code.value}: {message.message}"] += 1


# -- the data -----------------------------------------------------------------------------------


def _load(data: DataFile, plan: BacktestPlan) -> tuple[BarSeries, BarSeries]:
    """``data``'s bars, read once: ``(history, played)``, history being the bars of days
    before ``plan.start``. Raises ``ReplayError`` listing every problem of the file."""
    source = CsvSource(path=str(data.path), instrument=data.instrument, tz=data.timezone)
    try:
        rows = [row for row in read_csv(source) if isinstance(row, BarRow)]
    except ReplayError:
        check_csv(source)  # every problem, not only the first
        raise
    if not rows:
        raise ValueError(f"{data.path}: no bars in the file")
    zone = ZoneInfo(data.timezone)
    first = 0  # the first row played
    last = len(rows)  # past the last row played
    if plan.start is not None or plan.end is not None:
        days = [dt.datetime.fromtimestamp(row.ts_event / 1e9, zone).date() for row in rows]
        if plan.start is not None:
            first = next((i for i, day in enumerate(days) if day >= plan.start), len(rows))
        if plan.end is not None:
            last = next((i for i, day in enumerate(days) if day > plan.end), len(rows))
    interval = rows[0].interval
    return (
        _series(data.instrument, interval, rows[:first]),
        _series(data.instrument, interval, rows[first:last]),
    )


def _series(instrument: str, interval: str, rows: Sequence[BarRow]) -> BarSeries:
    return BarSeries(
        instrument,
        interval,
        [r.ts_event for r in rows],
        [r.ts_close for r in rows],
        (
            [r.open for r in rows],
            [r.high for r in rows],
            [r.low for r in rows],
            [r.close for r in rows],
            [r.volume for r in rows],
        ),
    )


def _span(plan: BacktestPlan) -> str:
    return f"{plan.start or 'the first bar'} and {plan.end or 'the last bar'}"


def _instrument(data: DataFile, plan: BacktestPlan, calendar_name: str) -> Instrument:
    exchange, _, symbol = data.instrument.rpartition(":")
    return Instrument(
        id=data.instrument,
        symbol=symbol,
        exchange=exchange or "BACKTEST",
        currency=plan.currency,
        tick_size=data.tick_size,
        lot_size=data.lot_size,
        time_zone=data.timezone,
        calendar=calendar_name,
    )


def _strategy_plans(
    plan: BacktestPlan, loaded: Mapping[str, tuple[BarSeries, BarSeries]]
) -> list[StrategyPlan]:
    """Each strategy entry on each of its instruments, at the data's interval (an entry's
    empty interval is the data's; another one than the data's is refused)."""
    intervals = {i: p.interval for i, (_, p) in loaded.items()}
    problems: list[str] = []
    entries: list[StrategyConfig] = []
    for index, given in enumerate(plan.strategies):
        targets = given.instruments or list(loaded)
        wanted = {intervals[i] for i in targets if i in intervals}
        entry = given
        if not given.interval and len(wanted) == 1:
            entry = msgspec.structs.replace(given, interval=wanted.pop())
        for instrument in targets:
            have = intervals.get(instrument)
            if have is not None and entry.interval != have:
                problems.append(
                    f"strategies[{index}].interval: {entry.interval!r}, but the bars of "
                    f"{instrument} are {have!r} bars; use interval = {have!r}"
                )
        entries.append(entry)
    if problems:
        raise ValueError("; ".join(problems))
    return plan_strategies(entries, list(loaded), sorted(set(intervals.values())))


def _ranker(config: RankerConfig) -> Ranker:
    return Ranker(
        scoring_of(config),
        # At the bar's close itself: the order then reaches the broker at the next bar's open
        # instant, and fills at that open.
        settle_ns=0,
        risk="risk",
    )


def _bar_listener(broker: PaperBroker, progress: tqdm[Any]) -> Callable[[str, object], None]:
    # The paper broker learns prices from the bars the feed publishes, as in a paper session.
    def on_bar(_topic: str, message: object) -> None:
        if isinstance(message, Bar):
            broker.on_bar(message)
            if not progress.disable:
                progress.update(1)

    return on_bar


def _one_per_bar(points: list[EquityPoint], closes: Sequence[int]) -> list[EquityPoint]:
    """The ledger's points reduced to one per bar close: the last point at or before each
    close (the start cash before the first)."""
    out: list[EquityPoint] = []
    index = 0
    last: EquityPoint | None = None
    for close in closes:
        while index < len(points) and points[index].ts <= close:
            last = points[index]
            index += 1
        if last is None:
            continue
        out.append(
            EquityPoint(
                ts=close,
                cash=last.cash,
                positions_value=last.positions_value,
                equity=last.equity,
            )
        )
    return out
