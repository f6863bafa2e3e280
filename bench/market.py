"""Figures for market data: trades through the feed into the bar aggregator, end to end.

Benchmarks report figures; they do not pass or fail (DESIGN §2). The figures with a right
answer (every tick sent ends up in a bar) are checked by ``tests/test_bench_market.py``, never
the speeds. Targets from the issue: at least 500k ticks/s simulated and 200k ticks/s threaded
with 1000 instruments; memory flat over a 60 s run.

Run it with ``troupe bench market [--json] [--quick]`` or ``python -m bench.market``.

The pipeline is the production one: a :class:`~actors.feed.Feed` (validation, watchdog,
health, ``ticks:<instrument>`` topics) whose downstream is a
:class:`~actors.bar_aggregator.BarAggregator` making ``1m`` bars of every instrument, each in
its own actor. Its data client (:class:`ReplayClient`) is the bench's own: it hands batches
of :data:`BATCH` trades (the way a busy broker socket delivers them) to
``FeedEvents.on_ticks`` from ``scheduler.call_at`` callbacks.

The trades (:class:`TradeTape`) are made before any clock starts: :data:`INSTRUMENTS`
instruments, each a Poisson stream of :data:`TRADES_PER_INSTRUMENT_S` trades per second of
market time (so ``ts_event`` increases), prices a random walk on a 0.05 grid, sizes of 1 to
100, and a venue trade id per trade (the feed drops repeats by id, so it keeps recent ids).
One more instrument, the *marker*, trades once at the start and once with the last trade of
the tape: its first bar is published when the aggregator takes the last trade, which tells
the bench that everything before it has been handled.

``ticks_per_s_simulated``
    Simulated runtime, starting at the tape's first trade: each batch is delivered when the
    clock reaches its last trade (the clock jumps from batch to batch); from the first
    delivery until ``run`` has handled the last trade, the feed's watchdog beat (every
    second of market time) and the aggregator's timer included.
``ticks_per_s_threaded``
    Threaded runtime, the same tape replayed as fast as it goes: each delivery asks for the
    next at once (``call_at(now)``), from the timer thread, whose sends never wait for room,
    so the feed's mailbox takes the backlog. From the first delivery until a listener sees the
    marker's bar. The tape lies in the recent past, minutes of market time a second: the
    aggregator's close delay is set to a day so that its wall-clock timer does not close the
    intervals the replay is still filling (live ticks are never minutes old).
``ticks_sent``, ``ticks_in_bars_simulated``, ``ticks_in_bars_threaded``
    Trades on the tape (marker included), and the trades counted in the bars published
    (``trade_count``) once every bar is closed: by the timer in the simulated runtime, by the
    aggregator's ``on_stop`` in the threaded one. Equal when no trade was lost, rejected or
    late.
``tick_to_bar_us_p50`` / ``_p99``, ``tick_to_bar_samples``
    Threaded, idle pipeline (1000 instruments subscribed): one trade at a time, each opening
    the next minute of one of :data:`LATENCY_INSTRUMENTS` instruments and so closing its
    previous bar; from the client's callback calling ``on_ticks`` to a listener on
    ``bars:<instrument>`` seeing that bar.
``rss_mb_start``, ``rss_mb_end``, ``rss_growth_mb_after_warmup``, ``peak_rss_mb``,
``memory_run_s``, ``memory_run_ticks``, ``memory_run_market_minutes``
    Simulated runtime, the clock advancing: trades made as they are delivered (nothing kept)
    for ``memory_run_s`` seconds of wall time, an hour or more of market time; resident memory
    read from ``/proc/self/statm`` once a second. ``rss_growth_mb_after_warmup`` is the last
    reading minus the one a quarter of the way in. The memory run comes first, so
    ``peak_rss_mb`` (``ru_maxrss`` when it ends) is the pipeline's and not that of the tape
    the throughput runs keep in memory. These trades carry no trade id (many brokers' feeds
    give none): with ids the feed keeps the last 4096 to 8192 of each instrument to drop repeats
    (``FeedConfig.duplicate_window``), a store bounded by design that fills over an
    instrument's first 8192 trades (45 minutes at 3 a second) and would hide any other growth.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import resource
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from actors.bar_aggregator import NAME as AGGREGATOR
from actors.bar_aggregator import BarAggregator, bars_topic
from actors.feed import Feed, FeedConfig
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
from bench.runtime import BenchTimeoutError, tree, wait
from engine.data_client import DataClient, FeedEvents, Scheduler
from engine.messages.market import Bar, TradeTick
from engine.runtime import Runtime
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.threaded import ThreadedRuntime

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
DAY_NS = 24 * 60 * MINUTE_NS

INSTRUMENTS = 1000
TRADES_PER_INSTRUMENT_S = 3.0
"""Mean trades per instrument per second of market time."""
BATCH = 1000
"""Trades per ``on_ticks`` call."""
TICK_SIZE = 0.05
LATENCY_INSTRUMENTS = 50
"""Instruments the latency samples take turns on (one new minute each per round)."""
MARKER = "BENCH:MARKER"
FEED = "feed"
SEED = 7


@dataclass(frozen=True)
class Sizes:
    ticks: int
    latency_samples: int
    memory_run_s: int


FULL = Sizes(ticks=1_000_000, latency_samples=1_000, memory_run_s=60)
QUICK = Sizes(ticks=200_000, latency_samples=100, memory_run_s=5)


# -- the trades ---------------------------------------------------------------------------------


def instrument_ids(count: int = INSTRUMENTS) -> list[str]:
    return [f"BENCH:S{i:04d}" for i in range(count)]


class TradeTape:
    """Trades of ``instruments`` from ``start_ns`` on, made on demand and deterministic.

    Arrivals are one Poisson process of ``per_instrument_hz`` x the instrument count trades per
    second of market time, each trade going to an instrument drawn uniformly (so each
    instrument is a Poisson stream of ``per_instrument_hz``); every price moves by -1, 0 or +1
    tick from the instrument's last one. ``trade_ids``: trade ids count up from 1 (as a
    venue's would), else trades carry none.
    """

    def __init__(
        self,
        instruments: Sequence[str],
        *,
        start_ns: int,
        seed: int = SEED,
        per_instrument_hz: float = TRADES_PER_INSTRUMENT_S,
        trade_ids: bool = True,
    ) -> None:
        self.instruments = list(instruments)
        self._random = np.random.default_rng(seed)
        # Each price as a whole number of ticks, starting between about 20 and 2000.
        starts = np.exp(self._random.uniform(3.0, 7.6, len(self.instruments))) / TICK_SIZE
        self._levels: list[int] = np.maximum(1, starts.round()).astype(int).tolist()
        self._mean_gap_ns = SECOND_NS / (per_instrument_hz * len(self.instruments))
        self._trade_ids = trade_ids
        self.last_ns = start_ns
        self.trades = 0

    def batch(self, size: int) -> list[TradeTick]:
        """The next ``size`` trades, oldest first."""
        draw = self._random
        gaps = 1 + draw.exponential(self._mean_gap_ns, size).astype(np.int64)
        times = (self.last_ns + np.cumsum(gaps)).tolist()
        indices = draw.integers(0, len(self.instruments), size).tolist()
        steps = draw.integers(-1, 2, size).tolist()
        sizes = draw.integers(1, 101, size).astype(float).tolist()
        names = self.instruments
        levels = self._levels
        first = self.trades + 1
        ids: list[str | None] = (
            [str(n) for n in range(first, first + size)] if self._trade_ids else [None] * size
        )
        out: list[TradeTick] = []
        keep = out.append
        for ts, index, step, quantity, trade_id in zip(
            times, indices, steps, sizes, ids, strict=True
        ):
            level = levels[index] = max(1, levels[index] + step)
            keep(
                TradeTick(
                    ts_event=ts,
                    ts_init=ts,
                    instrument=names[index],
                    price=round(level * TICK_SIZE, 2),
                    size=quantity,
                    trade_id=trade_id,
                )
            )
        if times:
            self.last_ns = times[-1]
        self.trades += size
        return out

    def batches(self, size: int = BATCH) -> Iterator[list[TradeTick]]:
        """Batches of ``size`` trades, for ever."""
        while True:
            yield self.batch(size)


@dataclass(frozen=True)
class Tape:
    """Trades made in advance, in batches, with the marker's two trades first and last."""

    batches: list[list[TradeTick]]
    instruments: list[str]
    """The instruments with trades, marker included."""
    start_ns: int
    last_ns: int
    ticks: int


