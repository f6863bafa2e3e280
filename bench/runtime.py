"""Figures for the actor runtime: throughput, latency, restart time, loss under crashes.

Benchmarks report figures; they do not pass or fail (DESIGN §2). The one figure with a right
answer, ``messages_lost``, is checked by ``tests/test_bench_runtime.py``, never the speeds.

Run it with ``troupe bench runtime [--json] [--quick]`` or ``python -m bench.runtime``.

What is measured (``N`` differs between the full and the ``quick`` run):

``tell_msgs_per_s``
    Threaded runtime, one hop: the main thread sends ``N`` small frozen msgspec Structs to one
    actor (default mailbox of 1024, so the sender meets back-pressure) that counts them; the
    clock runs from the first send until the actor publishes ``Done`` (seen by a listener).
``chain5_latency_us_p50`` / ``_p99``
    Threaded, five actors in a chain, idle: one message at a time, from just before the send to
    the listener seeing the fifth actor publish it. Each actor has its own thread, so every hop
    is a thread hand-off.
``chain5_one_thread_latency_us_p50`` / ``_p99``
    The same chain placed on one shared executor thread (``placement="hot"``): the hot path
    placed together, as DESIGN §3 suggests, with no hand-off between hops.
``restart_ms_p50`` / ``_p99``
    Threaded, one crash per actor: from just before a handler raises to the new incarnation
    handling the ``Probe`` sent right after the crash. The default :class:`Backoff` waits
    8-10 ms before a first restart, and that is included on purpose: it is the figure an
    operator sees. Each sample crashes a different actor because a child's back-off doubles
    with every failure until it has run ``reset_after_s`` (30 s) without failing.
    ``restart_no_backoff_ms_*`` is the same with a zero back-off: the runtime's own cost.
``messages_lost`` (must be 0), ``messages_sent``, ``messages_dead_lettered``, ``crashes``,
``order_violations`` (must be 0)
    Threaded, two external sender threads, six actors (three under ``one_for_one``, three in a
    ``rest_for_one`` subtree). About 1% of the messages crash their handler on the first
    delivery only; a few are poison (crash every time, dead-lettered after ``poison_after``).
    ``messages_lost = sent - handled - dead-lettered``. A violation is a message handled after
    a later one from the same sender to the same actor. Back-off is 1 ms here: with the
    default, a child crashing every few hundred ms would soon wait 30 s per restart.
``sim_events_per_s``, ``sim_pingpong_events_per_s``
    Simulated runtime: ``N`` messages queued to a no-op actor, then ``run()`` timed; and two
    actors bouncing a counter ``N`` times.
``dedicated_threads_msgs_per_s_1000_actors``, ``shared_executor_msgs_per_s_1000_actors``,
``shared_vs_dedicated_ratio``
    Threaded, 1000 counting actors fed round-robin by the main thread, until each has published
    ``Done``: one pykka thread per actor (the default placement) versus one shared executor
    thread (``placement="pool"``, ``pools={"pool": 1}``).

The bench's messages are plain frozen Structs, not catalogue messages: without the two
timestamps they measure the runtime rather than message construction.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec

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
from engine.actor import Actor, handles
from engine.backoff import Backoff
from engine.context import Context
from engine.messages.runtime import (
    TOPIC_DEAD_LETTERS,
    TOPIC_SUPERVISION,
    ActorFailed,
    MessageDeadLettered,
)
from engine.simulated import SimulatedRuntime
from engine.spec import DEDICATED, ActorSpec, Strategy, SupervisorSpec
from engine.threaded import ThreadedRuntime

WAIT_S = 120.0
"""The longest any one wait may take before the bench gives up on it."""

DONE_TOPIC = "bench.done"
CHAIN_TOPIC = "bench.chain"
PROBE_TOPIC = "bench.probe"


@dataclass(frozen=True)
class Sizes:
    tell_messages: int
    chain_rounds: int
    restart_samples: int
    crash_messages: int
    sim_messages: int
    sim_bounces: int
    fanout_actors: int
    fanout_messages: int


FULL = Sizes(
    tell_messages=200_000,
    chain_rounds=2_000,
    restart_samples=100,
    crash_messages=20_000,
    sim_messages=1_000_000,
    sim_bounces=1_000_000,
    fanout_actors=1_000,
    fanout_messages=200_000,
)
QUICK = Sizes(
    tell_messages=20_000,
    chain_rounds=300,
    restart_samples=50,
    crash_messages=10_000,
    sim_messages=100_000,
    sim_bounces=100_000,
    fanout_actors=1_000,
    fanout_messages=20_000,
)


class BenchTimeoutError(RuntimeError):
    """A benchmark waited longer than :data:`WAIT_S` for the runtime."""


# -- messages ---------------------------------------------------------------------------------


class Tick(msgspec.Struct, frozen=True):
    seq: int


class Done(msgspec.Struct, frozen=True):
    name: str


class Hop(msgspec.Struct, frozen=True):
    seq: int


class Crash(msgspec.Struct, frozen=True):
    seq: int


class Probe(msgspec.Struct, frozen=True):
    seq: int


class Ball(msgspec.Struct, frozen=True):
    count: int


class Work(msgspec.Struct, frozen=True):
    sender: int
    seq: int
    mode: int


NORMAL, CRASH_ONCE, POISON = 0, 1, 2


class BenchCrashError(Exception):
    """Raised on purpose by the bench's actors."""


