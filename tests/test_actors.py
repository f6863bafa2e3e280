"""The actor API under both runtimes: handlers by type, ask, pub/sub, dead letters, stop."""

from __future__ import annotations

import msgspec
import pytest

from engine.actor import Actor, handles
from engine.context import Context
from engine.messages.runtime import TOPIC_DEAD_LETTERS, DescribeActors, MessageDeadLettered
from engine.runtime import RUNTIME_NAME, DeadLetterError, Published
from engine.spec import ActorSpec, Restart, SupervisorSpec
from engine.testing import Capture, Driver, recorder
from tests.support import Journal, Ping, Stop, Worker, pings, starts


class Base(msgspec.Struct, frozen=True):
    n: int


class Derived(Base, frozen=True):
    pass


class Other(msgspec.Struct, frozen=True):
    pass


class Typed(Actor):
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    @handles(Base)
    def on_base(self, m: Base) -> str:
        self.seen.append(f"base:{type(m).__name__}:{m.n}")
        return "base"

    @handles(Ping)
    def on_ping(self, m: Ping) -> int:
        self.seen.append(f"ping:{m.n}")
        return m.n + 1


def test_handlers_are_chosen_by_type_and_subclasses_fall_back(driver: Driver) -> None:
    seen: list[str] = []
    driver.start(SupervisorSpec("root", [ActorSpec("t", lambda: Typed(seen))]))

    assert driver.runtime.ask("t", Ping(1)) == 2
    assert driver.runtime.ask("t", Derived(n=7)) == "base"

    assert seen == ["ping:1", "base:Derived:7"]


def test_unhandled_message_is_dead_lettered_not_a_crash(driver: Driver) -> None:
    seen: list[str] = []
    driver.start(SupervisorSpec("root", [ActorSpec("t", lambda: Typed(seen))]))
    capture = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])

    with pytest.raises(DeadLetterError, match="no handler for Other"):
        driver.runtime.ask("t", Other())
    driver.runtime.ask("t", Ping(1))  # still alive, same incarnation

    [letter] = capture.messages(kind=MessageDeadLettered)
    assert (letter.target, letter.message_type) == ("t", "Other")
    status = next(a for a in driver.runtime.describe().actors if a.name == "t")
    assert (status.incarnation, status.failures, status.dead_lettered) == (1, 0, 1)


def test_send_to_an_unknown_name_is_dead_lettered(driver: Driver) -> None:
    journal = Journal()
    driver.start(SupervisorSpec("root", [ActorSpec("w", lambda: Worker(journal))]))
    capture = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])

    driver.send("nobody", Ping(1))

    [letter] = capture.messages(kind=MessageDeadLettered)
    assert letter.target == "nobody" and "no actor named" in letter.reason
    assert driver.runtime.dead_letters == 1


class Forwarder(Actor):
    """Publishes what it gets on a topic; subscribes in on_start."""

    @handles(Ping)
    def on_ping(self, ping: Ping) -> None:
        self.ctx.publish("pings", ping)


class Listener(Actor):
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.subscribe("pings")

    @handles(Ping)
    def on_ping(self, ping: Ping) -> None:
        self.journal.add(self.ctx.name, ping.n)
        if ping.n == 3:
            self.ctx.unsubscribe("pings")


def test_publish_reaches_subscribers_until_they_unsubscribe(driver: Driver) -> None:
    journal = Journal()
    driver.start(
        SupervisorSpec(
            "root",
            [
                ActorSpec("fwd", Forwarder),
                ActorSpec("l1", lambda: Listener(journal)),
                ActorSpec("l2", lambda: Listener(journal)),
            ],
        )
    )
    capture = Capture(driver.runtime, ["pings"])

    for n in range(1, 4):
        driver.send("fwd", Ping(n))
    driver.wait_for(lambda: len(journal.events) == 6, what="both listeners got three")
    for n in range(4, 6):  # published after both unsubscribed
        driver.send("fwd", Ping(n))
    driver.wait_for(lambda: len(capture.messages()) == 5, what="five publications")
    driver.settle()

    assert journal.of("l1") == [1, 2, 3]
    assert journal.of("l2") == [1, 2, 3]
    assert [p.n for p in capture.messages()] == [1, 2, 3, 4, 5]


def test_actor_to_actor_send_keeps_order(driver: Driver) -> None:
    spec, got = recorder("sink")

    class Relay(Actor):
        @handles(Ping)
        def on_ping(self, ping: Ping) -> None:
            self.ctx.send("sink", ping)

    driver.start(SupervisorSpec("root", [spec, ActorSpec("relay", Relay)]))
    for n in range(200):
        driver.send("relay", Ping(n))

    driver.wait_for(lambda: len(got) == 200, what="200 relayed")
    assert [p.n for p in got] == list(range(200))


