"""Figures for backtests: bars a second through the engine's actors, and against backtrader.

Benchmarks report figures; they do not pass or fail (DESIGN §2). ``tests/test_bench_backtest.py``
checks the figures' keys and types and the trade comparison, never the speeds. Target from the
issue: at least 20 times backtrader's best mode, with equal trades.

Run it with ``troupe bench backtest [--json] [--quick]`` or ``python -m bench.backtest``;
``make bench-backtest`` runs it from ``.venv-bench``, where backtrader is installed (it is never
a dependency of the project).

Every run is ``sma_cross`` (SMA 10 / SMA 30 of the close, TA-Lib), long only, 10 units an entry,
no fees, every risk check off but cash, over daily bars the bench writes into a temporary
folder (``Date,Open,High,Low,Close,Adj Close,Volume``, dates from 1970-01-01 on, so 100,000
days stay inside int64 nanoseconds). Each series is a seeded random walk of the log close that
reverts slowly to 100 (prices stay between about 20 and 500), opens gapping a little from the
previous close, prices in whole cents. No bar has the two averages exactly equal: there the
engine's rule (a cross up needs ``fast[t-1] <= slow[t-1]``) and backtrader's ``CrossOver`` (the
last non-zero difference) differ by definition, and float rounding of either sum would decide;
a close that would make them equal is moved up a cent (``closes_moved_off_ties``, a few per
100,000 bars).

``bars_per_s_1x100k``, ``bars_1x``, ``trades_1x``
    :func:`troupe.backtest.run_backtest` over :data:`FULL` 100,000 bars of one instrument
    (:data:`QUICK`: 10,000): bars over the wall time of the call (reading the file, the run,
    the report and its files), the file written before the clock starts.
``bars_per_s_100x10k``, ``instruments_multi``, ``bars_per_instrument_multi``, ``trades_multi``
    :func:`troupe.backtest.run_plan` over 100 instruments x 10,000 bars in one run
    (:data:`QUICK`: 10 x 1,000), timed the same way. ``null`` with
    ``bars_per_s_100x10k_reason`` when this troupe has no ``run_plan``.
``backtrader``, ``backtrader_bars_per_s``, ``ratio_vs_backtrader``, ``trades_equal_backtrader``
    backtrader's version and its run of the same strategy on the same file as the one-instrument
    run, in its fastest mode (:mod:`bench.backtrader_peer`); ``bars_per_s_1x100k`` over its
    rate; whether its closed trades (entry date and price, exit date and price, quantity) are
    ours, in order. Without backtrader: ``backtrader`` says how to get it, the rest is
    ``null``.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

import troupe.backtest
from bench import backtrader_peer
from bench.backtrader_peer import Trade
from bench.figures import Figures, Progress, bench_parser, collector, quiet_logs, rate, report
from engine.backtest.plan import BacktestPlan, DataFile
from engine.backtest.report import TradeRow
from engine.config.schema import StrategyConfig
from engine.fees.config import FeeConfig
from engine.risk.limits import RiskLimits, checks_off
from troupe.backtest import BacktestRun, run_backtest

Results = Figures
"""The bench's figures: as :data:`bench.figures.Figures`, with ``null`` for what could not be
measured and booleans for what was compared."""

STRATEGY = "sma_cross"
FAST = 10
SLOW = 30
QTY = 10
CASH = Decimal("100000")
"""Start cash of the one-instrument run, and per instrument of the multi-instrument run."""
SEED = 7
FIRST_DAY = dt.date(1970, 1, 1)
START_CENTS = 10_000
REVERSION = 0.999
"""Each day the log close keeps this share of its distance from log(100)."""
DAILY_SIGMA = 0.015
GAP_SIGMA = 0.004
WICK_SIGMA = 0.005


@dataclass(frozen=True)
class Sizes:
    bars_1x: int
    instruments_multi: int
    bars_per_instrument_multi: int


FULL = Sizes(bars_1x=100_000, instruments_multi=100, bars_per_instrument_multi=10_000)
QUICK = Sizes(bars_1x=10_000, instruments_multi=10, bars_per_instrument_multi=1_000)


# -- the bars -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyBars:
    """One instrument's daily bars, prices in whole cents, the first on :data:`FIRST_DAY`."""

    opens: list[int]
    highs: list[int]
    lows: list[int]
    closes: list[int]
    ties_moved: int
    """Closes moved up a cent so that the averages are never equal."""

    def __len__(self) -> int:
        return len(self.closes)

    def day(self, index: int) -> dt.date:
        return FIRST_DAY + dt.timedelta(days=index)


