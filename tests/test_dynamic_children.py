"""Actors added to and removed from a running tree (OTP's start_child / terminate_child),
under both runtimes: delivery, supervision of the new child, removal, name reuse, errors,
and, threaded only, placement and the end of a removed actor's thread."""

from __future__ import annotations

import threading

import msgspec
import pytest

from engine.actor import Actor, handles
from engine.backoff import Backoff
from engine.context import Context
from engine.messages.runtime import (
    TOPIC_DEAD_LETTERS,
    TOPIC_SUPERVISION,
    ActorStopped,
    MessageDeadLettered,
    SupervisorStatus,
    TradingState,
)
from engine.runtime import RuntimeStateError
from engine.runtime_config import RuntimeConfig
from engine.spec import ActorSpec, Strategy, SupervisorSpec
from engine.supervision import SupervisorDownError
from engine.testing import SECOND, Capture, Driver
from tests.support import FAST, Crash, Journal, Ping, Worker, pings, starts


class Listening(Worker):
    """A worker that subscribes to ``topics`` when it starts."""

    def __init__(self, journal: Journal, topics: tuple[str, ...] = ("t",), **kw: int) -> None:
        super().__init__(journal, **kw)
        self.topics = topics

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        for topic in self.topics:
            ctx.subscribe(topic)


class Tick(msgspec.Struct, frozen=True):
    pass


class Ticking(Worker):
    """Sets a timer at start and records it firing."""

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.schedule_once(SECOND // 2, Tick())

    @handles(Tick)
    def on_tick(self, _: Tick) -> None:
        self.journal.add(self.ctx.name, ("tick", self.ctx.incarnation))


class Where(msgspec.Struct, frozen=True):
    pass


class Placed(Actor):
    @handles(Where)
    def on_where(self, _: Where) -> str:
        return threading.current_thread().name


def worker(journal: Journal, name: str, **kw: int) -> ActorSpec:
    return ActorSpec(name, lambda: Worker(journal, **kw), backoff=FAST, poison_after=1)


def listening(journal: Journal, name: str, *topics: str) -> ActorSpec:
    return ActorSpec(
        name, lambda: Listening(journal, topics or ("t",)), backoff=FAST, poison_after=1
    )


def tree(journal: Journal, strategy: Strategy, *names: str) -> SupervisorSpec:
    return SupervisorSpec(
        "root", [worker(journal, n) for n in names], strategy=strategy, intensity=50
    )


def supervisor(driver: Driver, name: str) -> SupervisorStatus:
    [found] = [s for s in driver.runtime.describe().supervisors if s.name == name]
    return found


def crash_and_wait(driver: Driver, journal: Journal, target: str) -> None:
    before = len(starts(journal, target))
    driver.send(target, Crash())
    driver.wait_for(lambda: len(starts(journal, target)) > before, what=f"{target} restarted")
    driver.settle()


# -- an added actor is an actor like the others ----------------------------------------------


def test_added_actor_receives_its_messages_and_topics_and_is_described(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.ONE_FOR_ONE, "a", "b"))

    driver.runtime.add_actor("root", listening(journal, "n", "t", "bars:*"))

    assert starts(journal, "n") == [1]  # on_start has run when add_actor returns
    driver.send("n", Ping(1))
    driver.runtime.publish("t", Ping(2))
    driver.runtime.publish("bars:INFY", Ping(3))
    driver.wait_for(lambda: pings(journal, "n") == [1, 2, 3], what="n got all three")
    assert driver.runtime.watched("t") and driver.runtime.watched("bars:TCS")
    report = driver.runtime.describe()
    [status] = [a for a in report.actors if a.name == "n"]
    assert (status.supervisor, status.state, status.incarnation) == ("root", "running", 1)
    assert status.handled == 3
    assert supervisor(driver, "root").children == ["a", "b", "n"]
    assert [len(starts(journal, x)) for x in "ab"] == [1, 1]  # siblings untouched