def test_transient_actor_that_stops_normally_is_retired(driver: Driver) -> None:
    journal = Journal()
    driver.start(
        SupervisorSpec("root", [ActorSpec("w", lambda: Worker(journal), restart=Restart.TRANSIENT)])
    )
    capture = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])

    driver.send("w", Ping(1))
    driver.send("w", Stop())
    driver.send("w", Ping(2))
    driver.wait_for(lambda: driver.runtime.state_of("w").value == "retired", what="retired")
    driver.send("w", Ping(3))
    driver.settle()

    assert pings(journal, "w") == [1]
    assert starts(journal, "w") == [1]
    assert sorted(m.message_type for m in capture.messages(kind=MessageDeadLettered)) == [
        "Ping",
        "Ping",
    ]


def test_permanent_actor_that_stops_normally_is_restarted(driver: Driver) -> None:
    journal = Journal()
    driver.start(SupervisorSpec("root", [ActorSpec("w", lambda: Worker(journal))]))

    driver.send("w", Stop())
    driver.send("w", Ping(1))

    driver.wait_for(lambda: pings(journal, "w") == [1], what="ping after restart")
    assert starts(journal, "w") == [1, 2]


def test_the_runtime_answers_describe_actors_as_a_message(driver: Driver) -> None:
    journal = Journal()
    driver.start(SupervisorSpec("root", [ActorSpec("w", lambda: Worker(journal))]))
    driver.runtime.ask("w", Ping(1))

    report = driver.runtime.ask(RUNTIME_NAME, DescribeActors(ts_event=0, ts_init=0))

    [status] = report.actors
    assert (status.name, status.supervisor, status.state, status.handled) == (
        "w",
        "root",
        "running",
        1,
    )
    assert status.latency_us_p50 is not None and status.latency_us_p99 is not None
    assert [s.name for s in report.supervisors] == ["root"]
    assert report.runtime == driver.runtime.kind


def test_stop_accounts_for_what_was_never_handled(driver: Driver) -> None:
    journal = Journal()
    driver.start(SupervisorSpec("root", [ActorSpec("w", lambda: Worker(journal))]))
    driver.runtime.ask("w", Ping(1))
    capture = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])

    driver.runtime.stop()
    driver.send("w", Ping(2))  # after stop: refused, never queued for nobody
    driver.settle()

    [letter] = capture.messages(kind=MessageDeadLettered)
    assert (letter.target, letter.message_type, letter.reason) == ("w", "Ping", "actor retired")
    assert driver.runtime.state_of("w").value == "retired"


class TopicWatcher(Actor):
    def __init__(self, seen: list[tuple[str, int]]) -> None:
        self.seen = seen

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.subscribe("*", with_topic=True)

    @handles(Published)
    def on_published(self, published: Published) -> None:
        if isinstance(published.message, Ping):  # "*" also brings the runtime's own events
            self.seen.append((published.topic, published.message.n))


def test_a_wildcard_subscriber_gets_every_topic_with_its_name(driver: Driver) -> None:
    seen: list[tuple[str, int]] = []
    driver.start(SupervisorSpec("root", [ActorSpec("watch", lambda: TopicWatcher(seen))]))

    driver.runtime.publish("bars:INFY", Ping(1))
    driver.runtime.publish("orders", Ping(2))

    driver.wait_for(lambda: len(seen) == 2, what="both publications")
    assert seen == [("bars:INFY", 1), ("orders", 2)]


class BarsWatcher(Actor):
    def __init__(self, seen: list[tuple[str, int]]) -> None:
        self.seen = seen

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.subscribe("bars:*", with_topic=True)

    @handles(Published)
    def on_published(self, published: Published) -> None:
        self.seen.append((published.topic, published.message.n))


def test_a_prefix_subscription_gets_its_family_only_and_marks_it_watched(driver: Driver) -> None:
    seen: list[tuple[str, int]] = []
    driver.start(SupervisorSpec("root", [ActorSpec("bars", lambda: BarsWatcher(seen))]))

    driver.runtime.publish("bars:NSE:INFY", Ping(1))
    driver.runtime.publish("ticks:NSE:INFY", Ping(2))
    driver.runtime.publish("bars:NSE:TCS", Ping(3))

    driver.wait_for(lambda: len(seen) == 2, what="the two bar publications")
    driver.settle()
    assert seen == [("bars:NSE:INFY", 1), ("bars:NSE:TCS", 3)]
    assert driver.runtime.watched("bars:anything")
    assert not driver.runtime.watched("ticks:NSE:INFY")
    driver.runtime.unsubscribe("bars:*", "bars")
    assert not driver.runtime.watched("bars:NSE:INFY")
