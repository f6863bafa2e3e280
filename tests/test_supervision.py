"""Supervision under both runtimes: strategies, restart types, intensity, on_start failures,
messages kept across restarts, poison messages, start and stop order."""

from __future__ import annotations

from engine.backoff import Backoff
from engine.messages.runtime import (
    TOPIC_DEAD_LETTERS,
    TOPIC_STATE,
    TOPIC_SUPERVISION,
    ActorFailed,
    ActorStarted,
    MessageDeadLettered,
    SupervisorGaveUp,
    TradingState,
    TradingStateChanged,
)
from engine.spec import ActorSpec, Restart, Strategy, SupervisorSpec
from engine.testing import Capture, Driver
from tests.support import FAST, Crash, Journal, Ping, Worker, pings, starts


def workers(journal: Journal, *names: str) -> list[ActorSpec]:
    """Workers that restart fast and drop a Crash after its first delivery."""
    return [ActorSpec(n, lambda: Worker(journal), backoff=FAST, poison_after=1) for n in names]


def tree(journal: Journal, strategy: Strategy, intensity: int = 50) -> SupervisorSpec:
    return SupervisorSpec(
        "root", workers(journal, "a", "b", "c", "d"), strategy=strategy, intensity=intensity
    )


def crash_and_wait(driver: Driver, journal: Journal, target: str) -> None:
    """Crash ``target`` once (the Crash is poison after 1 try) and wait until it runs again."""
    before = len(starts(journal, target))
    driver.send(target, Crash())
    driver.wait_for(lambda: len(starts(journal, target)) > before, what=f"{target} restarted")
    driver.settle()


def test_children_start_in_order_and_stop_in_reverse(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.ONE_FOR_ONE))

    driver.runtime.stop()

    kinds = [(who, what[0]) for who, what in journal.events]
    assert kinds == [
        ("a", "start"),
        ("b", "start"),
        ("c", "start"),
        ("d", "start"),
        ("d", "stop"),
        ("c", "stop"),
        ("b", "stop"),
        ("a", "stop"),
    ]


def test_one_for_one_restarts_only_the_failed_child(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.ONE_FOR_ONE))

    crash_and_wait(driver, journal, "b")

    assert [len(starts(journal, n)) for n in "abcd"] == [1, 2, 1, 1]


def test_one_for_all_restarts_every_child_in_order(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.ONE_FOR_ALL))
    del journal.events[:]

    crash_and_wait(driver, journal, "b")
    driver.wait_for(lambda: all(len(starts(journal, n)) == 1 for n in "abcd"), what="all up")

    stops = [who for who, what in journal.events if what[0] == "stop"]
    restarted = [who for who, what in journal.events if what[0] == "start"]
    assert stops == ["b", "d", "c", "a"]  # the failed one as it died, then the rest in reverse
    assert restarted == ["a", "b", "c", "d"]


def test_rest_for_one_restarts_exactly_the_later_siblings(driver: Driver) -> None:
    journal = Journal()
    driver.start(tree(journal, Strategy.REST_FOR_ONE))

    crash_and_wait(driver, journal, "b")
    driver.wait_for(lambda: len(starts(journal, "d")) == 2, what="d restarted")

    assert [len(starts(journal, n)) for n in "abcd"] == [1, 2, 2, 2]


def test_messages_queued_at_death_and_sent_during_restart_reach_the_next_incarnation(
    driver: Driver,
) -> None:
    journal = Journal()
    slow = Backoff(initial_s=0.2, jitter=0.0)
    driver.start(SupervisorSpec("root", [ActorSpec("w", lambda: Worker(journal), backoff=slow)]))

    driver.send("w", Ping(0))
    driver.send("w", Crash())
    for n in range(1, 51):  # queued behind the crash, and sent while it restarts
        driver.send("w", Ping(n))
    driver.wait_for(lambda: driver.runtime.state_of("w").value == "restarting", what="down")
    for n in range(51, 101):
        driver.send("w", Ping(n))

    driver.wait_for(lambda: len(pings(journal, "w")) == 101, what="all pings")
    assert pings(journal, "w") == list(range(101))
    incarnations = [e[2] for e in journal.of("w") if e[0] == "ping"]
    assert incarnations[0] == 1
    # The Crash stays at the head: incarnations 2 and 3 crash on it again before it is
    # dead-lettered, and only then do the pings behind it run, all on incarnation 4.
    assert set(incarnations[1:]) == {4}