def test_messages_sent_to_an_added_name_before_it_runs_wait_for_it(driver: Driver) -> None:
    journal = Journal()
    slow_start = Backoff(initial_s=0.05, jitter=0.0)
    driver.start(tree(journal, Strategy.ONE_FOR_ONE, "a"))

    driver.runtime.add_actor(
        "root", ActorSpec("n", lambda: Worker(journal, fail_starts=1), backoff=slow_start)
    )
    assert driver.runtime.state_of("n").value == "restarting"  # its first start failed
    driver.send("n", Ping(1))

    driver.wait_for(lambda: pings(journal, "n") == [1], what="ping after the retry")
    assert starts(journal, "n") == [1, 2]
    assert [e[2] for e in journal.of("n") if e[0] == "ping"] == [2]
    assert supervisor(driver, "root").restarts_in_period == 1  # counted like any failure


def test_added_actor_is_restarted_alone_under_one_for_one(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.ONE_FOR_ONE, "a", "b"))
    driver.runtime.add_actor("root", worker(journal, "n"))

    crash_and_wait(driver, journal, "n")

    assert [len(starts(journal, x)) for x in ("a", "b", "n")] == [1, 1, 2]
    assert driver.runtime.state_of("n").value == "running"


def test_added_actor_crash_restarts_every_sibling_under_one_for_all(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.ONE_FOR_ALL, "a", "b"))
    driver.runtime.add_actor("root", worker(journal, "n"))
    del journal.events[:]

    crash_and_wait(driver, journal, "n")
    driver.wait_for(lambda: all(len(starts(journal, x)) == 1 for x in "ab"), what="all up")
    driver.settle()

    stops = [who for who, what in journal.events if what[0] == "stop"]
    restarted = [who for who, what in journal.events if what[0] == "start"]
    assert stops == ["n", "b", "a"]  # the failed one as it died, then the rest in reverse
    assert restarted == ["a", "b", "n"]  # declared order, the added one last


def test_added_actor_restarts_with_the_siblings_under_one_for_all(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.ONE_FOR_ALL, "a", "b"))
    driver.runtime.add_actor("root", worker(journal, "n"))

    crash_and_wait(driver, journal, "a")
    driver.wait_for(lambda: len(starts(journal, "n")) == 2, what="n restarted with a")

    assert [len(starts(journal, x)) for x in ("a", "b", "n")] == [2, 2, 2]


def test_added_actor_counts_as_declared_last_under_rest_for_one(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.REST_FOR_ONE, "a", "b", "c"))
    driver.add_actor("root", worker(journal, "n"))  # add, then settle

    crash_and_wait(driver, journal, "b")
    driver.wait_for(lambda: len(starts(journal, "n")) == 2, what="n restarted after b")
    assert [len(starts(journal, x)) for x in ("a", "b", "c", "n")] == [1, 2, 2, 2]

    crash_and_wait(driver, journal, "n")  # the last child: nobody after it
    assert [len(starts(journal, x)) for x in ("a", "b", "c", "n")] == [1, 2, 2, 3]


def test_added_while_earlier_siblings_restart_starts_after_them(driver: Driver) -> None:
    journal = Journal()
    slow = Backoff(initial_s=0.2, jitter=0.0)
    driver.start(
        SupervisorSpec(
            "root",
            [
                worker(journal, "a"),
                ActorSpec("b", lambda: Worker(journal), backoff=slow, poison_after=1),
                worker(journal, "c"),
            ],
            strategy=Strategy.REST_FOR_ONE,
        )
    )
    driver.send("b", Crash())
    driver.wait_for(lambda: driver.runtime.state_of("c").value == "restarting", what="b, c down")
    del journal.events[:]

    driver.runtime.add_actor("root", worker(journal, "n"))  # b and c are still down

    driver.wait_for(lambda: starts(journal, "n") == [1], what="n started")
    assert [who for who, what in journal.events if what[0] == "start"] == ["b", "c", "n"]


