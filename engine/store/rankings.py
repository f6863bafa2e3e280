"""The ranker's scan cycles kept: what was ranked, how, and what was picked.

Each cycle's :class:`~engine.messages.ranking.SignalsRanked` is stored whole as JSON, keyed by
the cycle's time (a cycle stored twice replaces itself). Coroutines for the store's loop; the
service hands the ranker ``lambda ranked: db.submit(store.write(ranked))``.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.messages.ranking import SignalsRanked
from engine.store.database import Database
from engine.store.schema import rankings

_insert = sqlite_insert(rankings)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[rankings.c.ts_event],
    set_={c.name: _insert.excluded[c.name] for c in rankings.columns if not c.primary_key},
)
_decode = msgspec.json.Decoder(SignalsRanked)


class RankingStore:
    """Rankings in the ``rankings`` table of ``database`` (SQLite)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.written = 0

    async def write(self, ranked: SignalsRanked) -> None:
        row = {
            "ts_event": ranked.ts_event,
            "bar_close": ranked.bar_close,
            "candidates": len(ranked.candidates),
            "picked": sum(1 for c in ranked.candidates if c.picked),
            "ranking": msgspec.json.encode(ranked),
        }
        async with self.database.engine.begin() as conn:
            await conn.execute(_UPSERT, row)
        self.written += 1

    async def read(
        self, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[SignalsRanked]:
        """Cycles with ``start_ns <= ts_event < end_ns`` (``None``: unbounded), oldest first."""
        query = select(rankings.c.ranking).order_by(rankings.c.ts_event)
        if start_ns is not None:
            query = query.where(rankings.c.ts_event >= start_ns)
        if end_ns is not None:
            query = query.where(rankings.c.ts_event < end_ns)
        async with self.database.engine.connect() as conn:
            rows = await conn.execute(query)
            return [_decode.decode(row[0]) for row in rows]
