"""Figures for the strategy hosts: bars in, signals out, 500 strategy actors.

Benchmarks report figures; they do not pass or fail (DESIGN §2). ``tests/test_bench_strategies.py``
checks the figures with a right answer (one signal per bar once warm), never the speeds. Target
from the issue: ``bar_to_signal_us_p99`` < 5000 (threaded, the 500 instruments' 1-minute bars
closing at the same instant).

Run it with ``troupe bench strategies [--json] [--quick]`` or ``python -m bench.strategies``.

The hosts are the production ones (:class:`actors.strategy_host.StrategyHost` under the
``strategies`` supervisor, placed on the ``strategies`` pool as ``config/runtime.toml``
places them), each running :class:`EveryBar`: three TA-Lib indicators (SMA 20, EMA 50,
RSI 14) updated on every bar and a signal on every bar, so each bar costs a strategy its
usual indicator work plus a signal. Hosts warm up from bars in memory
(:class:`engine.bar_history.ListHistory`) before the clock starts.

Bars go out in rounds: one bar per instrument, all with the same close (as the bar aggregator
publishes them when a minute ends), published on ``bars:<instrument>``; the next round starts
once every signal of the previous one is out. Bars are market data, conflated per instrument
in a mailbox under pressure (the latest bar wins), so a round never overtakes the one before.

``bars_per_s_simulated``
    Simulated runtime: :data:`INSTRUMENTS` x rounds bars over the wall time from the first
    publication to the last signal.
``bars_per_s_threaded``
    Threaded runtime, the same rounds: bars over the wall time of all rounds.
``bar_to_signal_us_p50`` / ``_p99``, ``bar_to_signal_samples``
    Threaded: from the moment a round starts publishing (the bars' common close) to each
    signal reaching a listener on ``signals``; every signal of every round is a sample.
``signals_simulated``, ``signals_threaded``, ``bars_sent``
    Signals seen against bars sent: equal when no bar was lost.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from actors.strategy_host import StrategyPlan
from bench.figures import (
    Figures,
    Progress,
    bench_parser,
    collector,
    percentile,
    quiet_logs,
    rate,
    report,
)
from engine.bar_history import ListHistory
from engine.indicators import Indicator, IndicatorSet, ema, rsi, sma
from engine.messages.market import Bar
from engine.messages.ranking import TOPIC_SIGNALS
from engine.messages.trading import OrderSide
from engine.runtime import Runtime
from engine.runtime_config import RuntimeConfig
from engine.simulated import SimulatedRuntime
from engine.spec import SupervisorSpec
from engine.strategy import Strategy, StrategyContext, StrategyParams
from engine.strategy_vault import StrategyVault
from engine.threaded import ThreadedRuntime
from troupe.strategies import HostServices, strategies_supervisor

MINUTE_NS = 60_000_000_000
INSTRUMENTS = 500
WAIT_S = 120.0


class EveryBarParams(StrategyParams, frozen=True, kw_only=True):
    pass


class EveryBar(Strategy[EveryBarParams]):
    """The bench's strategy: SMA 20, EMA 50 and RSI 14 on every bar, a signal on every bar."""

    name = "every_bar"
    summary = "A signal on every bar (a benchmark's load, not a trading rule)."
    rule = "on every bar: BUY, with sma, ema and rsi as features"
    Params = EveryBarParams

    def indicators(self) -> Mapping[str, Indicator]:
        return {"sma": sma(20), "ema": ema(50), "rsi": rsi(14)}

    def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        ctx.signal(
            OrderSide.BUY,
            strength=min(1.0, ctx.value("rsi") / 100.0),
            features={"trend": bar.close / ctx.value("ema") - 1.0, "sma": ctx.value("sma")},
            reason="every bar",
        )


def instrument_ids(count: int = INSTRUMENTS) -> list[str]:
    return [f"BENCH:S{i:03d}" for i in range(count)]


class BarPaths:
    """Random-walk 1-minute bars per instrument, made before any clock starts."""

    def __init__(self, instruments: list[str], minutes: int, seed: int = 11) -> None:
        draw = np.random.default_rng(seed)
        steps = draw.normal(0.0, 0.001, (len(instruments), minutes))
        self.closes = 100.0 * np.exp(np.cumsum(steps, axis=1))
        self.instruments = instruments
        self.start_ns = 1_700_000_000_000_000_000 // MINUTE_NS * MINUTE_NS

    def bar(self, row: int, minute: int) -> Bar:
        close = float(self.closes[row, minute])
        start = self.start_ns + minute * MINUTE_NS
        return Bar(
            ts_event=start,
            ts_init=start + MINUTE_NS,
            instrument=self.instruments[row],
            interval="1m",
            ts_close=start + MINUTE_NS,
            open=close,
            high=close * 1.001,
            low=close * 0.999,
            close=close,
            volume=1000.0,
            trade_count=10,
            vwap=close,
        )

    def round(self, minute: int) -> list[Bar]:
        return [self.bar(row, minute) for row in range(len(self.instruments))]


