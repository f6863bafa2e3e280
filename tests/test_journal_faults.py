"""The journal under real faults on a real SQLite file: a write lock held by another
connection past a waiter's patience, the database refusing writes (``PRAGMA query_only``, as
SQLite answers for a read-only file), a full disk raised by the driver. Whatever the fault, the
writer lives, the journal's health says it cannot write (``JournalHealthChanged`` on
``journal`` and ``alerts``, ``GET /health`` 503 with its ``journal`` section), and once the
fault clears every record (fills, order events, commands) is in its table exactly once, in
order, with nothing restarted.

Faults are injected through the writer's ``connection_factory`` (:class:`Faults`), or by
another connection holding SQLite's write lock, never by mocking SQLite.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import troupe.trading
import web.api_trading
from actors.journal import Journal
from engine.config.schema import JournalConfig, TroupeConfig
from engine.journal.commands import record_command
from engine.journal.records import CommandRecord, JournalMode
from engine.journal.writer import JournalClosedError, JournalWriter
from engine.messages.feed import TOPIC_ALERTS
from engine.messages.journal import JOURNAL, TOPIC_JOURNAL, JournalHealthChanged, Written
from engine.messages.orders import TOPIC_ORDERS
from engine.spec import ActorSpec, SupervisorSpec
from engine.store import Database
from engine.testing import MILLISECOND, SECOND, ActorHarness, Capture, Driver
from tests import test_journal
from tests.test_journal import ROUTER, Probe, durable, write_ahead
from tests.test_journal_store import (
    T0,
    accepted,
    canceled,
    fill,
    hold_write_lock,
    order,
    rows,
    signal,
    wait_until,
)
from tests.test_web_api import call
from tests.web_support import Server, running_server

READ_ONLY = "read-only"
DISK_FULL = "disk full"


class Faults:
    """What the writer's connections do wrong while a test says so: refuse every write
    (``PRAGMA query_only=ON``: SQLite's own "attempt to write a readonly database"), or fail
    the commit as a full disk does (the driver's ``OperationalError``)."""

    def __init__(self) -> None:
        self.read_only = False
        self.disk_full = False

    def set(self, fault: str, on: bool) -> None:
        if fault == READ_ONLY:
            self.read_only = on
        else:
            self.disk_full = on

    def connection_class(self) -> type[sqlite3.Connection]:
        faults = self

        class FaultyConnection(sqlite3.Connection):
            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
                if sql == "BEGIN IMMEDIATE":
                    super().execute(f"PRAGMA query_only={'ON' if faults.read_only else 'OFF'}")
                elif sql == "COMMIT" and faults.disk_full:
                    raise sqlite3.OperationalError("database or disk is full")
                return super().execute(sql, *args)

        return FaultyConnection


AUDITED = "JournalHealthChanged"
FAULT_ERRORS = {
    READ_ONLY: "OperationalError: attempt to write a readonly database",
    DISK_FULL: "OperationalError: database or disk is full",
}


# tests.test_journal's fixtures, bound here so that pytest finds them (an import alone would
# read as unused, and each parameter named after it as a redefinition).
db_path = test_journal.db_path
db = test_journal.db


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def writer(db: Database, faults: Faults) -> Iterator[JournalWriter]:
    w = JournalWriter(db, connection_factory=faults.connection_class())
    try:
        yield w
    finally:
        w.close(timeout_s=5)


def command(command_id: str) -> CommandRecord:
    return CommandRecord(command_id=command_id, kind="flatten", who="api", ts_event=T0)


def order_event_kinds(db_path: Path, coid: str) -> list[str]:
    sql = "SELECT kind FROM order_events WHERE client_order_id = ? ORDER BY id"
    return [kind for (kind,) in rows(db_path, sql, coid)]


def status(db_path: Path, coid: str) -> str:
    ((found,),) = rows(db_path, "SELECT status FROM orders WHERE client_order_id = ?", coid)
    return str(found)


def give_up_after(future: Future[None], timeout_s: float) -> None:
    """What the API does: await the writer's future for a while, then give up (the asyncio
    timeout cancels the wrapped future, and with it the writer's)."""

    async def wait() -> None:
        async with asyncio.timeout(timeout_s):
            await asyncio.wrap_future(future)

    with pytest.raises(TimeoutError):
        asyncio.run(wait())


# -- the writer -------------------------------------------------------------------------------


def test_a_waiter_that_gave_up_during_a_held_lock_does_not_kill_the_writer(
    db: Database, db_path: Path
) -> None:
    # Arrange: one attempt waits 0.2 s for the lock, then is tried again after a back-off.
    with JournalWriter(db, busy_timeout_s=0.2) as w:
        w.append(signal(0)).result(10)
        lock = hold_write_lock(db_path)
        try:
            waited_for = w.append(command("cmd-1"))

            # Act: the caller gives up while the lock is held; the writer's attempt fails.
            give_up_after(waited_for, 0.05)
            wait_until(lambda: w.stats().failed_transactions >= 1, "an attempt failed")
            assert waited_for.cancelled()
            health = w.health()
            assert not health.ok
            assert health.reason == "cannot write: OperationalError: database is locked"
            assert health.unwritten == 1
        finally:
            lock.rollback()
            lock.close()

        # Assert: the record is written all the same, and the writer goes on writing.
        w.append(signal(1)).result(10)
        assert rows(db_path, "SELECT command_id FROM commands") == [("cmd-1",)]
        health = w.health()
        assert (health.ok, health.unwritten, health.stalls) == (True, 0, 1)


def test_a_command_the_api_gave_up_on_is_still_recorded_and_the_writer_lives(
    db: Database, db_path: Path
) -> None:
    # The API's way exactly: record_command under asyncio.timeout, through wrap_future.
    with JournalWriter(db) as w:
        lock = hold_write_lock(db_path)
        try:

            async def api() -> None:
                async with asyncio.timeout(0.05):
                    await record_command(
                        w, command_id="cmd-1", kind="flatten", who="api", body=None, ts_event=T0
                    )

            with pytest.raises(TimeoutError):
                asyncio.run(api())
        finally:
            lock.rollback()
            lock.close()
        w.append(command("cmd-2")).result(10)  # a dead writer would never answer
        assert rows(db_path, "SELECT command_id FROM commands ORDER BY command_id") == [
            ("cmd-1",),
            ("cmd-2",),
        ]


@pytest.mark.parametrize("fault", [READ_ONLY, DISK_FULL])
def test_a_database_that_cannot_write_keeps_every_record_in_order_until_it_can(
    writer: JournalWriter, faults: Faults, db_path: Path, fault: str
) -> None:
    writer.append(order("o1")).result(10)
    faults.set(fault, True)
    futures = [writer.append(r) for r in (accepted("o1"), fill("t1"), canceled("o1"))]
    for i in range(3):
        writer.append_unanswered(signal(i))

    wait_until(lambda: writer.stats().failed_transactions >= 2, "two attempts failed")
    health = writer.health()
    assert not health.ok
    assert health.reason == f"cannot write: {FAULT_ERRORS[fault]}"
    assert health.unwritten == 6
    assert not any(f.done() for f in futures)  # nothing failed, nothing dropped
    assert writer.stats().failed_records == 0

    faults.set(fault, False)
    for future in futures:
        future.result(10)
    writer.flush().result(10)

    assert order_event_kinds(db_path, "o1") == [
        "SubmitOrder",
        "OrderAccepted",
        "OrderFilled",
        "OrderCanceled",
    ]
    assert rows(db_path, "SELECT trade_id FROM fills") == [("t1",)]
    assert [c for (c,) in rows(db_path, "SELECT correlation_id FROM signals ORDER BY id")] == [
        "sig-0",
        "sig-1",
        "sig-2",
    ]
    health = writer.health()
    assert (health.ok, health.reason, health.unwritten, health.stalls) == (True, "", 0, 1)
    assert health.last_error == FAULT_ERRORS[fault]
    assert health.last_stall_since_ns is not None
    assert health.since_ns > health.last_stall_since_ns  # when it wrote again


def test_a_record_the_database_refuses_still_fails_alone_at_once(
    writer: JournalWriter, db_path: Path
) -> None:
    # A constraint is the record's own fault, not the database's: not tried again.
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(
            "CREATE TRIGGER no_fills BEFORE INSERT ON fills "
            "BEGIN SELECT RAISE(ABORT, 'no fills today'); END"
        )
        conn.commit()
    with pytest.raises(sqlite3.IntegrityError, match="no fills today"):
        writer.append(fill("t1")).result(10)
    assert writer.health().ok
    assert writer.health().stalls == 0


def test_a_record_waiting_past_stall_after_makes_the_journal_unhealthy_until_written(
    db: Database, db_path: Path
) -> None:
    # The lock is waited for inside SQLite (no error yet): judged by the oldest record's age.
    with JournalWriter(db, stall_after_ns=20 * MILLISECOND, busy_timeout_s=30) as w:
        lock = hold_write_lock(db_path)
        try:
            future = w.append(signal(1))
            wait_until(lambda: not w.health().ok, "the stall seen")
            health = w.health()
            assert health.reason.startswith("the oldest unwritten record has waited")
            assert health.unwritten == 1
            assert w.stats().failed_transactions == 0
        finally:
            lock.rollback()
            lock.close()
        future.result(10)
        assert w.health().ok


def test_closing_while_the_database_cannot_write_gives_up_after_the_timeout(
    writer: JournalWriter, faults: Faults
) -> None:
    faults.read_only = True
    future = writer.append(signal(1))
    wait_until(lambda: writer.stats().failed_transactions >= 1, "an attempt failed")

    writer.close(timeout_s=0.05)

    with pytest.raises(JournalClosedError, match="gave up while the database could not write"):
        future.result(10)
    assert writer.append_unanswered(signal(2)) == (
        "JournalClosedError: the journal writer is closed"
    )


# -- the journal actor, under both runtimes ---------------------------------------------------


def start_journal(
    driver: Driver, writer: JournalWriter, db_path: Path, **options: Any
) -> list[tuple[Written, bool]]:
    seen: list[tuple[Written, bool]] = []
    driver.start(
        SupervisorSpec(
            "root",
            [
                ActorSpec(
                    JOURNAL,
                    lambda: Journal(
                        writer,
                        mode=durable(driver),
                        health_interval_ns=50 * MILLISECOND,
                        **options,
                    ),
                ),
                ActorSpec(ROUTER, lambda: Probe(db_path, seen)),
            ],
        )
    )
    return seen


def health_events(capture: Capture, topic: str) -> list[tuple[bool, str]]:
    return [(e.ok, e.reason) for e in capture.messages(topic, JournalHealthChanged)]


@pytest.mark.parametrize("fault", [READ_ONLY, DISK_FULL])
def test_a_journal_that_cannot_write_is_announced_and_writes_every_order_event_after(
    driver: Driver, writer: JournalWriter, faults: Faults, db_path: Path, fault: str
) -> None:
    # Arrange: three orders written ahead and accepted while the journal writes.
    capture = Capture(driver.runtime, [TOPIC_JOURNAL, TOPIC_ALERTS])
    seen = start_journal(driver, writer, db_path, write_timeout_s=0.2)
    for coid in ("o1", "o2", "o3"):
        write_ahead(driver, coid, order(coid))
        driver.runtime.publish(TOPIC_ORDERS, accepted(coid))
    driver.wait_for(lambda: len(seen) == 3, what="three orders written")
    writer.flush().result(10)
    driver.settle()
    assert health_events(capture, TOPIC_JOURNAL) == [(True, "")]  # as it started
    assert health_events(capture, TOPIC_ALERTS) == []

    # Act: the database stops writing; the orders are canceled and one fills meanwhile.
    faults.set(fault, True)
    for coid in ("o1", "o2", "o3"):
        driver.runtime.publish(TOPIC_ORDERS, canceled(coid))
    write_ahead(driver, "t1", fill("t1", coid="o1"))
    driver.wait_for(lambda: len(seen) == 4, what="the fill answered")
    wait_until(lambda: not writer.health().ok, "the writer's fault")
    driver.wait_for(lambda: len(health_events(capture, TOPIC_ALERTS)) == 1, what="the alert")
    late, present = seen[3]

    faults.set(fault, False)
    wait_until(lambda: writer.health().ok and writer.health().unwritten == 0, "all written")
    driver.wait_for(lambda: len(health_events(capture, TOPIC_ALERTS)) == 2, what="recovery")
    write_ahead(driver, "o4", order("o4"))
    driver.wait_for(lambda: len(seen) == 5, what="a write-ahead after the fault")
    writer.flush().result(10)

    # Assert: told it could not write, then that it writes again; nothing lost, nothing twice.
    problem = f"cannot write: {FAULT_ERRORS[fault]}"
    assert health_events(capture, TOPIC_ALERTS) == [(False, problem), (True, "")]
    assert health_events(capture, TOPIC_JOURNAL) == [(True, ""), (False, problem), (True, "")]
    (stalled, _) = capture.messages(TOPIC_ALERTS, JournalHealthChanged)
    assert stalled.unwritten >= 1
    assert (late.key, late.ok, present) == ("t1", False, False)  # not committed in time...
    assert late.error.startswith("TimeoutError: not committed within 0.2 s")
    assert seen[4] == (Written(key="o4"), True)
    assert rows(db_path, "SELECT trade_id FROM fills") == [("t1",)]  # ...but written after
    for coid in ("o1", "o2", "o3"):
        assert status(db_path, coid) == "CANCELED"
        kinds = order_event_kinds(db_path, coid)
        assert kinds.count("OrderCanceled") == 1
        assert kinds[:2] == ["SubmitOrder", "OrderAccepted"]
    assert order_event_kinds(db_path, "o1") == [
        "SubmitOrder",
        "OrderAccepted",
        "OrderCanceled",
        "OrderFilled",
    ]
    audit = rows(db_path, "SELECT kind, message FROM audit_events WHERE kind = ?", AUDITED)
    assert audit == [(AUDITED, problem), (AUDITED, "")]


def test_a_write_ahead_held_by_a_lock_past_its_timeout_is_refused_and_the_journal_recovers(
    driver: Driver, db: Database, db_path: Path
) -> None:
    capture = Capture(driver.runtime, [TOPIC_ALERTS])
    with JournalWriter(db, stall_after_ns=50 * MILLISECOND, busy_timeout_s=30) as w:
        seen = start_journal(driver, w, db_path, write_timeout_s=0.2)
        lock = hold_write_lock(db_path)
        try:
            write_ahead(driver, "o1", order("o1"))
            driver.wait_for(lambda: len(seen) == 1, what="the timeout answered")
            wait_until(lambda: not w.health().ok, "the stall")
            driver.wait_for(lambda: len(capture.messages(TOPIC_ALERTS)) == 1, what="the alert")
        finally:
            lock.rollback()
            lock.close()
        wait_until(lambda: w.health().ok, "written again")
        driver.wait_for(lambda: len(capture.messages(TOPIC_ALERTS)) == 2, what="recovery")
        write_ahead(driver, "o2", order("o2"))
        driver.wait_for(lambda: len(seen) == 2, what="the next write-ahead")

    (refused, _), answered = seen
    assert (refused.key, refused.ok) == ("o1", False)
    assert "not committed within 0.2 s" in refused.error
    assert answered == (Written(key="o2"), True)
    assert [k for (k,) in rows(db_path, "SELECT client_order_id FROM orders ORDER BY 1")] == [
        "o1",
        "o2",
    ]
    alerts = capture.messages(TOPIC_ALERTS, JournalHealthChanged)
    assert [a.ok for a in alerts] == [False, True]
    assert "has waited" in alerts[0].reason


def test_a_stall_over_between_two_looks_is_still_announced(
    writer: JournalWriter, faults: Faults
) -> None:
    h = ActorHarness(
        lambda: Journal(writer, mode=JournalMode.SYNCHRONOUS, health_interval_ns=SECOND),
        name=JOURNAL,
    )
    faults.read_only = True
    future = writer.append(signal(1))
    wait_until(lambda: writer.stats().failed_transactions >= 1, "an attempt failed")
    faults.read_only = False
    future.result(10)  # written again before the actor looked

    h.advance(SECOND)

    alerts = h.published(TOPIC_ALERTS, JournalHealthChanged)
    assert [(a.ok, a.reason) for a in alerts] == [
        (False, f"cannot write: {FAULT_ERRORS[READ_ONLY]}"),
        (True, ""),
    ]
    assert [e.ok for e in h.published(TOPIC_JOURNAL, JournalHealthChanged)] == [True, False, True]


# -- the control API --------------------------------------------------------------------------


@pytest.fixture
def faulty_server(
    monkeypatch: pytest.MonkeyPatch, faults: Faults, tmp_path: Path
) -> Iterator[Server]:
    """The engine and its API as in tests.web_support, its journal writer on :class:`Faults`,
    a record counting as stalled after 50 ms, the API waiting 0.3 s for a record."""
    monkeypatch.setattr(
        troupe.trading,
        "JournalWriter",
        functools.partial(JournalWriter, connection_factory=faults.connection_class()),
    )
    monkeypatch.setattr(web.api_trading, "JOURNAL_TIMEOUT_S", 0.3)
    config = TroupeConfig(journal=JournalConfig(stall_after_s=0.05))
    with running_server(config, trading_dir=tmp_path) as server:
        yield server


def health(server: Server) -> tuple[int, dict[str, Any]]:
    code, _, report = call("GET", f"{server.url}/health")
    return code, report


def flatten(server: Server) -> tuple[int, Any]:
    code, _, body = call("POST", f"{server.url}/flatten", headers=server.auth, data=b"{}")
    return code, body


def test_health_is_503_with_the_journal_section_while_the_journal_cannot_write(
    faulty_server: Server, faults: Faults, tmp_path: Path
) -> None:
    # Arrange
    server = faulty_server
    alerts = Capture(server.runtime, [TOPIC_ALERTS])
    code, report = health(server)
    assert code == 200
    assert (report["journal"]["ok"], report["journal"]["reason"]) == (True, "")

    # Act: the journal stops writing; a command cannot be recorded within the API's wait.
    faults.read_only = True
    code, body = flatten(server)
    wait_until(lambda: health(server)[0] == 503, "not ready")

    # Assert: refused, reported, alerted; then recovered by itself, nothing missing.
    assert code == 503
    assert body["error"]["code"] == "journal_unavailable"
    code, report = health(server)
    journal = report["journal"]
    assert journal["ok"] is False
    assert journal["reason"] == f"cannot write: {FAULT_ERRORS[READ_ONLY]}"
    assert journal["unwritten"] >= 1
    assert journal["since"].endswith("Z")
    assert f"the journal cannot write: {journal['reason']}" in report["problems"]
    wait_until(lambda: bool(alerts.messages(kind=JournalHealthChanged)), "the alert")

    faults.read_only = False
    wait_until(lambda: health(server)[0] == 200, "ready again")
    assert health(server)[1]["journal"]["ok"] is True
    wait_until(lambda: len(alerts.messages(kind=JournalHealthChanged)) == 2, "recovery alert")
    assert [a.ok for a in alerts.messages(kind=JournalHealthChanged)] == [False, True]
    code, _ = flatten(server)  # the writer lives: the next command is recorded and done
    assert code == 200
    commands = rows(tmp_path / "troupe.db", "SELECT kind, outcome FROM commands ORDER BY id")
    assert [kind for kind, _ in commands] == ["flatten", "flatten"]  # the first, recorded late


def test_health_reports_a_journal_held_up_by_another_connections_lock(
    faulty_server: Server, tmp_path: Path
) -> None:
    server = faulty_server
    assert server.core is not None
    assert server.core.writer.stall_after_ns == 50 * MILLISECOND  # [journal] stall_after_s
    lock = hold_write_lock(tmp_path / "troupe.db")
    try:
        code, _ = flatten(server)  # the API gives up after 0.3 s; the writer waits on
        assert code == 503
        wait_until(lambda: health(server)[0] == 503, "not ready")
        assert health(server)[1]["journal"]["ok"] is False
    finally:
        lock.rollback()
        lock.close()
    wait_until(lambda: health(server)[0] == 200, "ready again")
    code, _ = flatten(server)
    assert code == 200
