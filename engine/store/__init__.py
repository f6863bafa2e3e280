"""Durable storage (DESIGN §7): one database on a loop of its own, and what is kept in it.

- :mod:`engine.store.database`: :class:`Database`, the engine, its thread and its facade;
- :mod:`engine.store.schema`: the tables and their schema versions;
- :mod:`engine.store.candles`: :class:`CandleStore`, bars for warm-up and replay;
- :mod:`engine.store.candle_replay`: :func:`stored_bars`, stored bars served back in order.
"""

from engine.store.candle_replay import stored_bars
from engine.store.candles import CandleStore
from engine.store.database import DEFAULT_URL, Database, SchemaVersionError, StoreClosedError

__all__ = [
    "DEFAULT_URL",
    "CandleStore",
    "Database",
    "SchemaVersionError",
    "StoreClosedError",
    "stored_bars",
]
