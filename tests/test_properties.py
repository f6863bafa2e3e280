"""Property: random traffic with crashes injected loses nothing and keeps per-sender order.

A small tree (``a`` under the root, ``b`` and ``c`` under a ``rest_for_one`` supervisor) gets
a random sequence of messages from several senders. Each message says how many of its own
deliveries crash the handler: 0 (handled first time), 1 or 2 (handled by a later incarnation)
or more than the poison bound (dead-lettered with its error). Crashes of ``b`` also restart
``c``, so messages wait in mailboxes through restarts they did not cause.

Invariants: every message is handled exactly once by some incarnation, or dead-lettered as
poison with its own error, never both, never neither; and for each (receiver, sender) the
handled messages keep the order they were sent in.
"""

from __future__ import annotations

import collections
import threading

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.actor import Actor, handles
from engine.messages.runtime import TOPIC_DEAD_LETTERS, MessageDeadLettered
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, Strategy, SupervisorSpec
from engine.testing import Capture, Driver, make_runtime
from tests.support import FAST

POISON_AFTER = 3
TARGETS = ("a", "b", "c")
SENDERS = ("s1", "s2", "s3")


class Work(msgspec.Struct, frozen=True):
    sender: str
    seq: int
    crashes: int


class InjectedError(Exception):
    pass


class Ledger:
    """The test's record, outside the actors, shared by all incarnations and threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: collections.Counter[tuple[str, int]] = collections.Counter()
        self.handled: list[tuple[str, int, str, int]] = []


class Flaky(Actor):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @handles(Work)
    def on_work(self, work: Work) -> None:
        key = (work.sender, work.seq)
        with self.ledger.lock:
            self.ledger.deliveries[key] += 1
            attempt = self.ledger.deliveries[key]
        if attempt <= work.crashes:
            raise InjectedError(f"{work.sender}:{work.seq}")
        with self.ledger.lock:
            self.ledger.handled.append((self.ctx.name, self.ctx.incarnation, *key))


def build_tree(ledger: Ledger) -> SupervisorSpec:
    def flaky(name: str) -> ActorSpec:
        return ActorSpec(name, lambda: Flaky(ledger), backoff=FAST, poison_after=POISON_AFTER)

    return SupervisorSpec(
        "root",
        [
            flaky("a"),
            SupervisorSpec(
                "pair",
                [flaky("b"), flaky("c")],
                strategy=Strategy.REST_FOR_ONE,
                intensity=100_000,
                period_s=1,
                backoff=FAST,
            ),
        ],
        intensity=100_000,
        period_s=1,
    )


traffic = st.lists(
    st.tuples(
        st.sampled_from(TARGETS),
        st.sampled_from(SENDERS),
        st.sampled_from([0, 0, 0, 0, 0, 0, 1, 2, POISON_AFTER + 2]),
    ),
    min_size=1,
    max_size=60,
)


def run_traffic(kind: str, plan: list[tuple[str, str, int]]) -> None:
    ledger = Ledger()
    driver = Driver(make_runtime(kind))
    capture = Capture(driver.runtime, [TOPIC_DEAD_LETTERS])
    sent: list[tuple[str, Work]] = []
    seqs = collections.Counter[str]()
    for target, sender, crashes in plan:
        seqs[sender] += 1
        sent.append((target, Work(sender=sender, seq=seqs[sender], crashes=crashes)))
    try:
        driver.start(build_tree(ledger))
        if isinstance(driver.runtime, SimulatedRuntime):
            for target, work in sent:
                driver.send(target, work)
        else:
            send_from_one_thread_per_sender(driver, sent)
        driver.wait_for(
            lambda: len(ledger.handled) + len(capture.messages()) == len(sent),
            timeout_s=30,
            what="every message handled or dead-lettered",
        )
        driver.settle()
    finally:
        driver.stop()

    check_invariants(sent, ledger, capture.messages(kind=MessageDeadLettered))


def send_from_one_thread_per_sender(driver: Driver, sent: list[tuple[str, Work]]) -> None:
    by_sender: dict[str, list[tuple[str, Work]]] = collections.defaultdict(list)
    for target, work in sent:
        by_sender[work.sender].append((target, work))

    def send_all(items: list[tuple[str, Work]]) -> None:
        for target, work in items:
            driver.send(target, work)

    threads = [threading.Thread(target=send_all, args=(items,)) for items in by_sender.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def check_invariants(
    sent: list[tuple[str, Work]], ledger: Ledger, letters: list[MessageDeadLettered]
) -> None:
    handled = collections.Counter((sender, seq) for _, _, sender, seq in ledger.handled)
    dead = collections.Counter(
        (letter.error or "").removeprefix("InjectedError: ") for letter in letters
    )
    for target, work in sent:
        key = (work.sender, work.seq)
        if work.crashes >= POISON_AFTER:
            assert handled[key] == 0, f"poison {key} was handled"
            assert dead[f"{work.sender}:{work.seq}"] == 1, f"poison {key} not dead-lettered once"
        else:
            assert handled[key] == 1, f"{key} to {target} handled {handled[key]} times"
    assert all(letter.reason == "poison" for letter in letters)
    assert all(letter.attempts == POISON_AFTER for letter in letters)
    assert len(letters) == sum(1 for _, w in sent if w.crashes >= POISON_AFTER)

    # Per (receiver, sender): handled in the order sent.
    for target in TARGETS:
        for sender in SENDERS:
            expected = [
                w.seq
                for t, w in sent
                if t == target and w.sender == sender and w.crashes < POISON_AFTER
            ]
            got = [seq for name, _, s, seq in ledger.handled if name == target and s == sender]
            assert got == expected, f"order broken for {sender} -> {target}"


@settings(max_examples=200, deadline=None)
@given(plan=traffic)
def test_nothing_lost_and_order_kept_simulated(plan: list[tuple[str, str, int]]) -> None:
    run_traffic("simulated", plan)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=traffic)
def test_nothing_lost_and_order_kept_threaded(plan: list[tuple[str, str, int]]) -> None:
    run_traffic("threaded", plan)
