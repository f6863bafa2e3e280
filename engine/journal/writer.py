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

Failures: a record that cannot be encoded fails alone, at once. A transaction that fails is
rolled back and its records are tried again one transaction each, so a record the database
refuses fails alone and the others are committed; each failed future carries the error.

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
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError

from engine.journal.rows import Prepared, apply_batch, prepare
from engine.store.database import SQLITE_PRAGMAS, Database

log = structlog.get_logger("troupe.journal")

DEFAULT_MAX_DELAY_NS = 2_000_000
"""A lazy record waits at most this long for others to share its transaction (2 ms)."""
DEFAULT_MAX_BATCH = 500
"""At most this many records per transaction."""

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
    ``busy_timeout_s`` is how long a transaction waits for another connection's write lock
    before it fails. Raises ``ValueError`` for a database that is not a SQLite file, or a bad
    bound.
    """

    def __init__(
        self,
        database: Database,
        *,
        max_delay_ns: int = DEFAULT_MAX_DELAY_NS,
        max_batch: int = DEFAULT_MAX_BATCH,
        busy_timeout_s: float = 5.0,
    ) -> None:
        if not isinstance(max_delay_ns, int) or isinstance(max_delay_ns, bool) or max_delay_ns < 0:
            raise ValueError(f"max_delay_ns must be an int >= 0 (ns), got {max_delay_ns!r}")
        if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
            raise ValueError(f"max_batch must be an int >= 1, got {max_batch!r}")
        if not busy_timeout_s > 0:
            raise ValueError(f"busy_timeout_s must be > 0 (s), got {busy_timeout_s!r}")
        self.database = database
        self.max_delay_ns = max_delay_ns
        self.max_batch = max_batch
        self._path, self._uri = _sqlite_file(database)
        self.busy_timeout_s = busy_timeout_s
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
            error = future.exception()
            done(None if error is None else describe(error))

        self.append(record, lazy=lazy).add_done_callback(resolved)

    def write(self, record: Any, timeout_s: float | None = 30.0) -> None:
        """Append ``record`` and wait until it is committed. Raises what :meth:`append`'s
        future fails with, or ``TimeoutError`` after ``timeout_s`` seconds (the record may
        still be written later). Never call it from the writer's own thread."""
        self.append(record).result(timeout_s)

    def flush(self) -> Future[None]:
        """A future resolved once every record appended before this call has been
        committed or has failed (never failed itself)."""
        future: Future[None] = Future()
        self._enqueue(_Pending(None, future, True, time.monotonic_ns()), marker=True)
        return future

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, stop the thread and close the connection. Records appended
        afterwards fail with :class:`JournalClosedError`. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("journal writer did not finish in time", timeout_s=timeout_s)

    def abandon(self, timeout_s: float = 30.0) -> None:
        """Stop as ``kill -9`` would stop the process: what is queued and not yet in a
        transaction is dropped (its futures fail with :class:`JournalClosedError`), a
        transaction in progress ends as SQLite ends it, the thread stops. For crash tests;
        the service closes with :meth:`close`. Idempotent."""
        with self._cond:
            dropped, self._queue = list(self._queue), collections.deque()
            self._eager = 0
            self._closing = True
            self._cond.notify()
        for pending in dropped:
            if pending.prepared is None:
                pending.future.set_result(None)
            else:
                pending.future.set_exception(JournalClosedError("the journal writer was abandoned"))
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
            pending.future.set_result(None)
        else:
            self._refuse(pending.future, JournalClosedError("the journal writer is closed"))
        return False

    def _refuse(self, future: Future[None], exc: BaseException) -> None:
        with self._cond:
            self._failed_records += 1
        future.set_exception(exc)

    # -- the writer's thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                self._write(batch)
        finally:
            self._close_connection()
            with self._cond:
                self._stopped = True
                left, self._queue = list(self._queue), collections.deque()
            for pending in left:  # only if the loop itself broke
                if pending.prepared is None:
                    pending.future.set_result(None)
                else:
                    pending.future.set_exception(JournalClosedError("the journal writer stopped"))

    def _next_batch(self) -> list[_Pending] | None:
        """Wait until a transaction is due (module docstring); ``None`` once closed and
        drained."""
        with self._cond:
            while True:
                queue = self._queue
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
                        records += 1
                    batch.append(pending)
                self._in_flight = records
                return batch

    def _write(self, batch: list[_Pending]) -> None:
        pendings = [p for p in batch if p.prepared is not None]
        results: list[tuple[_Pending, BaseException | None]]
        error = self._transaction(pendings) if pendings else None
        if error is None:
            results = [(p, None) for p in pendings]
        elif len(pendings) == 1:
            results = [(pendings[0], error)]
        else:  # find the record the database refuses: the others still go in
            results = [(p, self._transaction([p])) for p in pendings]
        failed = [(p, e) for p, e in results if e is not None]
        for pending, exc in failed:
            log.error(
                "journal record not written",
                record=type(pending.prepared.record).__name__ if pending.prepared else None,
                error=describe(exc),
            )
        with self._cond:
            self._in_flight = 0
            self._failed_records += len(failed)
        for pending, outcome in results:
            if outcome is None:
                pending.future.set_result(None)
            else:
                pending.future.set_exception(outcome)
        for pending in batch:
            if pending.prepared is None:
                pending.future.set_result(None)

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
            return exc
        with self._cond:
            self._transactions += 1
            self._records += len(pendings)
            self._largest_batch = max(self._largest_batch, len(pendings))
        return None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # isolation_level=None: the driver issues no BEGIN of its own; we do, IMMEDIATE.
            conn = sqlite3.connect(
                self._path,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
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


def describe(exc: BaseException) -> str:
    """One line for ``exc``: a database error by its driver's words, without the SQL."""
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig
    return f"{type(cause).__name__}: {cause}"


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