def test_added_to_a_nested_supervisor_escalates_like_its_siblings(driver: Driver) -> None:
    journal = Journal()
    inner = SupervisorSpec("inner", [worker(journal, "x")], intensity=1, period_s=60)
    driver.start(SupervisorSpec("root", [worker(journal, "a"), inner], intensity=5))
    driver.runtime.add_actor("inner", worker(journal, "n"))
    assert supervisor(driver, "inner").children == ["x", "n"]

    crash_and_wait(driver, journal, "n")
    driver.send("n", Crash())  # the second restart within the period: inner gives up
    driver.wait_for(lambda: len(starts(journal, "x")) == 2, what="inner restarted by root")
    driver.wait_for(lambda: len(starts(journal, "n")) == 3, what="n restarted with inner")

    assert len(starts(journal, "a")) == 1


# -- removal -----------------------------------------------------------------------------------


def test_removed_actor_drains_stops_and_leaves_nothing_behind(driver: Driver) -> None:
    journal = Journal()
    driver.start(
        SupervisorSpec(
            "root", [worker(journal, "a"), listening(journal, "n", "t", "bars:*")], intensity=50
        )
    )
    supervision = Capture(driver.runtime, [TOPIC_SUPERVISION])
    letters = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])
    for n in range(5):
        driver.send("n", Ping(n))

    driver.runtime.remove_actor("n")

    assert pings(journal, "n") == [0, 1, 2, 3, 4]  # drained first, as at shutdown
    assert journal.of("n")[-1] == ("stop", 1)
    [stopped] = [m for m in supervision.messages(kind=ActorStopped) if m.name == "n"]
    assert stopped.reason == "removed"
    assert not driver.runtime.watched("t")
    assert not driver.runtime.watched("bars:INFY")
    assert "n" not in [a.name for a in driver.runtime.describe().actors]
    assert supervisor(driver, "root").children == ["a"]
    with pytest.raises(KeyError, match="'n'"):
        driver.runtime.state_of("n")

    driver.send("n", Ping(9))
    driver.runtime.publish("t", Ping(10))  # reaches no one, and is no dead letter
    driver.settle()
    [letter] = letters.messages(kind=MessageDeadLettered)
    assert (letter.target, letter.message_type) == ("n", "Ping")
    assert pings(journal, "n") == [0, 1, 2, 3, 4]
    assert [len(starts(journal, x)) for x in "a"] == [1]  # no sibling restarted


def test_what_reaches_a_removed_actor_after_its_drain_is_dead_lettered(driver: Driver) -> None:
    journal = Journal()

    class Parting(Worker):
        def on_stop(self) -> None:
            super().on_stop()
            self.ctx.send(self.ctx.name, Ping(99))  # queued after the drain

    driver.start(SupervisorSpec("root", [ActorSpec("n", lambda: Parting(journal))]))
    letters = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])

    driver.runtime.remove_actor("n")
    driver.settle()

    [letter] = letters.messages(kind=MessageDeadLettered)
    assert (letter.target, letter.message_type) == ("n", "Ping")
    assert letter.reason.startswith("actor retired")
    assert pings(journal, "n") == []


def test_a_removed_name_can_be_added_again_from_scratch(driver: Driver) -> None:
    journal = Journal()
    driver.start(SupervisorSpec("root", [worker(journal, "a"), listening(journal, "n")]))
    crash_and_wait(driver, journal, "n")  # the old one is at incarnation 2
    driver.send("n", Ping(1))
    driver.wait_for(lambda: pings(journal, "n") == [1], what="old n pinged")

    driver.remove_actor("n")
    driver.add_actor("root", listening(journal, "n"))
    driver.send("n", Ping(2))
    driver.runtime.publish("t", Ping(3))
    driver.wait_for(lambda: pings(journal, "n") == [1, 2, 3], what="new n pinged")

    assert starts(journal, "n") == [1, 2, 1]
    assert [e[2] for e in journal.of("n") if e[0] == "ping"] == [2, 1, 1]
    [status] = [a for a in driver.runtime.describe().actors if a.name == "n"]
    assert (status.incarnation, status.restarts, status.failures, status.handled) == (1, 0, 0, 2)
    assert supervisor(driver, "root").children == ["a", "n"]


