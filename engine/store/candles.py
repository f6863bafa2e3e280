"""Candles (bars) kept for strategy warm-up and replay.

A bar is keyed by ``(instrument, interval, ts_event)``, ``ts_event`` being its start: writing a
bar whose key is already stored replaces the stored one (a corrected or re-aggregated bar wins),
so a batch can be written twice without harm. Every method is a coroutine for the store's loop;
from another thread go through :class:`~engine.store.database.Database`::

    store = CandleStore(db)
    db.submit(store.write_bars(bars))
    warm_up = db.call(store.last_bars("NSE:INFY", "1m", 200, before_ns=session_open_ns))
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.messages.market import Bar
from engine.store.database import Database
from engine.store.schema import candles

_COLUMNS = (
    candles.c.instrument,
    candles.c.interval,
    candles.c.ts_event,
    candles.c.ts_close,
    candles.c.ts_init,
    candles.c.open,
    candles.c.high,
    candles.c.low,
    candles.c.close,
    candles.c.volume,
    candles.c.trade_count,
    candles.c.vwap,
)

_insert = sqlite_insert(candles)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[c for c in candles.primary_key.columns],
    set_={c.name: _insert.excluded[c.name] for c in candles.columns if not c.primary_key},
)


class CandleStore:
    """Bars in the ``candles`` table of ``database`` (SQLite only, for now: the upsert is
    SQLite's ``INSERT ... ON CONFLICT DO UPDATE``; raises ``ValueError`` for another URL).

    Writes are serialised in the order they were submitted, so of two batches holding the same
    bar the later one wins. Reads run alongside a write (WAL) and see whole batches only.
    """

    def __init__(self, database: Database) -> None:
        dialect = database.engine.dialect.name
        if dialect != "sqlite":
            raise ValueError(
                f"CandleStore needs a SQLite database, got {database.safe_url!r} ({dialect})"
            )
        self.database = database
        self._write_lock = asyncio.Lock()  # binds to the store's loop on first use
        self.bars_written = 0
        """Bars written so far (rewrites included). Updated on the store's loop."""
        self.batches_written = 0
        self.write_failures = 0
        """Batches whose write raised (each batch is written whole or not at all)."""

    async def write_bars(self, bars: Sequence[Bar]) -> int:
        """Store ``bars`` as one batched statement in one transaction; return how many.

        A bar whose ``(instrument, interval, ts_event)`` is stored already replaces it. A NaN
        price is stored as NULL and read back as NaN. Raises what the driver raises (nothing
        of the batch is then stored).
        """
        if not bars:
            return 0
        rows = [_row(bar) for bar in bars]
        async with self._write_lock:
            try:
                async with self.database.engine.begin() as conn:
                    await conn.execute(_UPSERT, rows)
            except Exception:
                self.write_failures += 1
                raise
            self.batches_written += 1
            self.bars_written += len(rows)
        return len(rows)

    async def read_bars(
        self,
        instrument: str,
        interval: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = None,
    ) -> list[Bar]:
        """Bars of ``instrument`` and ``interval`` whose start lies in ``[start_ns, end_ns)``
        (ns since the epoch, UTC; ``None``: unbounded), oldest first, at most ``limit``."""
        query = _of(instrument, interval)
        if start_ns is not None:
            query = query.where(candles.c.ts_event >= start_ns)
        if end_ns is not None:
            query = query.where(candles.c.ts_event < end_ns)
        query = query.order_by(candles.c.ts_event)
        if limit is not None:
            query = query.limit(_count(limit, "limit"))
        return await self._bars(query)

    async def last_bars(
        self, instrument: str, interval: str, count: int, before_ns: int | None = None
    ) -> list[Bar]:
        """The ``count`` most recent bars of ``instrument`` and ``interval``, oldest first: a
        strategy's warm-up. With ``before_ns`` only bars closed by then (``ts_close <=
        before_ns``), so a backtest starting at ``before_ns`` sees nothing of its future.
        Fewer than ``count`` if fewer are stored; raises ``ValueError`` if ``count < 0``."""
        query = _of(instrument, interval)
        if before_ns is not None:
            # The first bound keeps the scan on the key; the second is the rule.
            query = query.where(candles.c.ts_event < before_ns, candles.c.ts_close <= before_ns)
        query = query.order_by(candles.c.ts_event.desc()).limit(_count(count, "count"))
        bars = await self._bars(query)
        bars.reverse()
        return bars

    async def last_closes(
        self, instruments: Sequence[str], intervals: Sequence[str]
    ) -> dict[str, float]:
        """Each of ``instruments``' close of its most recently closed bar of any of
        ``intervals``: a last price for a process that just started, until the feed's first
        trade. One lookup on the key per (instrument, interval), never a scan."""
        closes: dict[str, tuple[int, float]] = {}
        for instrument in instruments:
            for interval in intervals:
                for bar in await self.last_bars(instrument, interval, 1):
                    newest = closes.get(instrument)
                    if bar.close > 0 and (newest is None or bar.ts_close > newest[0]):
                        closes[instrument] = (bar.ts_close, bar.close)
        return {instrument: close for instrument, (_ts, close) in closes.items()}

    async def instruments(self) -> list[str]:
        """Every instrument with a stored bar, sorted."""
        query = select(candles.c.instrument).distinct().order_by(candles.c.instrument)
        async with self.database.engine.connect() as conn:
            return list((await conn.scalars(query)).all())

    async def intervals(self, instrument: str | None = None) -> list[str]:
        """Every interval with a stored bar (of ``instrument``, if given), sorted as text."""
        query = select(candles.c.interval).distinct().order_by(candles.c.interval)
        if instrument is not None:
            query = query.where(candles.c.instrument == instrument)
        async with self.database.engine.connect() as conn:
            return list((await conn.scalars(query)).all())

    async def _bars(self, query: Select[Any]) -> list[Bar]:
        async with self.database.engine.connect() as conn:
            result = await conn.execute(query)
            return [_bar(row) for row in result]


def _of(instrument: str, interval: str) -> Select[Any]:
    return select(*_COLUMNS).where(
        candles.c.instrument == instrument, candles.c.interval == interval
    )


def _count(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be an int >= 0, got {value!r}")
    return value


def _row(bar: Bar) -> dict[str, Any]:
    return {
        "instrument": bar.instrument,
        "interval": bar.interval,
        "ts_event": bar.ts_event,
        "ts_close": bar.ts_close,
        "ts_init": bar.ts_init,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "trade_count": bar.trade_count,
        "vwap": bar.vwap,
    }


def _float(value: float | None) -> float:
    return math.nan if value is None else value


def _bar(row: Any) -> Bar:
    instrument, interval, ts_event, ts_close, ts_init, o, h, low, c, volume, count, vwap = row
    return Bar(
        ts_event=ts_event,
        ts_init=ts_init,
        instrument=instrument,
        interval=interval,
        ts_close=ts_close,
        open=_float(o),
        high=_float(h),
        low=_float(low),
        close=_float(c),
        volume=_float(volume),
        trade_count=count,
        vwap=_float(vwap),
    )
