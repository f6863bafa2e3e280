"""Bounded mailboxes: conflation of market data, back-pressure for everything else."""

from __future__ import annotations

import threading

import pytest

from engine.actor import Actor, handles
from engine.backoff import Backoff
from engine.mailbox import EMPTY, Envelope, Mailbox, MailboxClosedError
from engine.messages import QuoteTick, TradeTick
from engine.runtime import Published
from engine.spec import ActorSpec, SupervisorSpec
from engine.stats import ActorFigures
from engine.testing import Driver
from engine.threaded import ThreadedRuntime
from tests.support import Crash, Ping


def tick(instrument: str, price: float) -> TradeTick:
    return TradeTick(ts_event=0, ts_init=0, instrument=instrument, price=price, size=1)


def drain(box: Mailbox) -> list[object]:
    out = []
    while (item := box.take()) is not EMPTY:
        out.append(item.message if isinstance(item, Envelope) else item)
    return out


def opened(capacity: int) -> tuple[Mailbox, ActorFigures]:
    figures = ActorFigures()
    box = Mailbox(capacity, figures)
    box.open()
    return box, figures


def test_market_data_below_capacity_is_kept_whole() -> None:
    box, figures = opened(10)
    for price in (1.0, 2.0, 3.0):
        box.put(Envelope(tick("INFY", price)), may_wait=False)

    assert [m.price for m in drain(box)] == [1.0, 2.0, 3.0]  # type: ignore[attr-defined]
    assert figures.conflated == 0


def test_full_mailbox_conflates_market_data_to_the_latest_per_instrument() -> None:
    box, figures = opened(3)
    box.put(Envelope(tick("INFY", 1.0)), may_wait=False)
    box.put(Envelope(tick("TCS", 10.0)), may_wait=False)
    box.put(Envelope(Ping(1)), may_wait=False)
    box.put(Envelope(tick("INFY", 2.0)), may_wait=False)  # full: replaces INFY 1.0
    box.put(Envelope(tick("INFY", 3.0)), may_wait=False)  # and again

    got = drain(box)

    assert got == [tick("TCS", 10.0), Ping(1), tick("INFY", 3.0)]  # newest at the tail
    assert figures.conflated == 2
    assert len(box) == 0


def test_conflation_key_separates_kinds_of_market_data() -> None:
    box, _ = opened(1)
    quote = QuoteTick(
        ts_event=0, ts_init=0, instrument="INFY", bid=1.0, ask=1.1, bid_size=1, ask_size=1
    )
    box.put(Envelope(tick("INFY", 1.0)), may_wait=False)
    box.put(Envelope(quote), may_wait=False)  # a quote does not replace a trade

    assert drain(box) == [tick("INFY", 1.0), quote]


def test_commands_are_never_dropped_from_an_actor_thread_they_go_over_capacity() -> None:
    box, figures = opened(2)
    for n in range(5):
        box.put(Envelope(Ping(n)), may_wait=False)

    assert drain(box) == [Ping(n) for n in range(5)]
    assert figures.over_capacity_admits == 3


def test_an_outside_sender_waits_for_room_then_delivers_in_order() -> None:
    box, figures = opened(2)
    box.put(Envelope(Ping(0)), may_wait=True)
    box.put(Envelope(Ping(1)), may_wait=True)
    sent = threading.Event()

    def sender() -> None:
        box.put(Envelope(Ping(2)), may_wait=True)
        sent.set()

    thread = threading.Thread(target=sender)
    thread.start()
    assert not sent.wait(0.05)  # blocked: the mailbox is full
    first = box.take()
    assert sent.wait(5)
    thread.join()

    assert first.message == Ping(0)
    assert drain(box) == [Ping(1), Ping(2)]
    assert figures.backpressure_waits == 1 and figures.backpressure_ns > 0