def test_poison_message_is_dead_lettered_with_its_error_after_the_bound(
    driver: Driver,
) -> None:
    journal = Journal()
    driver.start(
        SupervisorSpec(
            "root",
            [ActorSpec("w", lambda: Worker(journal), backoff=FAST, poison_after=4)],
        )
    )
    capture = Capture(driver.runtime, [TOPIC_DEAD_LETTERS, TOPIC_SUPERVISION])

    driver.send("w", Crash("bad tick"))
    driver.send("w", Ping(1))
    driver.wait_for(lambda: pings(journal, "w") == [1], what="ping after poison")

    [letter] = capture.messages(kind=MessageDeadLettered)
    assert (letter.target, letter.message_type, letter.reason, letter.attempts) == (
        "w",
        "Crash",
        "poison",
        4,
    )
    assert letter.error == "ValueError: bad tick"
    assert len(capture.messages(kind=ActorFailed)) == 4
    assert starts(journal, "w") == [1, 2, 3, 4, 5]
    status = driver.runtime.describe().actors[0]
    assert (status.failures, status.restarts, status.dead_lettered) == (4, 4, 1)
    assert status.last_error == "ValueError: bad tick"


def test_failure_in_on_start_is_noticed_and_retried_by_policy(driver: Driver) -> None:
    journal = Journal()
    capture = Capture(driver.runtime, [TOPIC_SUPERVISION])
    driver.start(
        SupervisorSpec(
            "root",
            [
                ActorSpec("a", lambda: Worker(journal), backoff=FAST),
                ActorSpec("b", lambda: Worker(journal, fail_starts=2), backoff=FAST),
                ActorSpec("c", lambda: Worker(journal), backoff=FAST),
            ],
        )
    )
    driver.send("b", Ping(1))

    driver.wait_for(
        lambda: pings(journal, "b") == [1] and starts(journal, "c") == [1],
        what="b up on its third start, then c",
    )

    order = [who for who, what in journal.events if what[0] == "start"]
    assert order == ["a", "b", "b", "b", "c"]  # c waits for b, as declared
    failed = capture.messages(kind=ActorFailed)
    assert [(f.name, f.during, f.incarnation) for f in failed] == [
        ("b", "start", 1),
        ("b", "start", 2),
    ]
    assert driver.runtime.describe().actors[1].failures == 2


def test_failure_in_on_start_beyond_intensity_gives_up(driver: Driver) -> None:
    journal = Journal()
    capture = Capture(driver.runtime, [TOPIC_SUPERVISION, TOPIC_STATE])
    driver.start(
        SupervisorSpec(
            "root",
            [ActorSpec("b", lambda: Worker(journal, fail_starts=100), backoff=FAST)],
            intensity=3,
            period_s=60,
        )
    )

    driver.wait_for(lambda: bool(capture.messages(kind=TradingStateChanged)), what="halt")

    assert len(capture.messages(kind=SupervisorGaveUp)) == 1
    assert starts(journal, "b") == [1, 2, 3, 4]  # the first start and three restarts
    assert driver.runtime.trading_state is TradingState.HALTED


def test_escalation_after_n_restarts_in_t_restarts_the_subtree(driver: Driver) -> None:
    journal = Journal()
    inner = SupervisorSpec(
        "inner",
        workers(journal, "x", "y"),
        intensity=2,
        period_s=60,
        backoff=FAST,
    )
    driver.start(SupervisorSpec("root", [*workers(journal, "a"), inner], intensity=5, period_s=60))
    capture = Capture(driver.runtime, [TOPIC_SUPERVISION])

    for _ in range(3):  # the third restart within the period is one too many for "inner"
        crash_and_wait(driver, journal, "x")

    [gave_up] = capture.messages(kind=SupervisorGaveUp)
    assert gave_up.supervisor == "inner"
    driver.wait_for(lambda: len(starts(journal, "y")) == 2, what="y restarted with inner")
    assert len(starts(journal, "a")) == 1  # root is one_for_one: a is untouched
    assert driver.runtime.trading_state is TradingState.ACTIVE
    statuses = {s.name: s for s in driver.runtime.describe().supervisors}
    assert statuses["root"].restarts_in_period == 1
    assert not statuses["inner"].gave_up  # restarted fresh by root


