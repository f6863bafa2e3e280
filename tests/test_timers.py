"""Timers under both runtimes: one-shot, periodic, cancel, order, and incarnation ownership."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import msgspec
import pytest

from engine.actor import Actor, handles
from engine.context import Context, Timer
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import MILLISECOND, Driver
from engine.threaded import ThreadedRuntime
from tests.support import FAST, Crash, Journal


class Fire(msgspec.Struct, frozen=True):
    label: str


class CancelTimer(msgspec.Struct, frozen=True):
    label: str


class Clocked(Actor):
    """Sets the timers it is told to in on_start and journals (label, now_ns) per firing."""

    def __init__(self, journal: Journal, plan: list[tuple[str, int, int | None]]) -> None:
        self.journal = journal
        self.plan = plan
        self.timers: dict[str, Timer] = {}

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.started_ns = ctx.now_ns()
        self.journal.add("start", (ctx.incarnation, self.started_ns))
        for label, delay_ns, every_ns in self.plan:
            if every_ns is None:
                self.timers[label] = ctx.schedule_once(delay_ns, Fire(label))
            else:
                self.timers[label] = ctx.schedule_periodic(
                    every_ns, Fire(label), first_delay_ns=delay_ns
                )

    @handles(Fire)
    def on_fire(self, fire: Fire) -> None:
        now = self.ctx.now_ns()
        self.journal.add("fire", (fire.label, now - self.started_ns))
        self.journal.add("fire_at", now)

    @handles(CancelTimer)
    def on_cancel(self, cancel: CancelTimer) -> None:
        self.timers[cancel.label].cancel()

    @handles(Crash)
    def on_crash(self, crash: Crash) -> None:
        raise ValueError(crash.why)


def fired(journal: Journal, label: str | None = None) -> list[tuple[str, int]]:
    return [f for f in journal.of("fire") if label is None or f[0] == label]


def start(driver: Driver, journal: Journal, plan: list[tuple[str, int, int | None]]) -> None:
    spec = ActorSpec("clock", lambda: Clocked(journal, plan), backoff=FAST, poison_after=1)
    driver.start(SupervisorSpec("root", [spec]))


def test_one_shot_timers_fire_once_in_time_order(driver: Driver) -> None:
    journal = Journal()
    start(
        driver,
        journal,
        [
            ("c", 30 * MILLISECOND, None),
            ("a", 10 * MILLISECOND, None),
            ("b", 20 * MILLISECOND, None),
        ],
    )

    driver.wait_for(lambda: len(fired(journal)) == 3, what="three firings")
    driver.settle()

    assert [label for label, _ in fired(journal)] == ["a", "b", "c"]
    for label, elapsed in fired(journal):
        due = {"a": 10, "b": 20, "c": 30}[label] * MILLISECOND
        assert elapsed >= due - MILLISECOND  # the wall clock may differ from monotonic by ~µs
        if driver.simulated:
            assert elapsed == due  # exact in simulation


def test_periodic_timer_fires_on_its_grid_until_cancelled(driver: Driver) -> None:
    journal = Journal()
    start(driver, journal, [("tick", 5 * MILLISECOND, 10 * MILLISECOND)])

    driver.wait_for(lambda: len(fired(journal)) >= 4, what="four ticks")
    driver.send("clock", CancelTimer("tick"))
    driver.settle()
    count = len(fired(journal))
    if driver.simulated:
        driver.runtime.advance(100 * MILLISECOND)  # type: ignore[attr-defined]
    else:
        # Give a wrongly live timer time to fire twice more, on a condition with a deadline.
        with pytest.raises(AssertionError):
            driver.wait_for(lambda: len(fired(journal)) > count, timeout_s=0.05)

    assert len(fired(journal)) == count
    elapsed = [e for _, e in fired(journal)]
    for i, value in enumerate(elapsed):
        assert value >= (5 + 10 * i) * MILLISECOND - MILLISECOND
    if driver.simulated:
        assert elapsed[:4] == [
            5 * MILLISECOND,
            15 * MILLISECOND,
            25 * MILLISECOND,
            35 * MILLISECOND,
        ]


def test_threaded_timer_fires_within_a_small_tolerance() -> None:
    # The simulated clock is exact (see the ordering tests); the wall clock needs a tolerance.
    driver = Driver(ThreadedRuntime())
    journal = Journal()
    try:
        start(driver, journal, [("once", 20 * MILLISECOND, None)])
        driver.wait_for(lambda: len(fired(journal)) == 1, what="one firing")
    finally:
        driver.stop()

    [(_, elapsed)] = fired(journal)
    # Not early; late by at most a generous scheduling tolerance on a loaded 2-core CI box.
    assert 19 * MILLISECOND <= elapsed < 20 * MILLISECOND + 500 * MILLISECOND


def test_timers_die_with_their_incarnation(driver: Driver) -> None:
    journal = Journal()
    # A periodic timer set in on_start. After a crash only the new incarnation's timer may
    # fire: a surviving old one would interleave its own grid, leaving gaps under a period.
    start(driver, journal, [("tick", 10 * MILLISECOND, 10 * MILLISECOND)])
    driver.wait_for(lambda: len(fired(journal)) >= 2, what="two ticks")

    driver.send("clock", Crash())
    driver.wait_for(lambda: len(journal.of("start")) == 2, what="restart")
    restart_ns = journal.of("start")[1][1]
    driver.wait_for(
        lambda: sum(1 for t in journal.of("fire_at") if t > restart_ns) >= 4,
        what="four ticks after the restart",
    )

    after = [t for t in journal.of("fire_at") if t > restart_ns]
    gaps = [b - a for a, b in itertools.pairwise(after)]
    if driver.simulated:
        assert after[0] - restart_ns == 10 * MILLISECOND
        assert gaps == [10 * MILLISECOND] * len(gaps)
    else:
        # Late firings may leave short gaps (the grid is kept), but the count cannot exceed
        # one per period since the restart; a surviving old timer would about double it.
        periods = (after[-1] - restart_ns) // (10 * MILLISECOND)
        assert len(after) <= periods + 1


def test_timer_validation_names_the_bad_value(driver: Driver) -> None:
    errors: list[str] = []

    class Bad(Actor):
        def on_start(self, ctx: Context) -> None:
            super().on_start(ctx)
            calls: list[Callable[[], Timer]] = [
                lambda: ctx.schedule_once(-1, Fire("x")),
                lambda: ctx.schedule_periodic(0, Fire("x")),
                lambda: ctx.schedule_once(1.5, Fire("x")),  # type: ignore[arg-type]
            ]
            for call in calls:
                try:
                    call()
                except (TypeError, ValueError) as exc:
                    errors.append(str(exc))

    driver.start(SupervisorSpec("root", [ActorSpec("bad", Bad)]))

    assert errors == [
        "delay_ns must be >= 0 ns, got -1",
        "interval_ns must be > 0 ns, got 0",
        "delay_ns must be an int of nanoseconds, got 1.5",
    ]


def test_call_at_runs_a_callback_at_runtime_time(driver: Driver) -> None:
    """Data clients schedule through the runtime: simulated time, or the wall clock."""
    fired: list[int] = []
    driver.start(SupervisorSpec("root", []))
    runtime = driver.runtime
    due = runtime.now_ns() + 20 * MILLISECOND

    runtime.call_at(due, lambda: fired.append(runtime.now_ns()))
    driver.wait_for(lambda: len(fired) == 1, what="the callback")

    assert fired[0] >= due - MILLISECOND
    if driver.simulated:
        assert fired == [due]


class Go(msgspec.Struct, frozen=True):
    hops: int
    cancel: bool = False


class Echo(msgspec.Struct, frozen=True):
    left: int


class Settler(Actor):
    """On Go: asks for a settled firing, then sends an echo that bounces ``hops`` times
    between it and ``relay`` at the same instant."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @handles(Go)
    def on_go(self, go: Go) -> None:
        timer = self.ctx.schedule_settled(Fire("settled"))
        if go.cancel:
            timer.cancel()
        self.journal.add("go_at", self.ctx.now_ns())
        self.ctx.send("relay", Echo(go.hops))

    @handles(Echo)
    def on_echo(self, echo: Echo) -> None:
        self.journal.add("echo", echo.left)
        if echo.left > 0:
            self.ctx.send("relay", Echo(echo.left - 1))

    @handles(Fire)
    def on_fire(self, fire: Fire) -> None:
        self.journal.add("fire", (fire.label, self.ctx.now_ns()))


class Relay(Actor):
    @handles(Echo)
    def on_echo(self, echo: Echo) -> None:
        self.ctx.send("settler", echo)


def test_a_settled_timer_fires_after_the_instant_has_settled(driver: Driver) -> None:
    # Arrange
    journal = Journal()
    driver.start(
        SupervisorSpec(
            "root",
            [ActorSpec("settler", lambda: Settler(journal)), ActorSpec("relay", Relay)],
        )
    )

    # Act: one settled firing wanted, one wanted and then cancelled
    driver.send("settler", Go(hops=5))
    driver.wait_for(lambda: len(journal.of("fire")) == 1 and len(journal.of("echo")) == 6)
    driver.send("settler", Go(hops=1, cancel=True))
    driver.wait_for(lambda: len(journal.of("echo")) == 8)
    driver.settle()

    # Assert: it fires once; simulated, after every echo of its instant and at that instant
    assert [label for label, _ in journal.of("fire")] == ["settled"]
    if driver.simulated:
        started = journal.of("go_at")[0]
        assert journal.events.index(("fire", ("settled", started))) > journal.events.index(
            ("echo", 0)
        )
