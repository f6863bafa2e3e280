"""The journal's writer: records grouped into transactions, each answered once committed.

:meth:`JournalWriter.append` is thread-safe and never blocks: it encodes the record, queues it
and returns a future that resolves once the record's transaction has committed, or fails with
the error. One thread of the writer's own takes queued records in order and writes them.

When a transaction starts
    when the writer is free (no transaction in progress) and the queue holds an *eager*
    record (the default: someone waits for it, like the router before it sends an order),
    ``max_batch`` records, a *lazy* record that has waited ``max_delay_ns``, or a flush. It
    takes the queued records in order, at most ``max_batch``.

So an eager record reaching an idle writer is committed at once; records arriving while a
transaction is in progress go together in the next one, which is where grouping comes from
under load. A lazy record (``lazy=True``: passive records nobody waits for, such as signals)
waits at most ``max_delay_ns`` for company, so that they cost few transactions.

Failures, and what the writer never does: die of one.

==========================================  ================================================
failure                                     outcome
==========================================  ================================================
a record that cannot be encoded             it fails alone, at once (in :meth:`append`)
the database refuses a record (a            the transaction is rolled back and its records
constraint, a trigger, a bug in a row)      are tried again one transaction each: that
                                            record fails alone (its future carries the
                                            error), the others are committed
the database cannot write at all: locked    *a fault*, not the records': the transaction is
by another connection past                  rolled back and tried again, the same records
``busy_timeout_s``, read-only, disk full,   in the same order, after a back-off (``retry``,
an I/O error (``sqlite3.OperationalError``  50 ms doubling to 2 s), on a fresh connection,
and its kin, :func:`is_database_fault`)     for as long as it lasts; records appended
                                            meanwhile queue behind them. Nothing is dropped,
                                            nothing fails: the futures resolve once
                                            committed. A waiter that cannot wait that long
                                            gives up on its own (a timeout)
a waiter gave up (its future canceled,      skipped: the record is still written, the
as ``asyncio.wrap_future`` does on a        future left as the waiter left it
timeout, or resolved by someone else)
the writer is closed while a fault lasts    it keeps trying until :meth:`close`'s timeout,
                                            then gives up: what is left fails with
                                            :class:`JournalClosedError` (logged)
==========================================  ================================================

Health (:meth:`JournalWriter.health`, any thread): the journal *cannot write* from the first
transaction failing with a fault, or from the moment its oldest unwritten record is older than
``stall_after_ns`` (a lock held, a slow disk, a long checkpoint: the thread may be waiting
inside SQLite, so this is judged by whoever asks, not by the thread), until a transaction
commits with nothing left older than that. Each such episode is counted, so a poller that
looked before and after a short one still learns of it (:mod:`actors.journal` publishes
``JournalHealthChanged`` from it).

Why a thread and the driver's own connection, and not the store's asyncio loop: a commit
through SQLAlchemy's async engine over aiosqlite costs several thread hops (caller to the
loop, the loop to aiosqlite's thread for each statement and the commit, and back): about
0.7 ms for a one-record transaction on the development machine, against about 0.1 ms from a
thread of its own with SQLite's driver. The router waits for that commit before every order,
so it is on the tick-to-order path. The writer still uses the store's file, its tables
(SQLAlchemy Core, created by :class:`~engine.store.database.Database`; the statements are
compiled from them, :mod:`engine.journal.rows`) and its pragmas (WAL, ``synchronous=NORMAL``:
a commit survives a crash of the process). Readers go through the store's async engine
(:mod:`engine.journal.reader`). Transactions start with ``BEGIN IMMEDIATE``, so a writer
never has to give up its read snapshot half-way because another connection wrote meanwhile.
"""

from __future__ import annotations

import collections
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError

from engine.backoff import Backoff
from engine.journal.rows import Prepared, apply_batch, prepare
from engine.store.database import SQLITE_PRAGMAS, Database

log = structlog.get_logger("troupe.journal")

DEFAULT_MAX_DELAY_NS = 2_000_000
"""A lazy record waits at most this long for others to share its transaction (2 ms)."""
DEFAULT_MAX_BATCH = 500
"""At most this many records per transaction."""
DEFAULT_STALL_AFTER_NS = 5_000_000_000
"""The journal cannot write once a record has waited this long (5 s; see ``health``)."""
DEFAULT_RETRY = Backoff(initial_s=0.05, multiplier=2.0, max_s=2.0, jitter=0.2)
"""How long a transaction that failed with a database fault waits before it is tried again."""

