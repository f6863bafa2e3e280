"""The store's database: one SQLAlchemy ``AsyncEngine`` on an asyncio loop of its own.

The database URL is configuration (DESIGN §7); SQLite over aiosqlite is the embedded default,
``sqlite+aiosqlite:///var/troupe.db`` relative to the working directory. Every SQLite
connection is opened in WAL mode with ``synchronous=NORMAL`` (a commit survives a crash of the
process; a power cut may lose the last commits, never corrupt the file) and foreign keys on.

The store is used from actor threads, from the web loop and from tests, none of which may run
its coroutines on their own loop. So the engine lives on a loop in one background thread, and
everything reaches it through a thread-safe facade::

    db = Database("sqlite+aiosqlite:///var/troupe.db")
    future = db.submit(candles.write_bars(bars))   # fire and forget; failures are logged
    bars = db.call(candles.read_bars("NSE:INFY", "1m"), timeout_s=5.0)   # wait for it
    db.close()

Coroutines submitted before :meth:`Database.close` run to their end before the engine is
disposed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from engine.store.schema import SCHEMA_VERSIONS, metadata, schema_version

T = TypeVar("T")

DEFAULT_URL = "sqlite+aiosqlite:///var/troupe.db"

SQLITE_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("journal_mode", "WAL"),
    ("synchronous", "NORMAL"),
    ("foreign_keys", "ON"),
)
"""Set on every SQLite connection as it is opened."""

log = structlog.get_logger("troupe.store")


class SchemaVersionError(RuntimeError):
    """The database holds tables of a schema version this build cannot read."""


class StoreClosedError(RuntimeError):
    """Work was submitted to a :class:`Database` after :meth:`Database.close`."""


class Database:
    """An ``AsyncEngine`` for ``url``, its tables created, on a loop in its own thread.

    Opening creates the parent directory of a SQLite file, the tables that are missing and
    their ``schema_version`` rows. It raises :class:`SchemaVersionError` if the file was
    written by a build with another schema, and whatever the driver raises if the database
    cannot be opened (the thread is stopped again first).
    """

    def __init__(self, url: str | URL = DEFAULT_URL, *, open_timeout_s: float = 30.0) -> None:
        self.url = make_url(url)
        self.failures = 0
        """Submitted coroutines that raised (each is logged). Written on the store's loop."""
        _make_parent_directory(self.url)
        self.engine: AsyncEngine = create_async_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _apply_sqlite_pragmas)
        self._lock = threading.Lock()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run_loop, name=f"store:{self.url.database or self.url.host}", daemon=True
        )
        self._thread.start()
        try:
            self.call(self._create_schema(), timeout_s=open_timeout_s)
        except BaseException:
            self.close()
            raise

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for logs and messages."""
        return self.url.render_as_string(hide_password=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coro`` on the store's loop; return at once with its future.

        Thread-safe and never blocks. If ``coro`` raises, the failure is logged and counted in
        :attr:`failures` before the future completes, so nobody has to wait on the future to
        see it. Raises :class:`StoreClosedError` (and closes ``coro``) once the store is
        closed.
        """
        with self._lock:
            if self._closed:
                coro.close()
                raise StoreClosedError(f"the store {self.safe_url} is closed")
            return asyncio.run_coroutine_threadsafe(self._guarded(coro), self._loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = 30.0) -> T:
        """Run ``coro`` on the store's loop and wait for its result.

        Raises what ``coro`` raises (not logged: the caller has it), ``TimeoutError`` after
        ``timeout_s`` seconds (``coro`` is then cancelled), :class:`StoreClosedError` once the
        store is closed, and ``RuntimeError`` on the store's own thread, where waiting would
        deadlock.
        """
        if threading.get_ident() == self._thread.ident:
            coro.close()
            raise RuntimeError("Database.call() on the store's own loop would deadlock; await")
        with self._lock:
            if self._closed:
                coro.close()
                raise StoreClosedError(f"the store {self.safe_url} is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            if future.done():  # raised by coro itself
                raise
            future.cancel()
            message = f"the store {self.safe_url} did not answer within {timeout_s}s"
            raise TimeoutError(message) from None

    def close(self, timeout_s: float = 10.0) -> None:
        """Refuse new work, let submitted work finish, dispose of the engine, stop the thread.

        Idempotent. Work still running after ``timeout_s`` seconds is abandoned and logged.
        """
        if threading.get_ident() == self._thread.ident:
            raise RuntimeError("Database.close() on the store's own loop would deadlock")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            done.result(timeout_s)
        except Exception as exc:
            log.error("store did not close cleanly", url=self.safe_url, error=_describe(exc))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- on the store's loop --------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())

    async def _guarded(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await coro
        except Exception as exc:
            self.failures += 1
            log.error(
                "store operation failed",
                operation=getattr(coro, "__qualname__", repr(coro)),
                url=self.safe_url,
                error=_describe(exc),
            )
            raise

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self.engine.dispose()

    async def _create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        for component, version in SCHEMA_VERSIONS.items():
            found = await self._schema_version(component)
            if found is None:
                try:
                    async with self.engine.begin() as conn:
                        await conn.execute(
                            schema_version.insert().values(component=component, version=version)
                        )
                    continue
                except IntegrityError:  # another process created it first
                    found = await self._schema_version(component)
            if found != version:
                raise SchemaVersionError(
                    f"{self.safe_url}: the {component!r} tables have schema version {found}; "
                    f"this build reads version {version} and has no migration between them"
                )

    async def _schema_version(self, component: str) -> int | None:
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                select(schema_version.c.version).where(schema_version.c.component == component)
            )
        return None if found is None else int(found)


def _apply_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for name, value in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {name}={value}")
    finally:
        cursor.close()


def _make_parent_directory(url: URL) -> None:
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):  # a URI filename: SQLite resolves it
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