def test_retired_mailbox_refuses_and_releases_waiting_senders() -> None:
    box, _ = opened(1)
    box.put(Envelope(Ping(0)), may_wait=True)
    outcome: list[str] = []

    def sender() -> None:
        try:
            box.put(Envelope(Ping(1)), may_wait=True)
            outcome.append("delivered")
        except MailboxClosedError:
            outcome.append("refused")

    thread = threading.Thread(target=sender)
    thread.start()
    left = box.retire()
    thread.join(5)

    assert [e.message for e in left] == [Ping(0)]
    assert outcome == ["refused"]
    with pytest.raises(MailboxClosedError):
        box.put(Envelope(Ping(2)), may_wait=False)


def test_put_back_returns_a_crashed_message_to_the_head() -> None:
    box, _ = opened(10)
    box.put(Envelope(Ping(1)), may_wait=False)
    box.put(Envelope(Ping(2)), may_wait=False)
    crashed = box.take()
    assert isinstance(crashed, Envelope)
    box.close()
    box.put_back(crashed)
    box.open()

    assert drain(box) == [Ping(1), Ping(2)]


class Sink(Actor):
    def __init__(self, got: list[object]) -> None:
        self.got = got

    @handles(TradeTick, Ping)
    def on_any(self, message: object) -> None:
        self.got.append(message)

    @handles(Crash)
    def on_crash(self, crash: Crash) -> None:
        raise ValueError(crash.why)


def restarting_sink(capacity: int) -> tuple[Driver, list[object]]:
    """A threaded runtime whose sink is down for a while after a Crash (slow back-off)."""
    got: list[object] = []
    driver = Driver(ThreadedRuntime())
    spec = ActorSpec(
        "sink",
        lambda: Sink(got),
        mailbox_capacity=capacity,
        poison_after=1,
        backoff=Backoff(initial_s=0.3, jitter=0.0),
    )
    driver.start(SupervisorSpec("root", [spec]))
    driver.send("sink", Crash())
    driver.wait_for(lambda: driver.runtime.state_of("sink").value == "restarting")
    return driver, got


def test_runtime_conflates_ticks_for_an_actor_that_is_down() -> None:
    driver, got = restarting_sink(capacity=4)
    try:
        for i in range(1000):
            driver.send("sink", tick(("INFY", "TCS", "SBIN")[i % 3], float(i)))
        driver.wait_for(lambda: len(got) >= 3, what="the sink back up")
        driver.settle()
    finally:
        driver.stop()

    latest = {m.instrument: m.price for m in got if isinstance(m, TradeTick)}
    assert latest == {"SBIN": 998.0, "TCS": 997.0, "INFY": 999.0}
    assert len(got) <= 4 + 3  # capacity plus one per instrument
    status = driver.runtime.describe().actors[0]
    assert status.conflated == 1000 - len(got)


def test_runtime_back_pressures_an_outside_sender_instead_of_dropping() -> None:
    driver, got = restarting_sink(capacity=8)
    try:
        for n in range(100):  # blocks until the sink is back and makes room
            driver.send("sink", Ping(n))
        driver.wait_for(lambda: len(got) == 100, what="all pings")
    finally:
        driver.stop()

    assert got == [Ping(n) for n in range(100)]
    status = driver.runtime.describe().actors[0]
    assert status.backpressure_waits > 0 and status.conflated == 0


def test_published_market_data_conflates_per_topic_and_instrument() -> None:
    box, figures = opened(2)
    box.put(Published(topic="ticks:INFY", message=tick("INFY", 1.0)), may_wait=False)
    box.put(Published(topic="orders", message=Ping(1)), may_wait=False)
    box.put(Published(topic="ticks:INFY", message=tick("INFY", 2.0)), may_wait=False)
    box.put(Published(topic="orders", message=Ping(2)), may_wait=False)  # never dropped

    got = drain(box)

    assert got == [
        Published(topic="orders", message=Ping(1)),
        Published(topic="ticks:INFY", message=tick("INFY", 2.0)),
        Published(topic="orders", message=Ping(2)),
    ]
    assert (figures.conflated, figures.over_capacity_admits) == (1, 1)
