"""What only the threaded runtime has: placement, stop timeouts, the executor backstop."""

from __future__ import annotations

import threading

import msgspec

from engine.actor import Actor, handles
from engine.backoff import Backoff
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import Driver
from engine.threaded import ThreadedRuntime
from tests.support import Crash, Journal, Ping, Worker, pings, starts


class Where(msgspec.Struct, frozen=True):
    pass


class Placed(Actor):
    """The same code wherever it is placed; the test asks which thread ran it."""

    @handles(Where)
    def on_where(self, _: Where) -> str:
        return threading.current_thread().name

    @handles(Ping)
    def on_ping(self, ping: Ping) -> int:
        return ping.n


def test_shared_pool_hosts_many_actors_on_few_threads_without_code_change() -> None:
    runtime = ThreadedRuntime(pools={"strategies": 2})
    specs = [ActorSpec(f"s{i}", Placed, placement="strategies") for i in range(200)]
    specs.append(ActorSpec("solo", Placed))
    try:
        runtime.start(SupervisorSpec("root", specs))
        threads = {runtime.ask(f"s{i}", Where()) for i in range(200)}
        solo = runtime.ask("solo", Where())
        answers = [runtime.ask(f"s{i}", Ping(i)) for i in range(200)]
        placements = {a.name: a.placement for a in runtime.describe().actors}
    finally:
        runtime.stop()

    assert threads == {"troupe-strategies-0", "troupe-strategies-1"}
    assert solo == "troupe-solo"
    assert answers == list(range(200))
    assert placements["s0"] == "strategies:strategies-0"
    assert placements["s1"] == "strategies:strategies-1"
    assert placements["solo"] == "dedicated"


def test_unknown_pool_size_is_refused_with_the_value() -> None:
    try:
        ThreadedRuntime(pools={"strategies": 0})
    except ValueError as exc:
        assert "executor pool 'strategies'" in str(exc) and "got 0" in str(exc)
    else:
        raise AssertionError("a pool of 0 threads was accepted")


class Stuck(Actor):
    """An on_stop that does not return in time (it waits on the test's event)."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def on_stop(self) -> None:
        self.release.wait(10)


def test_stop_gives_up_on_an_actor_after_its_shutdown_timeout_and_goes_on() -> None:
    release = threading.Event()
    journal = Journal()
    runtime = ThreadedRuntime()
    runtime.start(
        SupervisorSpec(
            "root",
            [
                ActorSpec("first", lambda: Worker(journal)),
                ActorSpec("stuck", lambda: Stuck(release), shutdown_timeout_s=0.2),
            ],
        )
    )
    try:
        runtime.stop()  # returns although "stuck" never finished its on_stop

        assert ("first", ("stop", 1)) in journal.events  # stopping went on, in reverse order
        assert runtime.state_of("stuck").value == "retired"
    finally:
        release.set()


def test_a_fault_in_the_runtime_itself_is_caught_by_pykka_and_the_executor_replaced() -> None:
    journal = Journal()
    runtime = ThreadedRuntime()
    driver = Driver(runtime)
    driver.start(
        SupervisorSpec(
            "root",
            [ActorSpec("w", lambda: Worker(journal), backoff=Backoff(initial_s=0.001))],
        )
    )
    original = runtime._run_batch
    failed_once = threading.Event()

    def faulty(cell: object) -> None:
        if not failed_once.is_set():
            failed_once.set()
            raise RuntimeError("bug in the runtime")
        original(cell)  # type: ignore[arg-type]

    runtime._run_batch = faulty  # type: ignore[method-assign]
    try:
        for n in range(20):
            driver.send("w", Ping(n))
        driver.wait_for(lambda: len(pings(journal, "w")) == 20, what="all pings after the fault")
    finally:
        driver.stop()

    assert pings(journal, "w") == list(range(20))
    assert starts(journal, "w") == [1, 2]  # the actor the executor was running restarted
    status = runtime.describe().actors[0]
    assert status.last_error is not None and "bug in the runtime" in status.last_error


def test_introspection_shows_the_mailbox_building_up_during_a_restart() -> None:
    journal = Journal()
    runtime = ThreadedRuntime()
    driver = Driver(runtime)
    slow = Backoff(initial_s=1.0, jitter=0.0)  # room to look, even on a loaded machine
    driver.start(
        SupervisorSpec(
            "root", [ActorSpec("w", lambda: Worker(journal, fail_starts=0), backoff=slow)]
        )
    )
    try:
        driver.send("w", Crash())
        driver.wait_for(lambda: runtime.state_of("w").value == "restarting")
        for n in range(10):
            driver.send("w", Ping(n))
        during = runtime.describe().actors[0]
        driver.wait_for(lambda: len(pings(journal, "w")) == 10)
        after = runtime.describe().actors[0]
    finally:
        driver.stop()

    assert (during.state, during.mailbox_depth) == ("restarting", 11)  # the Crash and 10 pings
    assert during.last_error == "ValueError: boom"
    assert after.state == "running" and after.restarts >= 1
    assert after.handled == 10 and after.latency_us_p50 is not None


def test_try_send_refuses_instead_of_waiting_when_full() -> None:
    journal = Journal()
    runtime = ThreadedRuntime()
    slow = Backoff(initial_s=0.5, jitter=0.0)
    runtime.start(
        SupervisorSpec(
            "root",
            [ActorSpec("w", lambda: Worker(journal), backoff=slow, mailbox_capacity=2)],
        )
    )
    driver = Driver(runtime)
    try:
        runtime.send("w", Crash())
        driver.wait_for(lambda: runtime.state_of("w").value == "restarting")
        accepted = [runtime.try_send("w", Ping(n)) for n in range(3)]
    finally:
        runtime.stop()

    assert accepted == [True, False, False]  # the Crash and one Ping fill capacity 2
