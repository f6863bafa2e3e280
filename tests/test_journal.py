"""The journal actor under both runtimes, on a real SQLite file: a write-ahead is answered
only once its record can be read by another connection; a failed write is answered
``ok=False`` and the actor carries on; the deferred mode answers at once and writes later;
what others publish is recorded (order events written ahead only once, snapshots throttled)
and reads back as the same messages."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from actors.journal import DEFAULT_TOPICS, Journal
from engine.actor import Actor, handles
from engine.journal.reader import JournalReader
from engine.journal.records import CommandRecord, JournalMode
from engine.journal.writer import JournalWriter
from engine.messages.account import TOPIC_ACCOUNT
from engine.messages.journal import JOURNAL, WriteAhead, Written
from engine.messages.orders import TOPIC_ORDERS
from engine.messages.ranking import TOPIC_POSITIONS, TOPIC_RANKINGS, TOPIC_SIGNALS
from engine.messages.reconciliation import TOPIC_RECONCILIATION, ReconciliationReport
from engine.messages.risk import TOPIC_RISK
from engine.messages.runtime import TOPIC_STATE, TOPIC_SUPERVISION, ActorFailed
from engine.spec import ActorSpec, SupervisorSpec
from engine.store import Database
from engine.testing import SECOND, ActorHarness, Capture, Driver
from tests.test_journal_store import (
    T0,
    accepted,
    account,
    denial,
    fill,
    order,
    position,
    ranking,
    signal,
    state_changed,
)

HOUR = 3600 * SECOND
ROUTER = "router"


def stored(path: Path, key: str) -> bool:
    """Whether ``key`` is in the database, seen through a connection of its own."""
    with closing(sqlite3.connect(path)) as conn:
        found = conn.execute(
            "SELECT (SELECT COUNT(*) FROM orders WHERE client_order_id = :k)"
            " + (SELECT COUNT(*) FROM fills WHERE trade_id = :k)"
            " + (SELECT COUNT(*) FROM commands WHERE command_id = :k)",
            {"k": key},
        ).fetchone()
    return bool(found[0])


class Probe(Actor):
    """Stands for the router: on each ``Written``, looks whether the record is stored."""

    def __init__(self, path: Path, seen: list[tuple[Written, bool]]) -> None:
        self.path = path
        self.seen = seen

    @handles(Written)
    def on_written(self, written: Written) -> None:
        self.seen.append((written, stored(self.path, written.key)))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{db_path}")
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def writer(db: Database) -> Iterator[JournalWriter]:
    w = JournalWriter(db)
    try:
        yield w
    finally:
        w.close()


def durable(driver: Driver) -> JournalMode:
    """The mode that answers after the commit on this runtime."""
    return JournalMode.SYNCHRONOUS if driver.simulated else JournalMode.DURABLE


def start(
    driver: Driver, writer: JournalWriter, db_path: Path, mode: JournalMode, **options: Any
) -> list[tuple[Written, bool]]:
    seen: list[tuple[Written, bool]] = []
    driver.start(
        SupervisorSpec(
            "root",
            [
                ActorSpec(JOURNAL, lambda: Journal(writer, mode=mode, **options)),
                ActorSpec(ROUTER, lambda: Probe(db_path, seen)),
            ],
        )
    )
    return seen


def write_ahead(driver: Driver, key: str, record: Any) -> None:
    driver.send(JOURNAL, WriteAhead(key=key, record=record, reply_to=ROUTER))


def test_a_write_ahead_is_answered_only_once_its_record_is_stored(
    driver: Driver, writer: JournalWriter, db_path: Path
) -> None:
    seen = start(driver, writer, db_path, durable(driver))
    command = CommandRecord(command_id="cmd-1", kind="flatten", who="ops", ts_event=T0)
    assert not any(stored(db_path, key) for key in ("o1", "t1", "cmd-1"))

    write_ahead(driver, "o1", order())
    write_ahead(driver, "t1", fill("t1"))
    write_ahead(driver, "cmd-1", command)
    driver.wait_for(lambda: len(seen) == 3, what="three answers")

    assert seen == [
        (Written(key="o1"), True),
        (Written(key="t1"), True),
        (Written(key="cmd-1"), True),
    ]


def test_a_failed_write_is_answered_with_its_error_and_the_journal_carries_on(
    driver: Driver, writer: JournalWriter, db_path: Path
) -> None:
    failures = Capture(driver.runtime, [TOPIC_SUPERVISION])
    seen = start(driver, writer, db_path, durable(driver))
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(
            "CREATE TRIGGER no_fills BEFORE INSERT ON fills "
            "BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END"
        )
        conn.commit()

    write_ahead(driver, "t1", fill("t1"))
    driver.wait_for(lambda: len(seen) == 1, what="the failure answered")
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute("DROP TRIGGER no_fills")
        conn.commit()
    write_ahead(driver, "t2", fill("t2"))
    write_ahead(driver, "bad", "not a record")
    driver.wait_for(lambda: len(seen) == 3, what="the next answers")

    # Answers are matched by key: a record refused at once may be answered before others.
    answers = {written.key: (written, present) for written, present in seen}
    failed, refused = answers["t1"][0], answers["bad"][0]
    assert (failed.ok, failed.error) == (False, "IntegrityError: disk quota exceeded")
    assert answers["t2"] == (Written(key="t2"), True)
    assert not refused.ok
    assert refused.error.startswith("TypeError: the journal records catalogue messages")
    assert failures.messages(kind=ActorFailed) == []


def test_deferred_answers_at_once_and_writes_later(
    driver: Driver, db: Database, db_path: Path
) -> None:
    with JournalWriter(db, max_delay_ns=HOUR, max_batch=10_000) as lazy_writer:
        seen = start(driver, lazy_writer, db_path, JournalMode.DEFERRED)
        write_ahead(driver, "o1", order())
        write_ahead(driver, "bad", "not a record")
        driver.wait_for(lambda: len(seen) == 2, what="two answers")

        (answered, present), (refused, _) = seen
        assert (answered, present) == (Written(key="o1"), False)  # answered before written
        assert not refused.ok
        lazy_writer.flush().result(10)
        assert stored(db_path, "o1")


def reconciled(n: int) -> ReconciliationReport:
    return ReconciliationReport(
        ts_event=n,
        ts_init=n,
        venue="paper",
        restored_orders=0,
        restored_brackets=0,
        venue_open_orders=0,
        venue_positions=0,
    )


def test_what_others_publish_is_recorded_and_reads_back(
    driver: Driver, writer: JournalWriter, db: Database, db_path: Path
) -> None:
    start(driver, writer, db_path, durable(driver), snapshot_interval_ns=0)
    published = [
        (TOPIC_SIGNALS, signal(1)),
        (TOPIC_RANKINGS, ranking(1)),
        (TOPIC_RISK, denial(1)),
        (TOPIC_POSITIONS, position(1)),
        (TOPIC_ACCOUNT, account(1)),
        (TOPIC_STATE, state_changed(1)),
        (TOPIC_ORDERS, accepted("o9")),
        (TOPIC_RECONCILIATION, reconciled(1)),
    ]
    for topic, message in published:
        driver.runtime.publish(topic, message)
    driver.settle()
    writer.flush().result(10)

    reader = JournalReader(db)
    assert db.call(reader.signals()) == [signal(1)]
    assert db.call(reader.rankings()) == [ranking(1)]
    assert db.call(reader.risk_denials()) == [denial(1)]
    assert db.call(reader.positions()) == [position(1)]
    assert db.call(reader.accounts()) == [account(1)]
    audit = db.call(reader.audit_events())
    assert sorted(a.kind for a in audit) == ["ReconciliationReport", "TradingStateChanged"]
    assert db.call(reader.order_events("o9")) == [accepted("o9")]
    assert set(DEFAULT_TOPICS) == {topic for topic, _ in published}


def test_an_order_event_written_ahead_is_not_queued_again_when_published(
    driver: Driver, writer: JournalWriter, db: Database, db_path: Path
) -> None:
    seen = start(driver, writer, db_path, durable(driver))
    write_ahead(driver, "o1", order())
    write_ahead(driver, "t1", fill("t1"))
    driver.wait_for(lambda: len(seen) == 2, what="both written")

    driver.runtime.publish(TOPIC_ORDERS, accepted())
    driver.runtime.publish(TOPIC_ORDERS, fill("t1"))  # the router publishes what it recorded
    driver.settle()
    writer.flush().result(10)

    assert writer.stats().records == 3  # the order, the fill, the acceptance
    events = JournalReader(db)
    assert [type(e).__name__ for e in db.call(events.order_events("o1"))] == [
        "SubmitOrder",
        "OrderFilled",
        "OrderAccepted",
    ]


def test_snapshots_are_throttled_and_the_held_one_is_written_on_stop(
    driver: Driver, writer: JournalWriter, db: Database, db_path: Path
) -> None:
    start(driver, writer, db_path, durable(driver), snapshot_interval_ns=HOUR)
    for qty in (10, 20, 30):
        driver.runtime.publish(TOPIC_POSITIONS, position(qty, qty=qty))
    driver.runtime.publish(TOPIC_POSITIONS, position(4, qty=5, instrument="NSE:TCS"))
    driver.runtime.publish(TOPIC_ACCOUNT, account(1))
    driver.runtime.publish(TOPIC_ACCOUNT, account(2))
    driver.settle()
    writer.flush().result(10)
    reader = JournalReader(db)
    assert sorted(p.quantity for p in db.call(reader.positions())) == [5, 10]
    assert db.call(reader.accounts()) == [account(1)]

    driver.stop()
    writer.flush().result(10)
    assert sorted(p.quantity for p in db.call(reader.positions())) == [5, 10, 30]
    assert db.call(reader.accounts()) == [account(2), account(1)]


def test_a_held_snapshot_is_written_once_the_interval_has_passed(
    writer: JournalWriter, db: Database
) -> None:
    h = ActorHarness(
        lambda: Journal(writer, mode=JournalMode.SYNCHRONOUS, snapshot_interval_ns=SECOND),
        name=JOURNAL,
    )
    reader = JournalReader(db)

    def written() -> list[int]:
        writer.flush().result(10)
        return [p.quantity for p in reversed(db.call(reader.positions()))]

    h.send(position(0, qty=10))
    h.send(position(0, qty=20))
    h.send(position(0, qty=30))
    assert written() == [10]
    h.advance(SECOND - 1)
    assert written() == [10]
    h.advance(1)
    assert written() == [10, 30]
    h.advance(10 * SECOND)  # nothing held: nothing more
    h.send(position(0, qty=40))  # the interval has passed since the last write: at once
    assert written() == [10, 30, 40]


def test_deferred_flushes_the_writer_when_it_stops(db: Database, db_path: Path) -> None:
    with JournalWriter(db, max_delay_ns=HOUR) as lazy_writer:
        h = ActorHarness(lambda: Journal(lazy_writer, mode=JournalMode.DEFERRED), name=JOURNAL)
        h.runtime.publish(TOPIC_SIGNALS, signal(1))
        h.runtime.run(until_ns=h.now_ns())
        assert lazy_writer.stats().records == 0
        h.runtime.stop()
        lazy_writer.flush().result(10)
        assert lazy_writer.stats().records == 1


def test_the_journal_refuses_bad_arguments(writer: JournalWriter) -> None:
    with pytest.raises(ValueError, match="snapshot_interval_ns must be an int >= 0"):
        Journal(writer, snapshot_interval_ns=-1)
    with pytest.raises(ValueError, match="write_timeout_s must be > 0"):
        Journal(writer, write_timeout_s=0)
    with pytest.raises(ValueError, match="remembered must be an int >= 0"):
        Journal(writer, remembered=-5)
    with pytest.raises(ValueError, match="health_interval_ns must be an int > 0"):
        Journal(writer, health_interval_ns=0)