def test_removing_a_restarting_actor_cancels_its_restart(driver: Driver) -> None:
    journal = Journal()
    slow = Backoff(initial_s=0.2, jitter=0.0)
    driver.start(
        SupervisorSpec(
            "root", [ActorSpec("w", lambda: Worker(journal), backoff=slow, poison_after=5)]
        )
    )
    letters = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])
    driver.send("w", Crash())
    driver.wait_for(lambda: driver.runtime.state_of("w").value == "restarting", what="w down")

    driver.runtime.remove_actor("w")
    driver.runtime.add_actor("root", ActorSpec("w", lambda: Ticking(journal)))
    # The old restart was due 0.2 s after the crash; the new actor's tick comes 0.5 s after
    # its start: once it ticked, the stale restart has had its turn and started nothing.
    driver.wait_for(lambda: ("tick", 1) in journal.of("w"), what="new w ticked")
    driver.settle()

    assert starts(journal, "w") == [1, 1]
    assert [(m.message_type, m.reason) for m in letters.messages(kind=MessageDeadLettered)] == [
        ("Crash", "actor retired (removed)")
    ]


# -- errors ----------------------------------------------------------------------------------


def test_errors_name_the_values(driver: Driver) -> None:
    journal = Journal()
    with pytest.raises(RuntimeStateError, match="not started"):
        driver.runtime.add_actor("root", worker(journal, "n"))
    with pytest.raises(RuntimeStateError, match="not started"):
        driver.runtime.remove_actor("n")
    inner = SupervisorSpec("inner", [worker(journal, "x")])
    driver.start(SupervisorSpec("root", [worker(journal, "a"), inner]))

    with pytest.raises(KeyError, match=r"'nope'.*\['root', 'inner'\]"):
        driver.runtime.add_actor("nope", worker(journal, "n"))
    with pytest.raises(ValueError, match="'a' is already used by an actor"):
        driver.runtime.add_actor("inner", worker(journal, "a"))
    with pytest.raises(ValueError, match="'inner' is already used by a supervisor"):
        driver.runtime.add_actor("root", worker(journal, "inner"))
    with pytest.raises(KeyError, match="no actor named 'ghost'"):
        driver.runtime.remove_actor("ghost")
    with pytest.raises(KeyError, match="'inner' is a supervisor"):
        driver.runtime.remove_actor("inner")
    driver.runtime.remove_actor("x")
    with pytest.raises(KeyError, match="no actor named 'x'"):
        driver.runtime.remove_actor("x")
    assert [s.children for s in driver.runtime.describe().supervisors] == [["a", "inner"], []]

    driver.stop()
    with pytest.raises(RuntimeStateError, match="stopped"):
        driver.runtime.add_actor("root", worker(journal, "n"))
    with pytest.raises(RuntimeStateError, match="stopped"):
        driver.runtime.remove_actor("a")


def test_nothing_can_be_added_once_the_engine_halted(driver: Driver) -> None:
    journal = Journal()
    driver.start(SupervisorSpec("root", [worker(journal, "a")], intensity=0))
    driver.send("a", Crash())
    driver.wait_for(lambda: driver.runtime.trading_state is TradingState.HALTED, what="halt")

    with pytest.raises(SupervisorDownError, match=r"'n'.*'root' gave up"):
        driver.runtime.add_actor("root", worker(journal, "n"))
    driver.runtime.remove_actor("a")  # a halted engine may still be tidied
    assert driver.runtime.describe().actors == []