def test_root_giving_up_halts_the_engine_and_publishes_it(driver: Driver) -> None:
    journal = Journal()
    driver.start(SupervisorSpec("root", workers(journal, "a", "b"), intensity=1, period_s=60))
    capture = Capture(driver.runtime, [TOPIC_STATE, TOPIC_SUPERVISION])

    crash_and_wait(driver, journal, "a")
    driver.send("a", Crash())
    driver.wait_for(lambda: bool(capture.messages(kind=TradingStateChanged)), what="halt")

    [change] = capture.messages(kind=TradingStateChanged)
    assert (change.previous, change.state) == (TradingState.ACTIVE, TradingState.HALTED)
    assert "root" in change.reason and "ValueError: boom" in change.reason
    assert driver.runtime.trading_state is TradingState.HALTED
    stops = [who for who, what in journal.events if what[0] == "stop"]
    assert stops[-2:] == ["a", "b"]  # a ended with its crash, then root stopped b
    assert driver.runtime.describe().supervisors[0].gave_up

    # Halted means halted: nothing queues up for actors that will not run again.
    letters = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])
    driver.send("b", Ping(9))
    driver.settle()
    [letter] = letters.messages(kind=MessageDeadLettered)
    assert (letter.target, letter.reason) == ("b", "actor retired")


def test_temporary_child_is_not_restarted_and_restarts_nobody(driver: Driver) -> None:
    journal = Journal()
    driver.start(
        SupervisorSpec(
            "root",
            [
                *workers(journal, "a"),
                ActorSpec("t", lambda: Worker(journal), restart=Restart.TEMPORARY),
                *workers(journal, "c"),
            ],
            strategy=Strategy.ONE_FOR_ALL,
        )
    )
    capture = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])

    driver.send("t", Crash())
    driver.send("t", Ping(1))
    driver.wait_for(lambda: driver.runtime.state_of("t").value == "retired", what="retired")
    driver.settle()

    assert [len(starts(journal, n)) for n in "atc"] == [1, 1, 1]
    letters = capture.messages(kind=MessageDeadLettered)
    assert sorted(m.message_type for m in letters) == ["Crash", "Ping"]


def test_transient_child_is_restarted_after_a_crash(driver: Driver) -> None:
    journal = Journal()
    driver.start(
        SupervisorSpec(
            "root",
            [ActorSpec("w", lambda: Worker(journal), restart=Restart.TRANSIENT, backoff=FAST)],
        )
    )

    crash_and_wait(driver, journal, "w")

    assert starts(journal, "w")[:2] == [1, 2]


def test_actor_started_events_follow_each_incarnation(driver: Driver) -> None:
    journal = Journal()
    capture = Capture(driver.runtime, [TOPIC_SUPERVISION])
    driver.start(SupervisorSpec("root", workers(journal, "a")))

    crash_and_wait(driver, journal, "a")

    started = [(m.name, m.incarnation) for m in capture.messages(kind=ActorStarted)]
    assert started[:2] == [("a", 1), ("a", 2)]


def test_a_graceful_stop_drains_what_later_actors_sent_on_their_way_out(driver: Driver) -> None:
    journal = Journal()

    class Farewell(Worker):
        def on_stop(self) -> None:
            self.ctx.send("a", Ping(99))  # a last bar, a last report
            super().on_stop()

    capture = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])
    driver.start(
        SupervisorSpec(
            "root",
            [ActorSpec("a", lambda: Worker(journal)), ActorSpec("b", lambda: Farewell(journal))],
        )
    )
    for n in range(50):
        driver.send("a", Ping(n))

    driver.runtime.stop()

    assert pings(journal, "a") == [*range(50), 99]
    assert capture.messages(kind=MessageDeadLettered) == []
    stops = [who for who, what in journal.events if what[0] == "stop"]
    assert stops == ["b", "a"]
