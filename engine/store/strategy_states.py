"""Strategy states kept across process restarts: the last snapshot of each strategy host.

A snapshot is opaque bytes (:meth:`engine.strategy_runner.StrategyRunner.snapshot`); writing
one for a key already stored replaces it. Coroutines for the store's loop; from another thread
go through :class:`~engine.store.database.Database` (``db.submit(states.save(...))``).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.store.database import Database
from engine.store.schema import strategy_states

_insert = sqlite_insert(strategy_states)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[strategy_states.c.key],
    set_={"snapshot": _insert.excluded.snapshot, "ts_saved": _insert.excluded.ts_saved},
)


class StrategyStateStore:
    """Snapshots in the ``strategy_states`` table of ``database`` (SQLite)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._write_lock = asyncio.Lock()  # binds to the store's loop on first use
        self.writes = 0

    async def save(self, key: str, snapshot: bytes, ts_ns: int) -> None:
        """Keep ``snapshot`` as the state of ``key`` (replacing what was kept)."""
        async with self._write_lock, self.database.engine.begin() as conn:
            await conn.execute(_UPSERT, {"key": key, "snapshot": snapshot, "ts_saved": ts_ns})
        self.writes += 1

    async def load_all(self) -> dict[str, bytes]:
        """Every kept snapshot by key."""
        async with self.database.engine.connect() as conn:
            rows = await conn.execute(select(strategy_states.c.key, strategy_states.c.snapshot))
            return {str(key): bytes(snapshot) for key, snapshot in rows}

    async def forget(self, key: str) -> None:
        """Drop the state of ``key`` (a strategy removed from the configuration)."""
        async with self._write_lock, self.database.engine.begin() as conn:
            await conn.execute(strategy_states.delete().where(strategy_states.c.key == key))