Done = Callable[[str | None], None]
"""Called once a record is written (``None``) or has failed (the error, one line)."""


class JournalClosedError(RuntimeError):
    """A record was appended after :meth:`JournalWriter.close`."""


@dataclass(frozen=True)
class WriterStats:
    """What the writer has done so far (a snapshot)."""

    transactions: int
    """Transactions committed."""
    records: int
    """Records committed."""
    failed_records: int
    """Records whose future failed (refused at once, or their transaction failed)."""
    failed_transactions: int
    largest_batch: int
    """Most records committed in one transaction."""
    queued: int
    """Records waiting for a transaction."""
    in_flight: int
    """Records in the transaction being written (0 when idle)."""


@dataclass(frozen=True)
class JournalHealth:
    """Whether the journal can write (a snapshot; module docstring, "Health")."""

    ok: bool
    reason: str
    """Why it cannot write (the database's error, or how long the oldest record has waited);
    ``""`` when ``ok``."""
    unwritten: int
    """Records appended and not yet committed (queued, or in the transaction being tried)."""
    since_ns: int
    """When the present condition began, wall clock ns since the epoch, UTC: the stall's
    start when not ``ok``; else when it last wrote again (or the writer started)."""
    stalls: int
    """Episodes of not being able to write since the writer started (this one included)."""
    last_stall_reason: str
    """The latest episode's reason (the present one's when not ``ok``); ``""`` if none."""
    last_stall_since_ns: int | None
    """The latest episode's start; ``None`` if none."""
    last_error: str
    """The last database fault seen (one line); ``""`` if none."""


class _Pending:
    __slots__ = ("appended_ns", "eager", "future", "prepared")

    def __init__(
        self, prepared: Prepared | None, future: Future[None], eager: bool, appended_ns: int
    ) -> None:
        self.prepared = prepared  # None: a flush's marker
        self.future = future
        self.eager = eager
        self.appended_ns = appended_ns