def daily_bars(count: int, seed: int = SEED, *, fast: int = FAST, slow: int = SLOW) -> DailyBars:
    """``count`` daily bars of a seeded random walk; no bar has SMA(``fast``) of the close
    equal to SMA(``slow``)."""
    draw = np.random.default_rng(seed)
    shocks = draw.normal(0.0, DAILY_SIGMA, count).tolist()
    level = 0.0
    logs: list[float] = []
    for shock in shocks:
        level = REVERSION * level + shock
        logs.append(level)
    closes = np.maximum(1, np.round(START_CENTS * np.exp(logs))).astype(np.int64).tolist()
    ties = _move_off_ties(closes, fast, slow)
    previous = np.array([START_CENTS, *closes[:-1]], dtype=float)
    opens = np.maximum(1, np.round(previous * np.exp(draw.normal(0.0, GAP_SIGMA, count))))
    wicks = np.abs(draw.normal(0.0, WICK_SIGMA, (2, count)))
    ends = np.array(closes, dtype=float)
    highs = np.round(np.maximum(opens, ends) * (1.0 + wicks[0]))
    lows = np.maximum(1, np.round(np.minimum(opens, ends) * (1.0 - wicks[1])))
    return DailyBars(
        opens=opens.astype(np.int64).tolist(),
        highs=highs.astype(np.int64).tolist(),
        lows=lows.astype(np.int64).tolist(),
        closes=closes,
        ties_moved=ties,
    )


def _move_off_ties(closes: list[int], fast: int, slow: int) -> int:
    """Move up a cent (in place) each close that would make the two averages equal; return how
    many moved. Equal means ``slow * sum_fast == fast * sum_slow`` in whole cents; a cent more
    changes the difference by ``slow - fast``, never zero."""
    moved = 0
    sum_fast = sum_slow = 0
    for t, close in enumerate(closes):
        sum_fast += close - (closes[t - fast] if t >= fast else 0)
        sum_slow += close - (closes[t - slow] if t >= slow else 0)
        if t >= slow - 1 and slow * sum_fast == fast * sum_slow:
            closes[t] = close + 1
            sum_fast += 1
            sum_slow += 1
            moved += 1
    return moved


def cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def price(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def write_csv(path: Path, bars: DailyBars) -> Path:
    """``bars`` as ``Date,Open,High,Low,Close,Adj Close,Volume`` (``Adj Close`` = ``Close``)."""
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for t in range(len(bars)):
        close = cents_text(bars.closes[t])
        lines.append(
            f"{bars.day(t).isoformat()},{cents_text(bars.opens[t])},{cents_text(bars.highs[t])},"
            f"{cents_text(bars.lows[t])},{close},{close},{1000 + t % 997}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- trades -------------------------------------------------------------------------------------


def our_trades(rows: Iterable[TradeRow]) -> list[Trade]:
    """A report's closed trades as the comparison sees them (a short's quantity negative)."""
    return [
        Trade(
            dt.date.fromisoformat(row.entry_time[:10]),
            row.entry_price,
            dt.date.fromisoformat(row.exit_time[:10]),
            row.exit_price,
            row.qty if row.side == "long" else -row.qty,
        )
        for row in rows
    ]


def trades_equal(ours: Sequence[Trade], theirs: Sequence[Trade]) -> bool:
    """The same trades in the same order (prices compared as numbers: 101.2 == 101.20)."""
    return list(ours) == list(theirs)


# -- the runs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OneRun:
    figures: Results
    data: Path
    trades: list[Trade]


def bench_one(folder: Path, bars: int) -> OneRun:
    """``sma_cross`` over ``bars`` bars of one instrument with :func:`run_backtest`."""
    series = daily_bars(bars)
    data = write_csv(folder / "one.csv", series)
    run = BacktestRun(
        data=data,
        instrument="BENCH:ONE",
        strategy=STRATEGY,
        params={"fast": FAST, "slow": SLOW},
        qty=QTY,
        cash=CASH,
        risk=False,
        fees="zero",
        out=folder / "one",
    )
    gc.collect()
    started = time.perf_counter_ns()
    result = run_backtest(run)
    elapsed = time.perf_counter_ns() - started
    trades = our_trades(result.report.trades)
    figures: Results = {
        "bars_1x": bars,
        "closes_moved_off_ties": series.ties_moved,
        "trades_1x": len(trades),
        "bars_per_s_1x100k": rate(bars, elapsed),
    }
    return OneRun(figures=figures, data=data, trades=trades)


def plan_runner() -> Callable[[BacktestPlan], object] | None:
    """``troupe.backtest.run_plan`` when this troupe has it."""
    runner = getattr(troupe.backtest, "run_plan", None)
    return runner if callable(runner) else None


def multi_plan(folder: Path, instruments: int, bars: int) -> BacktestPlan:
    """``sma_cross`` on each of ``instruments`` instruments of ``bars`` bars (files written)."""
    data = tuple(
        DataFile(
            instrument=f"BENCH:S{i:03d}",
            path=write_csv(folder / f"s{i:03d}.csv", daily_bars(bars, SEED + 1 + i)),
        )
        for i in range(instruments)
    )
    limits = RiskLimits(
        sizing="fixed_qty",
        sizing_quantity=QTY,
        bracket_exits=False,
        entry_timeout_s=0,
        square_off={},
        entry_cutoff={},
    )
    return BacktestPlan(
        data=data,
        strategies=(
            StrategyConfig(use=STRATEGY, interval="1d", params={"fast": FAST, "slow": SLOW}),
        ),
        out=folder / "multi",
        limits=checks_off(limits),
        cash=CASH * instruments,
        fees=FeeConfig(model="zero"),
        title=f"{STRATEGY} on {instruments} instruments",
    )


def bench_multi(folder: Path, instruments: int, bars: int) -> Results:
    """``sma_cross`` over ``instruments`` x ``bars`` bars in one :func:`run_plan` run."""
    figures: Results = {"instruments_multi": instruments, "bars_per_instrument_multi": bars}
    runner = plan_runner()
    if runner is None:
        return figures | {
            "trades_multi": None,
            "bars_per_s_100x10k": None,
            "bars_per_s_100x10k_reason": "troupe.backtest.run_plan does not exist yet",
        }
    plan = multi_plan(folder, instruments, bars)
    gc.collect()
    started = time.perf_counter_ns()
    result = runner(plan)
    elapsed = time.perf_counter_ns() - started
    report = getattr(result, "report", None)
    trades = getattr(report, "trades", None)
    return figures | {
        "trades_multi": len(trades) if isinstance(trades, list) else None,
        "bars_per_s_100x10k": rate(instruments * bars, elapsed),
    }


def bench_backtrader(one: OneRun) -> Results:
    """backtrader on the one-instrument run's file; ``null`` figures without it."""
    if not backtrader_peer.installed():
        return {
            "backtrader": backtrader_peer.NOT_INSTALLED,
            "backtrader_bars_per_s": None,
            "ratio_vs_backtrader": None,
            "trades_backtrader": None,
            "trades_equal_backtrader": None,
        }
    gc.collect()
    peer = backtrader_peer.run_peer(one.data, fast=FAST, slow=SLOW, qty=QTY, cash=CASH)
    theirs = rate(peer.bars, peer.elapsed_ns)
    ours = one.figures["bars_per_s_1x100k"]
    assert isinstance(ours, float)
    return {
        "backtrader": peer.version,
        "backtrader_bars_per_s": theirs,
        "ratio_vs_backtrader": ours / theirs,
        "trades_backtrader": len(peer.trades),
        "trades_equal_backtrader": trades_equal(one.trades, peer.trades),
    }


def run(quick: bool = False, progress: Progress | None = None) -> Results:
    """Run every benchmark; return the figures."""
    sizes = QUICK if quick else FULL
    figures: Results = {"python": platform.python_version(), "cpu_count": os.cpu_count() or 0}

    def say(line: str) -> None:
        if progress is not None:
            progress(line)

    add = collector(figures, progress)

    with quiet_logs(), tempfile.TemporaryDirectory(prefix="troupe-bench-") as name:
        folder = Path(name)
        say(f"one instrument, {sizes.bars_1x:,} bars...")
        one = bench_one(folder, sizes.bars_1x)
        add(one.figures)
        say("backtrader on the same bars...")
        add(bench_backtrader(one))
        count = sizes.instruments_multi * sizes.bars_per_instrument_multi
        say(f"{sizes.instruments_multi} instruments, {count:,} bars in one run...")
        add(bench_multi(folder, sizes.instruments_multi, sizes.bars_per_instrument_multi))
    return figures


# -- the command ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = bench_parser(
        "backtest",
        "Measure backtests: bars a second through the actors, and against backtrader.",
        "10,000 bars, and 10 x 1,000 (under a minute)",
    ).parse_args(argv)

    return report(run, quick=args.quick, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
