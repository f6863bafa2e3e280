"""The web hub under both runtimes: it forwards the live topics, conflates market data within
a batch, and crosses out once per flush (here into a list instead of a loop)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.web_hub import NAME, FlushLiveView, WebHub
from engine.messages.market import Bar
from engine.messages.runtime import TOPIC_STATE, TOPIC_SUPERVISION
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import MILLISECOND, SECOND, Driver
from tests.web_support import fill
from web.topics import is_live_topic

HOUR = 3600 * SECOND


def bar(close: float, interval: str = "1m", instrument: str = "NSE:A") -> Bar:
    return Bar(
        ts_event=0,
        ts_init=0,
        instrument=instrument,
        interval=interval,
        ts_close=60,
        open=1.0,
        high=2.0,
        low=0.5,
        close=close,
        volume=10,
        trade_count=1,
        vwap=1.5,
    )


def start_hub(
    driver: Driver, deliver: Any, flush_ns: int = HOUR, wants: Callable[[str], bool] = is_live_topic
) -> None:
    """A hub whose timer does not fire during the test unless asked (flush_ns)."""
    driver.start(
        SupervisorSpec(
            "root", [ActorSpec(NAME, lambda: WebHub(deliver, flush_ns=flush_ns, wants=wants))]
        )
    )
    driver.settle()


def flush(driver: Driver) -> None:
    driver.send(NAME, FlushLiveView())
    driver.settle()


def handed_over(batches: list[list[tuple[str, Any]]]) -> list[list[tuple[str, Any]]]:
    """The batches without the supervision events (the hub's own start is one of them)."""
    kept = [[(t, m) for t, m in batch if t != TOPIC_SUPERVISION] for batch in batches]
    return [batch for batch in kept if batch]


def test_only_live_topics_are_forwarded_in_publication_order(driver: Driver) -> None:
    batches: list[list[tuple[str, Any]]] = []
    start_hub(driver, batches.append)

    driver.runtime.publish("fills", fill(1))
    driver.runtime.publish("internal.stuff", fill(2))
    driver.runtime.publish("orders", fill(3))
    driver.runtime.publish("bars:", fill(4))  # a family prefix with no instrument
    flush(driver)

    [batch] = handed_over(batches)
    assert [(topic, m.client_order_id) for topic, m in batch] == [
        ("fills", "O-1"),
        ("orders", "O-3"),
    ]


def test_market_data_is_conflated_per_topic_and_key_within_a_batch(driver: Driver) -> None:
    batches: list[list[tuple[str, Any]]] = []
    start_hub(driver, batches.append)

    publish = driver.runtime.publish
    publish("bars:NSE:A", bar(1.0))
    publish("fills", fill(1))
    publish("bars:NSE:A", bar(2.0))
    publish("bars:NSE:A", bar(10.0, interval="5m"))
    publish("bars:NSE:B", bar(7.0, instrument="NSE:B"))
    publish("bars:NSE:A", bar(3.0))
    publish("fills", fill(2))
    flush(driver)

    [batch] = handed_over(batches)
    shown = [(topic, m.close if isinstance(m, Bar) else m.client_order_id) for topic, m in batch]
    # The latest 1m bar takes the place of the first; fills are all kept, in order.
    assert shown == [
        ("bars:NSE:A", 3.0),
        ("fills", "O-1"),
        ("bars:NSE:A", 10.0),
        ("bars:NSE:B", 7.0),
        ("fills", "O-2"),
    ]


def test_nothing_is_handed_over_when_nothing_was_published(driver: Driver) -> None:
    batches: list[list[tuple[str, Any]]] = []
    # Not even the hub's own start (on "actors") is wanted here.
    start_hub(driver, batches.append, wants=lambda topic: topic == TOPIC_STATE)
    flush(driver)
    assert batches == []

    driver.runtime.publish(TOPIC_STATE, fill(1))
    flush(driver)
    flush(driver)
    assert len(batches) == 1  # the second flush had nothing new


def test_the_timer_flushes_once_per_interval(driver: Driver) -> None:
    batches: list[list[tuple[str, Any]]] = []
    start_hub(driver, batches.append, flush_ns=10 * MILLISECOND)

    for n in range(5):
        driver.runtime.publish("fills", fill(n))
    driver.wait_for(
        lambda: sum(len(b) for b in handed_over(batches)) == 5, what="five fills handed over"
    )

    fills = [m.client_order_id for b in handed_over(batches) for _, m in b]
    assert fills == [f"O-{n}" for n in range(5)]


def test_a_failing_handover_drops_the_batch_but_not_the_hub(driver: Driver) -> None:
    batches: list[list[tuple[str, Any]]] = []
    failures = [RuntimeError("the loop is closed")]

    def deliver(batch: list[tuple[str, Any]]) -> None:
        if failures:
            raise failures.pop()
        batches.append(batch)

    start_hub(driver, deliver)
    driver.runtime.publish("fills", fill(1))
    flush(driver)
    driver.runtime.publish("fills", fill(2))
    flush(driver)

    assert [[m.client_order_id for _, m in b] for b in handed_over(batches)] == [["O-2"]]
    [status] = [a for a in driver.runtime.describe().actors if a.name == NAME]
    assert (status.incarnation, status.failures) == (1, 0)