def warmup_bars() -> int:
    """Bars the bench strategy needs before its first signal."""
    return IndicatorSet(EveryBar(EveryBarParams()).indicators()).warmup


def _plans(instruments: list[str]) -> list[StrategyPlan]:
    return [StrategyPlan("every_bar", EveryBar, EveryBarParams(), i, "1m") for i in instruments]


def _tree(paths: BarPaths, warm: int) -> SupervisorSpec:
    history = ListHistory(
        paths.bar(row, minute) for row in range(len(paths.instruments)) for minute in range(warm)
    )
    services = HostServices(vault=StrategyVault(), history=history)
    supervisor = strategies_supervisor(_plans(paths.instruments), services)
    placed = RuntimeConfig(pools={"strategies": 1}, placement={"strategy.*": "strategies"})
    return placed.apply(SupervisorSpec("root", [supervisor]))


class SignalClock:
    """Counts signals and notes when each arrived (perf_counter ns)."""

    def __init__(self, expected_per_round: int) -> None:
        self.expected = expected_per_round
        self.count = 0
        self.times: list[int] = []
        self.round_done = threading.Event()
        self._in_round = 0

    def __call__(self, _topic: str, _message: Any) -> None:
        self.times.append(time.perf_counter_ns())
        self.count += 1
        self._in_round += 1
        if self._in_round == self.expected:
            self.round_done.set()

    def next_round(self) -> None:
        self._in_round = 0
        self.round_done.clear()


def bench_simulated(paths: BarPaths, warm: int, rounds: int) -> Figures:
    gc.collect()
    runtime = SimulatedRuntime(start_ns=paths.start_ns + warm * MINUTE_NS)
    signals = SignalClock(len(paths.instruments))
    runtime.add_listener(TOPIC_SIGNALS, signals)
    runtime.start(_tree(paths, warm))
    runtime.run(until_ns=runtime.now_ns())
    batches = [paths.round(warm + r) for r in range(rounds)]
    started = time.perf_counter_ns()
    for bars in batches:
        for bar in bars:
            runtime.publish(f"bars:{bar.instrument}", bar)
        runtime.run(until_ns=runtime.now_ns() + MINUTE_NS)
    elapsed = time.perf_counter_ns() - started
    runtime.stop()
    sent = rounds * len(paths.instruments)
    return {"bars_per_s_simulated": rate(sent, elapsed), "signals_simulated": signals.count}


def bench_threaded(paths: BarPaths, warm: int, rounds: int) -> Figures:
    gc.collect()
    runtime: Runtime = ThreadedRuntime(pools={"strategies": 1})
    signals = SignalClock(len(paths.instruments))
    runtime.add_listener(TOPIC_SIGNALS, signals)
    tree = _tree(paths, warm)
    runtime.start(tree)
    # The history answers each host at once (in memory); the hosts are warm once idle.
    assert isinstance(runtime, ThreadedRuntime)
    runtime.wait_idle(WAIT_S)
    batches = [paths.round(warm + r) for r in range(rounds)]
    latencies: list[float] = []
    try:
        started = time.perf_counter_ns()
        for bars in batches:
            signals.next_round()
            first = len(signals.times)
            t0 = time.perf_counter_ns()
            for bar in bars:
                runtime.publish(f"bars:{bar.instrument}", bar)
            if not signals.round_done.wait(WAIT_S):
                raise TimeoutError(f"a round's signals did not all arrive within {WAIT_S} s")
            latencies += [(t - t0) / 1000 for t in signals.times[first:]]
        elapsed = time.perf_counter_ns() - started
    finally:
        runtime.stop()
    sent = rounds * len(paths.instruments)
    return {
        "bars_per_s_threaded": rate(sent, elapsed),
        "signals_threaded": signals.count,
        "bar_to_signal_us_p50": percentile(latencies, 50),
        "bar_to_signal_us_p99": percentile(latencies, 99),
        "bar_to_signal_samples": len(latencies),
    }


def run(quick: bool = False, progress: Progress | None = None) -> Figures:
    """Run both benchmarks; return the figures (``python`` is the only string)."""
    rounds = 10 if quick else 60
    figures: Figures = {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count() or 0,
        "strategy_actors": INSTRUMENTS,
    }
    add = collector(figures, progress)
    with quiet_logs():
        warm = warmup_bars()
        paths = BarPaths(instrument_ids(), warm + rounds)
        add({"warmup_bars": warm, "bars_sent": rounds * INSTRUMENTS})
        add(bench_simulated(paths, warm, rounds))
        add(bench_threaded(paths, warm, rounds))
    return figures


def main(argv: list[str] | None = None) -> int:
    args = bench_parser(
        "strategies", "Measure the strategy hosts.", "smaller sizes (a few seconds)"
    ).parse_args(argv)
    return report(run, quick=args.quick, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