# -- actors -----------------------------------------------------------------------------------


class Counter(Actor):
    """Counts ticks; publishes ``Done`` on reaching ``target``."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0

    @handles(Tick)
    def on_tick(self, tick: Tick) -> None:
        self.count += 1
        if self.count == self.target:
            self.ctx.publish(DONE_TOPIC, Done(name=self.ctx.name))


class Relay(Actor):
    """Passes a hop to the next actor, or publishes it at the end of the chain."""

    def __init__(self, next_name: str | None) -> None:
        self.next_name = next_name

    @handles(Hop)
    def on_hop(self, hop: Hop) -> None:
        if self.next_name is None:
            self.ctx.publish(CHAIN_TOPIC, hop)
        else:
            self.ctx.send(self.next_name, hop)


crash_started_ns: dict[int, int] = {}
"""Crash sequence number -> ``perf_counter_ns`` just before the handler raised. Written by the
crashing actor: a measurement the bench takes, not actor logic."""


class Crasher(Actor):
    """Raises on a ``Crash`` the first time it sees it; answers a ``Probe`` by publishing it."""

    @handles(Crash)
    def on_crash(self, crash: Crash) -> None:
        if crash.seq in crash_started_ns:
            return  # the crashing message, redelivered to the new incarnation
        crash_started_ns[crash.seq] = time.perf_counter_ns()
        raise BenchCrashError(f"crash {crash.seq}")

    @handles(Probe)
    def on_probe(self, probe: Probe) -> None:
        self.ctx.publish(PROBE_TOPIC, probe)


class LossLedger:
    """What the crash test's actors handled, kept on the bench's side (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.crashed_once: set[tuple[int, int]] = set()
        self.handled = 0
        self.violations = 0
        self.last_seq: dict[tuple[str, int], int] = {}

    def first_delivery(self, work: Work) -> bool:
        key = (work.sender, work.seq)
        with self.lock:
            if key in self.crashed_once:
                return False
            self.crashed_once.add(key)
            return True

    def record(self, actor: str, work: Work) -> None:
        key = (actor, work.sender)
        with self.lock:
            self.handled += 1
            if work.seq <= self.last_seq.get(key, -1):
                self.violations += 1
            self.last_seq[key] = work.seq


class Worker(Actor):
    """Handles ``Work``: crashes on the first delivery of a CRASH_ONCE, always on POISON."""

    def __init__(self, ledger: LossLedger) -> None:
        self.ledger = ledger

    @handles(Work)
    def on_work(self, work: Work) -> None:
        if work.mode == POISON:
            raise BenchCrashError(f"poison {work.sender}/{work.seq}")
        if work.mode == CRASH_ONCE and self.ledger.first_delivery(work):
            raise BenchCrashError(f"first delivery of {work.sender}/{work.seq}")
        self.ledger.record(self.ctx.name, work)


class Sink(Actor):
    """Does nothing with a tick."""

    @handles(Tick)
    def on_tick(self, tick: Tick) -> None:
        pass


class Bouncer(Actor):
    """Sends the ball back to its peer with the count raised by one, up to ``limit``."""

    def __init__(self, peer: str, limit: int) -> None:
        self.peer = peer
        self.limit = limit

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.send = ctx.send

    @handles(Ball)
    def on_ball(self, ball: Ball) -> None:
        if ball.count < self.limit:
            self.send(self.peer, Ball(count=ball.count + 1))


# -- helpers ----------------------------------------------------------------------------------


@contextmanager
def threaded(
    tree: SupervisorSpec, pools: dict[str, int] | None = None
) -> Iterator[ThreadedRuntime]:
    """A started threaded runtime, always stopped afterwards."""
    gc.collect()
    runtime = ThreadedRuntime(pools=pools)
    try:
        runtime.start(tree)
        yield runtime
    finally:
        runtime.stop()


def tree(name: str, children: list[ActorSpec | SupervisorSpec]) -> SupervisorSpec:
    """A one_for_one supervisor that never gives up (10,000 restarts a second)."""
    return SupervisorSpec(name=name, children=children, intensity=10_000, period_s=1.0)


def wait(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT_S):
        raise BenchTimeoutError(f"gave up waiting {WAIT_S:g}s for {what}")


# -- the benchmarks ---------------------------------------------------------------------------


def bench_tell(messages: int) -> Figures:
    done = threading.Event()
    spec = tree("root", [ActorSpec(name="counter", factory=lambda: Counter(messages))])
    with threaded(spec) as runtime:
        runtime.add_listener(DONE_TOPIC, lambda _topic, _message: done.set())
        tick = Tick(seq=0)
        send = runtime.send
        started = time.perf_counter_ns()
        for _ in range(messages):
            send("counter", tick)
        wait(done, "the counter")
        elapsed = time.perf_counter_ns() - started
    return {"tell_msgs_per_s": rate(messages, elapsed)}


def bench_chain(rounds: int, placement: str = DEDICATED, prefix: str = "chain5") -> Figures:
    """Idle latency of one message through five actors: one thread each (``dedicated``), or
    all on one shared executor thread (a hot path placed together: no thread hand-offs)."""
    names = [f"a{i}" for i in range(1, 6)]
    specs: list[ActorSpec | SupervisorSpec] = [
        ActorSpec(name=name, factory=lambda nxt=nxt: Relay(nxt), placement=placement)  # type: ignore[misc]
        for name, nxt in zip(names, [*names[1:], None], strict=True)
    ]
    arrived = threading.Event()
    arrived_ns = [0]

    def on_arrival(_topic: str, _message: Any) -> None:
        arrived_ns[0] = time.perf_counter_ns()
        arrived.set()

    samples: list[float] = []
    warmup = min(100, rounds // 10)
    with threaded(tree("root", specs)) as runtime:
        runtime.add_listener(CHAIN_TOPIC, on_arrival)
        for seq in range(warmup + rounds):
            arrived.clear()
            hop = Hop(seq=seq)
            started = time.perf_counter_ns()
            runtime.send("a1", hop)
            wait(arrived, f"hop {seq} through the chain")
            if seq >= warmup:
                samples.append((arrived_ns[0] - started) / 1e3)
    return {
        f"{prefix}_latency_us_p50": percentile(samples, 50),
        f"{prefix}_latency_us_p99": percentile(samples, 99),
    }


def bench_restart(samples: int, backoff: Backoff, prefix: str) -> Figures:
    crash_started_ns.clear()
    handled_ns: dict[int, int] = {}
    probed = threading.Event()

    def on_probe(_topic: str, message: Any) -> None:
        handled_ns[message.seq] = time.perf_counter_ns()
        probed.set()

    specs: list[ActorSpec | SupervisorSpec] = [
        ActorSpec(name=f"crasher{i}", factory=Crasher, backoff=backoff) for i in range(samples)
    ]
    with threaded(tree("root", specs)) as runtime:
        runtime.add_listener(PROBE_TOPIC, on_probe)
        for seq in range(samples):
            probed.clear()
            runtime.send(f"crasher{seq}", Crash(seq=seq))
            runtime.send(f"crasher{seq}", Probe(seq=seq))
            wait(probed, f"crasher{seq} to restart")
    times = [(handled_ns[seq] - crash_started_ns[seq]) / 1e6 for seq in range(samples)]
    return {f"{prefix}_p50": percentile(times, 50), f"{prefix}_p99": percentile(times, 99)}


def bench_loss(messages: int) -> Figures:
    ledger = LossLedger()
    workers = [f"w{i}" for i in range(6)]
    backoff = Backoff(initial_s=0.001, multiplier=1.0, max_s=0.001)

    def worker(name: str) -> ActorSpec:
        return ActorSpec(name=name, factory=lambda: Worker(ledger), backoff=backoff)

    subtree = SupervisorSpec(
        name="rest",
        children=[worker(name) for name in workers[3:]],
        strategy=Strategy.REST_FOR_ONE,
        backoff=backoff,
        intensity=10_000,
        period_s=1.0,
    )
    spec = tree("root", [*(worker(name) for name in workers[:3]), subtree])

    senders = 2
    per_sender = messages // senders
    plans: list[list[Work]] = []
    for sender in range(senders):
        draw = random.Random(sender).random
        poison = {per_sender * k // 4 + sender for k in (1, 2, 3)}
        plans.append(
            [
                Work(
                    sender=sender,
                    seq=seq,
                    mode=POISON if seq in poison else CRASH_ONCE if draw() < 0.01 else NORMAL,
                )
                for seq in range(per_sender)
            ]
        )
    sent = sum(len(plan) for plan in plans)

    counts_lock = threading.Lock()
    counts = {"dead": 0, "crashes": 0}

    def on_dead_letter(_topic: str, message: Any) -> None:
        if isinstance(message, MessageDeadLettered) and message.message_type == "Work":
            with counts_lock:
                counts["dead"] += 1

    def on_supervision(_topic: str, message: Any) -> None:
        if isinstance(message, ActorFailed):
            with counts_lock:
                counts["crashes"] += 1

    with threaded(spec) as runtime:
        runtime.add_listener(TOPIC_DEAD_LETTERS, on_dead_letter)
        runtime.add_listener(TOPIC_SUPERVISION, on_supervision)

        def feed(plan: list[Work]) -> None:
            for work in plan:
                runtime.send(workers[work.seq % len(workers)], work)

        threads = [
            threading.Thread(target=feed, args=(plan,), name=f"bench-sender-{i}")
            for i, plan in enumerate(plans)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while ledger.handled + counts["dead"] < sent and time.monotonic() < deadline:
            time.sleep(0.005)  # the bench polls; actors never sleep
        runtime.wait_idle(timeout_s=10.0)
        with ledger.lock, counts_lock:
            handled, dead, crashes = ledger.handled, counts["dead"], counts["crashes"]
            violations = ledger.violations
    return {
        "messages_sent": sent,
        "messages_lost": sent - handled - dead,
        "messages_dead_lettered": dead,
        "crashes": crashes,
        "order_violations": violations,
    }


def bench_sim(messages: int) -> Figures:
    gc.collect()
    runtime = SimulatedRuntime()
    try:
        runtime.start(tree("root", [ActorSpec(name="sink", factory=Sink)]))
        tick = Tick(seq=0)
        for _ in range(messages):
            runtime.send("sink", tick)
        started = time.perf_counter_ns()
        events = runtime.run()
        elapsed = time.perf_counter_ns() - started
    finally:
        runtime.stop()
    return {"sim_events_per_s": rate(events, elapsed)}


def bench_sim_pingpong(bounces: int) -> Figures:
    gc.collect()
    runtime = SimulatedRuntime()
    specs: list[ActorSpec | SupervisorSpec] = [
        ActorSpec(name="ping", factory=lambda: Bouncer("pong", bounces)),
        ActorSpec(name="pong", factory=lambda: Bouncer("ping", bounces)),
    ]
    try:
        runtime.start(tree("root", specs))
        runtime.send("ping", Ball(count=0))
        started = time.perf_counter_ns()
        events = runtime.run()
        elapsed = time.perf_counter_ns() - started
    finally:
        runtime.stop()
    return {"sim_pingpong_events_per_s": rate(events, elapsed)}


def bench_fanout(actors: int, messages: int, placement: str | None) -> float:
    """Messages per second through ``actors`` counters fed round-robin from this thread."""
    per_actor = messages // actors
    names = [f"n{i}" for i in range(actors)]
    specs: list[ActorSpec | SupervisorSpec] = [
        ActorSpec(name=name, factory=lambda: Counter(per_actor), placement=placement or DEDICATED)
        for name in names
    ]
    all_done = threading.Event()
    lock = threading.Lock()
    finished = [0]

    def on_done(_topic: str, _message: Any) -> None:
        with lock:
            finished[0] += 1
            if finished[0] == actors:
                all_done.set()

    pools = None if placement is None else {placement: 1}
    tick = Tick(seq=0)
    with threaded(tree("root", specs), pools=pools) as runtime:
        runtime.add_listener(DONE_TOPIC, on_done)
        send = runtime.send
        started = time.perf_counter_ns()
        for _ in range(per_actor):
            for name in names:
                send(name, tick)
        wait(all_done, f"{actors} actors")
        elapsed = time.perf_counter_ns() - started
    return rate(per_actor * actors, elapsed)


def run(quick: bool = False, progress: Progress | None = None) -> Figures:
    """Run every runtime benchmark; return the figures (``python`` is the only string).

    ``quick`` runs smaller sizes (the tests use it); ``progress`` is called with one line per
    figure as it is known.
    """
    sizes = QUICK if quick else FULL
    figures: Figures = {"python": platform.python_version(), "cpu_count": os.cpu_count() or 0}

    add = collector(figures, progress)

    with quiet_logs():
        add(bench_tell(sizes.tell_messages))
        add(bench_chain(sizes.chain_rounds))
        add(bench_chain(sizes.chain_rounds, placement="hot", prefix="chain5_one_thread"))
        add(bench_restart(sizes.restart_samples, Backoff(), "restart_ms"))
        add(
            bench_restart(
                sizes.restart_samples, Backoff(initial_s=0.0, jitter=0.0), "restart_no_backoff_ms"
            )
        )
        add(bench_loss(sizes.crash_messages))
        add(bench_sim(sizes.sim_messages))
        add(bench_sim_pingpong(sizes.sim_bounces))
        dedicated = bench_fanout(sizes.fanout_actors, sizes.fanout_messages, None)
        add({"dedicated_threads_msgs_per_s_1000_actors": dedicated})
        shared = bench_fanout(sizes.fanout_actors, sizes.fanout_messages, "pool")
        add(
            {
                "shared_executor_msgs_per_s_1000_actors": shared,
                "shared_vs_dedicated_ratio": shared / dedicated,
            }
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    args = bench_parser(
        "runtime", "Measure the actor runtime.", "smaller sizes (a few seconds)"
    ).parse_args(argv)
    return report(run, quick=args.quick, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