# -- placement (threaded: where it runs; simulated: what it reports) ------------------------


@pytest.mark.parametrize("kind", ["threaded", "simulated"])
def test_added_actor_is_placed_by_the_configured_rules(kind: str) -> None:
    config = RuntimeConfig(
        kind=kind,  # type: ignore[arg-type]
        pools={"strategies": 1},
        placement={"strategy.*": "strategies"},
    )
    runtime = config.make_runtime()
    tree = SupervisorSpec("root", [ActorSpec("strategy.a", Placed), ActorSpec("router", Placed)])
    try:
        runtime.start(config.apply(tree))
        runtime.add_actor("root", ActorSpec("strategy.b", Placed))
        runtime.add_actor("root", ActorSpec("solo", Placed))
        where = {name: runtime.ask(name, Where()) for name in ("strategy.a", "strategy.b", "solo")}
        placements = {a.name: a.placement for a in runtime.describe().actors}
    finally:
        runtime.stop()

    if kind == "threaded":
        assert where == {
            "strategy.a": "troupe-strategies-0",
            "strategy.b": "troupe-strategies-0",
            "solo": "troupe-solo",
        }
        assert placements["strategy.b"] == "strategies:strategies-0"
    else:
        assert placements["strategy.b"] == "strategies"
    assert placements["solo"] == "dedicated"


def _thread(name: str) -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == name), None)


def test_a_removed_dedicated_actor_s_thread_ends_and_a_pool_thread_stays() -> None:
    config = RuntimeConfig(pools={"strategies": 1}, placement={"strategy.*": "strategies"})
    driver = Driver(config.make_runtime())
    try:
        driver.start(config.apply(SupervisorSpec("root", [ActorSpec("strategy.a", Placed)])))
        driver.runtime.add_actor("root", ActorSpec("solo.dyn", Placed))
        driver.runtime.add_actor("root", ActorSpec("strategy.dyn", Placed))
        solo, pool = _thread("troupe-solo.dyn"), _thread("troupe-strategies-0")
        assert solo is not None and solo.is_alive() and pool is not None

        driver.runtime.remove_actor("solo.dyn")
        driver.runtime.remove_actor("strategy.dyn")

        driver.wait_for(lambda: not solo.is_alive(), what="the dedicated thread ended")
        assert pool.is_alive()
        assert driver.runtime.ask("strategy.a", Where()) == "troupe-strategies-0"
        driver.runtime.add_actor("root", ActorSpec("solo.dyn", Placed))  # a thread again
        assert driver.runtime.ask("solo.dyn", Where()) == "troupe-solo.dyn"
    finally:
        driver.stop()


def test_an_actor_may_add_and_remove_actors_without_waiting_for_itself(driver: Driver) -> None:
    journal = Journal()

    class Add(msgspec.Struct, frozen=True):
        name: str

    class Remove(msgspec.Struct, frozen=True):
        name: str

    runtime = driver.runtime

    class Host(Actor):  # holds the runtime, as a strategy host would
        @handles(Add)
        def on_add(self, add: Add) -> None:
            runtime.add_actor("root", ActorSpec(add.name, lambda: Worker(journal), placement="p"))

        @handles(Remove)
        def on_remove(self, remove: Remove) -> None:
            runtime.remove_actor(remove.name)

    # The host shares a pool thread with what it adds: waiting there would never end.
    driver.start(SupervisorSpec("root", [ActorSpec("host", Host, placement="p")]))
    driver.send("host", Add("w"))
    driver.wait_for(lambda: starts(journal, "w") == [1], what="w added")
    driver.send("w", Ping(1))
    driver.wait_for(lambda: pings(journal, "w") == [1], what="w pinged")
    driver.send("host", Remove("w"))
    driver.wait_for(lambda: journal.of("w")[-1] == ("stop", 1), what="w removed")
    driver.settle()

    assert [a.name for a in runtime.describe().actors] == ["host"]