class JournalWriter:
    """Writes records to the journal tables of ``database`` (a SQLite file).

    ``max_delay_ns`` (>= 0) and ``max_batch`` (>= 1) bound the grouping (module docstring);
    ``busy_timeout_s`` is how long one attempt waits for another connection's write lock
    before it fails (and is tried again after ``retry``'s back-off); ``stall_after_ns``
    (> 0) is how long a record may wait (beyond ``max_delay_ns``, which a lazy one may wait by
    design) before :meth:`health` says the journal cannot write.
    ``connection_factory`` is the ``sqlite3.Connection`` class the writer's connections are
    made of (``sqlite3.connect``'s ``factory``): the seam through which tests inject faults
    (a read-only database, a full disk); leave it be otherwise. Raises ``ValueError`` for a
    database that is not a SQLite file, or a bad bound.
    """

    def __init__(
        self,
        database: Database,
        *,
        max_delay_ns: int = DEFAULT_MAX_DELAY_NS,
        max_batch: int = DEFAULT_MAX_BATCH,
        busy_timeout_s: float = 5.0,
        stall_after_ns: int = DEFAULT_STALL_AFTER_NS,
        retry: Backoff = DEFAULT_RETRY,
        connection_factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> None:
        if not isinstance(max_delay_ns, int) or isinstance(max_delay_ns, bool) or max_delay_ns < 0:
            raise ValueError(f"max_delay_ns must be an int >= 0 (ns), got {max_delay_ns!r}")
        if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
            raise ValueError(f"max_batch must be an int >= 1, got {max_batch!r}")
        if not busy_timeout_s > 0:
            raise ValueError(f"busy_timeout_s must be > 0 (s), got {busy_timeout_s!r}")
        if (
            not isinstance(stall_after_ns, int)
            or isinstance(stall_after_ns, bool)
            or stall_after_ns <= 0
        ):
            raise ValueError(f"stall_after_ns must be an int > 0 (ns), got {stall_after_ns!r}")
        self.database = database
        self.max_delay_ns = max_delay_ns
        self.max_batch = max_batch
        self._path, self._uri = _sqlite_file(database)
        self.busy_timeout_s = busy_timeout_s
        self.stall_after_ns = stall_after_ns
        # A lazy record may wait max_delay_ns by design; only what waits longer is a stall.
        self._stall_age_ns = stall_after_ns + max_delay_ns
        self.retry = retry
        self._connection_factory = connection_factory
        self._conn: sqlite3.Connection | None = None
        self._cond = threading.Condition(threading.Lock())
        self._queue: collections.deque[_Pending] = collections.deque()
        self._eager = 0  # eager records (and flush markers) queued
        self._closing = False
        self._stopped = False  # the thread is done: nothing queued from now on is written
        self._in_flight = 0
        self._transactions = 0
        self._records = 0
        self._failed_records = 0
        self._failed_transactions = 0
        self._largest_batch = 0
        self._give_up = False  # stop trying: close() ran out of time, or abandon()
        # Health (module docstring), all under self._cond.
        self._in_flight_since: int | None = None  # monotonic ns: the batch's oldest record
        self._fault: str | None = None  # the last attempt failed with this database fault
        self._stalled = False  # an episode is open: the journal cannot write
        self._stall_since_ns: int | None = None  # wall ns: the latest episode's start
        self._stall_reason = ""  # the latest episode's reason
        self._stalls = 0
        self._last_error = ""
        self._since_ns = time.time_ns()
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    # -- any thread ------------------------------------------------------------------------

    def append(self, record: Any, *, lazy: bool = False) -> Future[None]:
        """Queue ``record`` (a catalogue message or a journal record) for writing.

        Returns a future resolved with ``None`` once the record's transaction has committed,
        or failed with the error: ``TypeError`` or an encoding error for a record the journal
        cannot take (at once), :class:`JournalClosedError` after :meth:`close`, or what the
        database raised. Its callbacks run on the writer's thread (or on the caller's, if it
        failed at once). Never raises; never blocks.
        """
        future: Future[None] = Future()
        try:
            prepared = prepare(record)
        except Exception as exc:
            self._refuse(future, exc)
            return future
        self._enqueue(_Pending(prepared, future, not lazy, time.monotonic_ns()))
        return future

    def append_unanswered(self, record: Any, *, lazy: bool = True) -> str | None:
        """Queue ``record`` with nobody waiting for its commit: the error (one line) if it is
        refused at once (it cannot be encoded, or the writer is closed), else ``None``, in
        which case a later failure is only logged and counted. What is returned depends on
        the record alone, never on timing: what a deterministic caller needs."""
        try:
            prepared = prepare(record)
        except Exception as exc:
            with self._cond:
                self._failed_records += 1
            return describe(exc)
        future: Future[None] = Future()
        if self._enqueue(_Pending(prepared, future, not lazy, time.monotonic_ns())):
            return None
        return describe(future.exception() or JournalClosedError("closed"))

    def append_then(self, record: Any, done: Done, *, lazy: bool = False) -> None:
        """:meth:`append` ``record`` and call ``done(None)`` once it is committed, or
        ``done(error)`` with a one-line description if it failed. ``done`` runs on the
        writer's thread (on the caller's if the record was refused at once); an exception it
        raises is logged and otherwise ignored."""

        def resolved(future: Future[None]) -> None:
            if future.cancelled():  # only this method holds it; if it ever is, say so
                done("CancelledError: the record's future was canceled")
                return
            error = future.exception()
            done(None if error is None else describe(error))

        self.append(record, lazy=lazy).add_done_callback(resolved)

    def write(self, record: Any, timeout_s: float | None = 30.0) -> None:
        """Append ``record`` and wait until it is committed. Raises what :meth:`append`'s
        future fails with, or ``TimeoutError`` after ``timeout_s`` seconds, naming why if the
        journal cannot write (the record stays queued and is written once it can). Never call
        it from the writer's own thread."""
        future = self.append(record)
        try:
            future.result(timeout_s)
        except TimeoutError:
            raise TimeoutError(self.timeout_message(timeout_s)) from None

    def timeout_message(self, timeout_s: float | None) -> str:
        """What to tell a waiter that gave up on a record after ``timeout_s`` seconds."""
        health = self.health()
        why = "" if health.ok else f" (the journal cannot write: {health.reason})"
        return (
            f"not committed within {timeout_s} s{why}; the record stays queued and is "
            "written once the journal can write"
        )

    def flush(self) -> Future[None]:
        """A future resolved once every record appended before this call has been
        committed or has failed (never failed itself)."""
        future: Future[None] = Future()
        self._enqueue(_Pending(None, future, True, time.monotonic_ns()), marker=True)
        return future

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, stop the thread and close the connection. Records appended
        afterwards fail with :class:`JournalClosedError`. If the database cannot write, the
        writer keeps trying for ``timeout_s`` seconds, then gives up: what is left fails with
        :class:`JournalClosedError`. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if threading.current_thread() is self._thread:
            return
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            return
        with self._cond:
            self._give_up = True
            unwritten = self._unwritten()
            self._cond.notify()
        log.error(
            "journal writer did not finish in time: giving up on what is not written",
            timeout_s=timeout_s,
            unwritten=unwritten,
            error=self._last_error,
        )
        # An attempt in progress ends within the busy timeout; the thread then stops.
        self._thread.join(self.busy_timeout_s + 1.0)
        if self._thread.is_alive():
            log.error("journal writer is still stuck in the database", unwritten=unwritten)

    def abandon(self, timeout_s: float = 30.0) -> None:
        """Stop as ``kill -9`` would stop the process: what is queued and not yet in a
        transaction is dropped (its futures fail with :class:`JournalClosedError`), a
        transaction in progress ends as SQLite ends it, the thread stops. For crash tests;
        the service closes with :meth:`close`. Idempotent."""
        with self._cond:
            dropped, self._queue = list(self._queue), collections.deque()
            self._eager = 0
            self._closing = True
            self._give_up = True
            self._cond.notify()
        for pending in dropped:
            if pending.prepared is None:
                _settle(pending.future, None)
            else:
                _settle(pending.future, JournalClosedError("the journal writer was abandoned"))
        self.close(timeout_s)

    def stats(self) -> WriterStats:
        with self._cond:
            return WriterStats(
                transactions=self._transactions,
                records=self._records,
                failed_records=self._failed_records,
                failed_transactions=self._failed_transactions,
                largest_batch=self._largest_batch,
                queued=sum(1 for p in self._queue if p.prepared is not None),
                in_flight=self._in_flight,
            )

    def health(self) -> JournalHealth:
        """Whether the journal can write now (module docstring, "Health"). Thread-safe and
        cheap (no I/O); it may open an episode (a record found waiting too long), never close
        one: only a commit does."""
        now = time.monotonic_ns()
        wall = time.time_ns()
        with self._cond:
            if self._fault is None:  # (a fault opened its episode, which stays open meanwhile)
                oldest = self._oldest_unwritten()
                if oldest is not None and now - oldest >= self._stall_age_ns:
                    waited = now - oldest
                    self._open_stall(
                        wall - waited,
                        f"the oldest unwritten record has waited {waited / 1e9:.1f} s "
                        f"(stall_after {self.stall_after_ns / 1e9:g} s)",
                    )
            stalled = self._stalled
            return JournalHealth(
                ok=not stalled,
                reason=self._stall_reason if stalled else "",
                unwritten=self._unwritten(),
                since_ns=self._since_ns,
                stalls=self._stalls,
                last_stall_reason=self._stall_reason,
                last_stall_since_ns=self._stall_since_ns,
                last_error=self._last_error,
            )

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _enqueue(self, pending: _Pending, *, marker: bool = False) -> bool:
        """Queue ``pending``; if it cannot be (closed), resolve it and return False."""
        with self._cond:
            # A flush while closing still waits for what is queued; after that, at once.
            accepted = not self._stopped and (marker or not self._closing)
            if accepted:
                queue = self._queue
                queue.append(pending)
                if pending.eager:
                    self._eager += 1
                # Wake the writer only when this changes what it waits for: a lazy record
                # behind others leaves the deadline (set by the oldest) as it was, and waking
                # for each would cost a thread switch per record.
                if pending.eager or len(queue) == 1 or len(queue) >= self.max_batch:
                    self._cond.notify()
        if accepted:
            return True
        if marker:
            _settle(pending.future, None)
        else:
            self._refuse(pending.future, JournalClosedError("the journal writer is closed"))
        return False

    def _refuse(self, future: Future[None], exc: BaseException) -> None:
        with self._cond:
            self._failed_records += 1
        _settle(future, exc)

    # -- health (callers hold self._cond) ------------------------------------------------------

    def _unwritten(self) -> int:
        return self._in_flight + sum(1 for p in self._queue if p.prepared is not None)

    def _oldest_unwritten(self) -> int | None:
        """When the oldest record not yet committed was appended (monotonic ns)."""
        if self._in_flight_since is not None:
            return self._in_flight_since
        for pending in self._queue:
            if pending.prepared is not None:
                return pending.appended_ns
        return None

    def _open_stall(self, since_ns: int, reason: str) -> None:
        self._stall_reason = reason
        if self._stalled:
            return
        self._stalled = True
        self._stalls += 1
        self._stall_since_ns = self._since_ns = since_ns
        log.error("the journal cannot write", reason=reason, unwritten=self._unwritten())

    def _close_stall_if_over(self) -> None:
        """After a transaction the database took: the episode is over unless a fault stands
        or a record still waits too long."""
        if not self._stalled or self._fault is not None:
            return
        oldest = self._oldest_unwritten()
        now = time.monotonic_ns()
        if oldest is not None and now - oldest >= self._stall_age_ns:
            return
        self._stalled = False
        self._since_ns = time.time_ns()
        log.warning(
            "the journal writes again",
            stalled_for_s=round((self._since_ns - (self._stall_since_ns or 0)) / 1e9, 3),
            reason=self._stall_reason,
            unwritten=self._unwritten(),
        )

    # -- the writer's thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                try:
                    self._write(batch)
                except Exception as exc:  # a bug: that batch fails, the writer goes on
                    log.exception("journal batch failed unexpectedly", error=describe(exc))
                    with self._cond:
                        self._in_flight, self._in_flight_since = 0, None
                        self._failed_records += sum(1 for p in batch if p.prepared is not None)
                    for pending in batch:
                        _settle(pending.future, None if pending.prepared is None else exc)
        finally:
            self._close_connection()
            with self._cond:
                self._stopped = True
                left, self._queue = list(self._queue), collections.deque()
                self._in_flight, self._in_flight_since = 0, None
                given_up = self._give_up
            records = sum(1 for p in left if p.prepared is not None)
            if records:  # the writer gave up, or the loop itself broke
                log.error(
                    "journal records not written: the writer stopped",
                    records=records,
                    error=self._last_error,
                )
            for pending in left:
                if pending.prepared is None:
                    _settle(pending.future, None)
                else:
                    reason = "gave up" if given_up else "stopped"
                    _settle(pending.future, JournalClosedError(f"the journal writer {reason}"))

    def _next_batch(self) -> list[_Pending] | None:
        """Wait until a transaction is due (module docstring); ``None`` once closed and
        drained."""
        with self._cond:
            while True:
                queue = self._queue
                if self._give_up:
                    self._stopped = True
                    return None
                if not queue:
                    if self._closing:
                        self._stopped = True
                        return None
                    self._cond.wait()
                    continue
                if self._eager or len(queue) >= self.max_batch or self._closing:
                    wait_ns = 0
                else:
                    waited = time.monotonic_ns() - queue[0].appended_ns
                    wait_ns = self.max_delay_ns - waited
                if wait_ns > 0:
                    self._cond.wait(wait_ns / 1e9)
                    continue
                batch: list[_Pending] = []
                records = 0
                while queue and records < self.max_batch:
                    pending = queue.popleft()
                    if pending.eager:
                        self._eager -= 1
                    if pending.prepared is not None:
                        if not records:
                            self._in_flight_since = pending.appended_ns
                        records += 1
                    batch.append(pending)
                self._in_flight = records
                return batch

    def _write(self, batch: list[_Pending]) -> None:
        pendings = [p for p in batch if p.prepared is not None]
        results: list[tuple[_Pending, BaseException | None]]
        error = self._persevere(pendings) if pendings else None
        if error is None:
            results = [(p, None) for p in pendings]
        elif len(pendings) == 1 or isinstance(error, JournalClosedError):
            results = [(p, error) for p in pendings]
        else:  # find the record the database refuses: the others still go in
            results = []
            for pending in pendings:
                with self._cond:
                    self._in_flight_since = pending.appended_ns
                results.append((pending, self._persevere([pending])))
        failed = [(p, e) for p, e in results if e is not None]
        for pending, exc in failed:
            log.error(
                "journal record not written",
                record=type(pending.prepared.record).__name__ if pending.prepared else None,
                error=describe(exc),
            )
        with self._cond:
            self._in_flight, self._in_flight_since = 0, None
            self._failed_records += len(failed)
        for pending, outcome in results:
            _settle(pending.future, outcome)
        for pending in batch:
            if pending.prepared is None:
                _settle(pending.future, None)

    def _persevere(self, pendings: list[_Pending]) -> BaseException | None:
        """One transaction for ``pendings``, tried again after each database fault until the
        database takes it or refuses a record (that error is returned), or the writer gives
        up (:class:`JournalClosedError`)."""
        attempt = 0
        while True:
            error = self._transaction(pendings)
            if error is None or not is_database_fault(error):
                return error
            attempt += 1
            delay_s = self.retry.delay_s(attempt, random.random())
            if attempt <= 3 or attempt % 30 == 0:  # a long fault: about one line a minute
                log.warning(
                    "journal transaction failed: tried again",
                    error=describe(error),
                    records=len(pendings),
                    attempt=attempt,
                    retry_in_s=round(delay_s, 3),
                )
            deadline = time.monotonic() + delay_s
            with self._cond:
                while not self._give_up and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                if self._give_up:
                    return JournalClosedError(
                        f"the journal writer gave up while the database could not write: "
                        f"{describe(error)}"
                    )

    def _transaction(self, pendings: list[_Pending]) -> BaseException | None:
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                apply_batch(conn, [p.prepared for p in pendings if p.prepared is not None])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            self._close_connection()  # a fresh one next time, whatever state this one is in
            with self._cond:
                self._failed_transactions += 1
                if is_database_fault(exc):
                    self._fault = self._last_error = describe(exc)
                    self._open_stall(time.time_ns(), f"cannot write: {self._fault}")
                else:  # the database works; it refused a record
                    self._fault = None
                    self._close_stall_if_over()
            return exc
        now = time.monotonic_ns()
        with self._cond:
            self._transactions += 1
            self._records += len(pendings)
            self._largest_batch = max(self._largest_batch, len(pendings))
            self._fault = None
            self._in_flight -= len(pendings)
            self._in_flight_since = None  # (a split batch's next record sets its own)
            waited = now - pendings[0].appended_ns
            if waited >= self._stall_age_ns:  # a stall nobody asked about while it lasted
                self._open_stall(
                    time.time_ns() - waited,
                    f"a record waited {waited / 1e9:.1f} s to be committed "
                    f"(stall_after {self.stall_after_ns / 1e9:g} s)",
                )
            self._close_stall_if_over()
        return None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # isolation_level=None: the driver issues no BEGIN of its own; we do, IMMEDIATE.
            conn = sqlite3.connect(
                self._path,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
                factory=self._connection_factory,
                uri=self._uri,
            )
            try:
                for name, value in SQLITE_PRAGMAS:
                    conn.execute(f"PRAGMA {name}={value}")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:
                log.warning("journal connection did not close cleanly", error=describe(exc))


def is_database_fault(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot write now, whatever the record: locked or
    busy, read-only, full, an I/O error, a file it cannot open (``OperationalError``),
    corrupt (a bare ``DatabaseError``), SQLite's own ``InternalError``. Such a transaction is
    tried again; any other error (a constraint, a bug in a row, a record the database
    refuses) belongs to a record, which fails alone."""
    cause = _cause(exc)
    return isinstance(cause, sqlite3.OperationalError | sqlite3.InternalError) or (
        type(cause) is sqlite3.DatabaseError
    )


def _settle(future: Future[None], error: BaseException | None) -> None:
    """Resolve ``future`` unless its waiter gave up (canceled it) or it is resolved already:
    either way the writer's business with it is over, and the writer must not die of it."""
    if future.done():
        return
    try:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
    except InvalidStateError:  # canceled between the check and the set
        pass


def describe(exc: BaseException) -> str:
    """One line for ``exc``: a database error by its driver's words, without the SQL."""
    cause = _cause(exc)
    return f"{type(cause).__name__}: {cause}"


def _cause(exc: BaseException) -> BaseException:
    """The driver's own error behind ``exc`` (SQLAlchemy wraps it), else ``exc``."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def _sqlite_file(database: Database) -> tuple[str, bool]:
    """The SQLite file behind ``database`` and whether it is a ``file:`` URI."""
    url = database.url
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:":
        raise ValueError(
            f"the journal writer needs a SQLite file, got {database.safe_url!r}; "
            "configure a sqlite+aiosqlite:///path URL"
        )
    return path, path.startswith("file:")
