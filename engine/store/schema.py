"""The tables the store keeps, as SQLAlchemy Core metadata, and their schema versions.

Times are integer nanoseconds since the epoch, UTC (``BigInteger``: 64 bits on every
backend). Candle prices and volumes are ``REAL``: market data is float (DESIGN §6). A NaN
price is stored as ``NULL`` (that is what SQLite makes of it) and read back as NaN, so one odd
bar never fails the batch it travels in.

There are no migrations yet. Each component records its version in ``schema_version`` when
its tables are first created; a database written by a newer build is refused rather than
misread (:class:`engine.store.database.SchemaVersionError`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, LargeBinary, MetaData, String, Table

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("component", String, primary_key=True),
    Column("version", Integer, nullable=False),
)
"""One row per component: the schema version its tables were created with."""

candles = Table(
    "candles",
    metadata,
    Column("instrument", String, primary_key=True),
    Column("interval", String, primary_key=True),
    Column("ts_event", BigInteger, primary_key=True, autoincrement=False),
    Column("ts_close", BigInteger, nullable=False),
    Column("ts_init", BigInteger, nullable=False),
    Column("open", Float, nullable=True),
    Column("high", Float, nullable=True),
    Column("low", Float, nullable=True),
    Column("close", Float, nullable=True),
    Column("volume", Float, nullable=True),
    Column("trade_count", BigInteger, nullable=False),
    Column("vwap", Float, nullable=True),
    # Clustered on the key: a range of one instrument's bars is one contiguous read.
    sqlite_with_rowid=False,
)
"""One row per bar: ``(instrument, interval, ts_event)`` is the key, ``ts_event`` the bar's
start (inclusive) and ``ts_close`` its end (exclusive), as in
:class:`engine.messages.market.Bar`."""

strategy_states = Table(
    "strategy_states",
    metadata,
    Column("key", String, primary_key=True),
    Column("snapshot", LargeBinary, nullable=False),
    Column("ts_saved", BigInteger, nullable=False),
)
"""The last saved state of each strategy host (``key``: strategy id and instrument), so a
restarted process resumes each strategy where it stopped (:mod:`engine.strategy_vault`)."""

rankings = Table(
    "rankings",
    metadata,
    Column("ts_event", BigInteger, primary_key=True, autoincrement=False),
    Column("bar_close", BigInteger, nullable=True),
    Column("candidates", Integer, nullable=False),
    Column("picked", Integer, nullable=False),
    Column("ranking", LargeBinary, nullable=False),
)
"""One row per scan cycle of the ranker: the whole ``SignalsRanked`` as JSON (every candidate
with its score and contributions), keyed by the cycle's time."""

SCHEMA_VERSIONS: dict[str, int] = {
    "candles": 1,
    "strategy_states": 1,
    "rankings": 1,
    "journal": 1,
}
"""The version of each component's tables that this build writes and reads."""

# The journal's tables live with the journal but on this metadata, so every Database creates
# them; imported last because that module imports ``metadata`` from here.
import engine.journal.tables  # noqa: E402, F401