def make_tape(ticks: int, start_ns: int) -> Tape:
    """``ticks`` trades in batches of :data:`BATCH` (the marker's two included) from
    ``start_ns`` (a whole minute: the marker's first bar starts there)."""
    names = instrument_ids()
    tape = TradeTape(names, start_ns=start_ns)
    regular = ticks - 2
    batches = [tape.batch(min(BATCH, regular - done)) for done in range(0, regular, BATCH)]

    def marker(ts: int, trade_id: str) -> TradeTick:
        return TradeTick(
            ts_event=ts, ts_init=ts, instrument=MARKER, price=100.0, size=1.0, trade_id=trade_id
        )

    # The marker's last trade falls in a later minute than its first, so it closes that bar.
    last_ns = max(tape.last_ns, start_ns + MINUTE_NS)
    batches[0].insert(0, marker(start_ns, "marker-1"))
    batches[-1].append(marker(last_ns, "marker-2"))
    return Tape(
        batches=batches,
        instruments=[*names, MARKER],
        start_ns=start_ns,
        last_ns=last_ns,
        ticks=sum(len(batch) for batch in batches),
    )


# -- the data client ------------------------------------------------------------------------


class ReplayClient(DataClient):
    """A broker connection that hands ready-made batches to its feed.

    ``paced``: each batch is delivered when the scheduler's clock reaches its last trade;
    otherwise at once, one after the other (each delivery asks for the next). Delivery starts
    on connect when ``start_on_connect``, else on :meth:`start`. Deliveries run as scheduler
    callbacks (the simulated loop, or the threaded runtime's timer thread).
    """

    def __init__(
        self,
        batches: Iterable[list[TradeTick]],
        *,
        paced: bool,
        start_on_connect: bool = True,
        name: str = "bench",
    ) -> None:
        self.name = name
        self._batches = iter(batches)
        self._paced = paced
        self._start_on_connect = start_on_connect
        self._events: FeedEvents | None = None
        self._scheduler: Scheduler | None = None
        self.ticks_delivered = 0
        self.first_delivery_ns: int | None = None
        """``perf_counter_ns`` at the first delivery."""
        self.last_delivery_ns = 0
        """``perf_counter_ns`` just before the latest ``on_ticks`` call."""

    def connect(self, events: FeedEvents, scheduler: Scheduler) -> None:
        self._events, self._scheduler = events, scheduler
        scheduler.call_at(scheduler.now_ns(), events.on_connected)
        if self._start_on_connect:
            self.start()

    def subscribe(self, instruments: Sequence[str]) -> None:
        """Every instrument of the tape is delivered anyway."""

    def unsubscribe(self, instruments: Sequence[str]) -> None:
        """Every instrument of the tape is delivered anyway."""

    def disconnect(self) -> None:
        self._events = None

    def start(self) -> None:
        """Start delivering the batches."""
        self._schedule_next()

    def deliver_now(self, ticks: list[TradeTick]) -> None:
        """Deliver ``ticks`` from a scheduler callback due now (apart from the batches)."""
        scheduler = self._scheduler
        assert scheduler is not None, "not connected"
        scheduler.call_at(scheduler.now_ns(), lambda: self._deliver(ticks, chain=False))

    def _schedule_next(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        batch = next(self._batches, None)
        if batch is None:
            return
        due = batch[-1].ts_event if self._paced else scheduler.now_ns()
        scheduler.call_at(due, lambda: self._deliver(batch, chain=True))

    def _deliver(self, ticks: list[TradeTick], *, chain: bool) -> None:
        events = self._events
        if events is None:
            return
        self.last_delivery_ns = stamp = time.perf_counter_ns()
        if self.first_delivery_ns is None:
            self.first_delivery_ns = stamp
        events.on_ticks(ticks)
        self.ticks_delivered += len(ticks)
        if chain:
            self._schedule_next()


# -- the pipeline ----------------------------------------------------------------------------


def always_open(_instrument: str, _ts_ns: int) -> bool:
    return True


def pipeline(
    client: ReplayClient,
    runtime: Runtime,
    instruments: Sequence[str],
    close_delay_ns: int | None = None,
) -> SupervisorSpec:
    """The feed and the aggregator (``1m`` bars of every instrument), each its own actor."""

    def aggregator() -> BarAggregator:
        if close_delay_ns is None:
            return BarAggregator({"*": ["1m"]})
        return BarAggregator({"*": ["1m"]}, close_delay_ns=close_delay_ns)

    def feed() -> Feed:
        return Feed(
            client,
            runtime,
            instruments,
            market_open=always_open,
            config=FeedConfig(downstream=AGGREGATOR),
        )

    return tree(
        "market",
        [ActorSpec(name=AGGREGATOR, factory=aggregator), ActorSpec(name=FEED, factory=feed)],
    )


class BarTally:
    """Counts the bars a listener sees and the trades in them (any thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bars = 0
        self.trades = 0

    def __call__(self, _topic: str, message: Any) -> None:
        if isinstance(message, Bar):
            with self.lock:
                self.bars += 1
                self.trades += message.trade_count

    def listen(self, runtime: Runtime, instruments: Iterable[str]) -> None:
        for instrument in instruments:
            runtime.add_listener(bars_topic(instrument), self)


# -- the benchmarks ---------------------------------------------------------------------------


def bench_simulated(tape: Tape) -> Figures:
    gc.collect()
    runtime = SimulatedRuntime(start_ns=tape.start_ns)
    client = ReplayClient(tape.batches, paced=True)
    tally = BarTally()
    try:
        runtime.start(pipeline(client, runtime, tape.instruments))
        tally.listen(runtime, tape.instruments)
        runtime.run(until_ns=tape.start_ns)  # connected; the first batch is due later
        runtime.run(until_ns=tape.last_ns)
        finished = time.perf_counter_ns()
        if client.first_delivery_ns is None or client.ticks_delivered != tape.ticks:
            raise BenchTimeoutError(
                f"simulated: {client.ticks_delivered} of {tape.ticks} ticks delivered"
            )
        # Past the last interval's end and the close delay: the timer closes every bar.
        runtime.run(until_ns=tape.last_ns + 2 * MINUTE_NS)
    finally:
        runtime.stop()
    return {
        "ticks_per_s_simulated": rate(tape.ticks, finished - client.first_delivery_ns),
        "ticks_in_bars_simulated": tally.trades,
    }


def bench_threaded(tape: Tape) -> Figures:
    gc.collect()
    client = ReplayClient(tape.batches, paced=False, start_on_connect=False)
    tally = BarTally()
    marker_seen = threading.Event()
    marker_ns = [0]

    def on_marker_bar(_topic: str, message: Any) -> None:
        if isinstance(message, Bar) and not marker_seen.is_set():
            marker_ns[0] = time.perf_counter_ns()
            marker_seen.set()

    runtime = ThreadedRuntime()
    try:
        runtime.start(pipeline(client, runtime, tape.instruments, close_delay_ns=DAY_NS))
        tally.listen(runtime, tape.instruments)
        runtime.add_listener(bars_topic(MARKER), on_marker_bar)
        client.start()
        wait(marker_seen, "the marker's bar (the aggregator taking the last tick)")
        assert client.first_delivery_ns is not None
        elapsed = marker_ns[0] - client.first_delivery_ns
    finally:
        runtime.stop()  # the aggregator publishes every bar whose interval has ended
    return {
        "ticks_per_s_threaded": rate(tape.ticks, elapsed),
        "ticks_in_bars_threaded": tally.trades,
    }


def bench_latency(samples: int) -> Figures:
    """Idle tick-to-bar latency: one trade at a time, each closing one instrument's bar."""
    names = instrument_ids()
    sampled = names[:: INSTRUMENTS // LATENCY_INSTRUMENTS][:LATENCY_INSTRUMENTS]
    rounds = math.ceil(samples / len(sampled))
    # Whole minutes in the recent past; the aggregator's timer is kept out of it (close delay).
    base = (time.time_ns() // MINUTE_NS - rounds - 2) * MINUTE_NS

    def trade(instrument: int, minute: int) -> TradeTick:
        ts = base + minute * MINUTE_NS + instrument * 1_000_000
        return TradeTick(
            ts_event=ts,
            ts_init=ts,
            instrument=sampled[instrument],
            price=100.0 + TICK_SIZE * minute,
            size=1.0,
            trade_id=f"{minute}-{instrument}",
        )

    opening = [trade(k, 0) for k in range(len(sampled))]
    closing = [trade(s % len(sampled), 1 + s // len(sampled)) for s in range(samples)]

    arrived = threading.Event()
    arrived_ns = [0]

    def on_bar(_topic: str, message: Any) -> None:
        if isinstance(message, Bar):
            arrived_ns[0] = time.perf_counter_ns()
            arrived.set()

    gc.collect()
    client = ReplayClient((), paced=False, start_on_connect=False)
    runtime = ThreadedRuntime()
    times: list[float] = []
    try:
        runtime.start(pipeline(client, runtime, names, close_delay_ns=DAY_NS))
        for instrument in sampled:
            runtime.add_listener(bars_topic(instrument), on_bar)
        client.deliver_now(opening)
        if not runtime.wait_idle(timeout_s=30.0):
            raise BenchTimeoutError("the opening trades were not handled within 30 s")
        for tick in closing:
            arrived.clear()
            client.deliver_now([tick])
            wait(arrived, f"the bar closed by {tick.instrument} at {tick.ts_event}")
            times.append((arrived_ns[0] - client.last_delivery_ns) / 1e3)
    finally:
        runtime.stop()
    return {
        "tick_to_bar_us_p50": percentile(times, 50),
        "tick_to_bar_us_p99": percentile(times, 99),
        "tick_to_bar_samples": len(times),
    }


def rss_mb() -> float:
    """Resident memory now, MB (Linux: ``/proc/self/statm``; elsewhere ``ru_maxrss``)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return peak_rss_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, MB (``ru_maxrss``: KB on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def bench_memory(duration_s: int) -> Figures:
    """Resident memory, once a second, while the simulated pipeline runs for ``duration_s``."""
    gc.collect()
    start_ns = (time.time_ns() // MINUTE_NS - 24 * 60) * MINUTE_NS
    names = instrument_ids()
    tape = TradeTape(names, start_ns=start_ns, trade_ids=False)
    client = ReplayClient(tape.batches(), paced=True)
    runtime = SimulatedRuntime(start_ns=start_ns)
    readings: list[float] = []
    try:
        runtime.start(pipeline(client, runtime, names))
        runtime.run(until_ns=start_ns)
        began = time.monotonic()
        next_reading = began
        market_ns = start_ns
        while True:
            now = time.monotonic()
            if now >= next_reading:
                readings.append(rss_mb())
                next_reading += 1.0
                if now - began >= duration_s:
                    break
            market_ns += SECOND_NS
            runtime.run(until_ns=market_ns)
        peak = max(peak_rss_mb(), *readings)
    finally:
        runtime.stop()
    warm = readings[len(readings) // 4]
    return {
        "rss_mb_start": readings[0],
        "rss_mb_end": readings[-1],
        "rss_growth_mb_after_warmup": readings[-1] - warm,
        "peak_rss_mb": peak,
        "memory_run_s": duration_s,
        "memory_run_ticks": client.ticks_delivered,
        "memory_run_market_minutes": (market_ns - start_ns) / MINUTE_NS,
    }


def run(quick: bool = False, progress: Progress | None = None) -> Figures:
    """Run every market-data benchmark; return the figures (``python`` is the only string).

    ``quick`` runs smaller sizes (the tests use it); ``progress`` is called with one line per
    figure as it is known.
    """
    sizes = QUICK if quick else FULL
    figures: Figures = {
        "python": platform.python_version(),
        "cpu_count": os.cpu_count() or 0,
        "instruments": INSTRUMENTS,
    }

    add = collector(figures, progress)

    with quiet_logs():
        add(bench_memory(sizes.memory_run_s))
        # Whole minutes, the last tick a little in the past (the threaded replay must not
        # send ticks from the future).
        span_min = math.ceil(sizes.ticks / (INSTRUMENTS * TRADES_PER_INSTRUMENT_S) / 60)
        start_ns = (time.time_ns() // MINUTE_NS - span_min - 3) * MINUTE_NS
        tape = make_tape(sizes.ticks, start_ns)
        add({"ticks_sent": tape.ticks})
        add(bench_simulated(tape))
        add(bench_threaded(tape))
        del tape
        add(bench_latency(sizes.latency_samples))
    return figures


def main(argv: list[str] | None = None) -> int:
    args = bench_parser(
        "market", "Measure the feed and bar aggregator.", "smaller sizes (about 20 s)"
    ).parse_args(argv)
    return report(run, quick=args.quick, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
