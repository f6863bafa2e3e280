"""The journal's tables (SQLAlchemy Core), on the store's shared metadata.

Defined here, next to the journal, but on :data:`engine.store.schema.metadata` (which imports
this module), so every :class:`~engine.store.database.Database` creates them with the others
and checks their version under the ``journal`` component of
:data:`~engine.store.schema.SCHEMA_VERSIONS`.

Conventions, every table:

* times are ``BigInteger`` ns since the epoch, UTC;
* money and prices are ``String`` holding a ``Decimal`` exactly (``"1502.35"``), never REAL;
* quantities are ``BigInteger`` units;
* each message is also kept whole as JSON (``msgspec.json``, the catalogue's encoding with
  its ``"type"`` tag, ``LargeBinary``), so it decodes back to the very message
  (:func:`engine.messages.catalogue.decode`); the other columns are there to filter on;
* an ``id`` (autoincrement) gives the order records were written in: "newest first" is
  ``ts_event DESC, id DESC``.

Rankings are kept in the store's ``rankings`` table (:mod:`engine.store.rankings`), in the
same row format, and candles in ``candles``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from engine.store.schema import metadata

COMPONENT = "journal"
"""The journal's key in ``schema_version`` and ``SCHEMA_VERSIONS``."""


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


orders = Table(
    "orders",
    metadata,
    Column("client_order_id", String, primary_key=True),
    Column("instrument", String, nullable=False),
    Column("strategy", String, nullable=False),
    Column("correlation_id", String, nullable=False),
    Column("side", String, nullable=False),
    Column("order_type", String, nullable=False),
    Column("time_in_force", String, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("price", String, nullable=True),
    Column("trigger_price", String, nullable=True),
    Column("status", String, nullable=False),
    Column("filled_qty", BigInteger, nullable=False),
    # Sum of ``last_qty * last_price`` over the fills: exact, so the average stays exact.
    Column("filled_notional", String, nullable=False),
    # ``filled_notional / filled_qty`` (28 significant digits); NULL before a fill.
    Column("avg_price", String, nullable=True),
    Column("fees", String, nullable=False),
    Column("venue_order_id", String, nullable=True),
    # The last rejection or cancellation reason.
    Column("reason", String, nullable=True),
    # The order's ``ts_event``: when it was decided.
    Column("ts_created", BigInteger, nullable=False),
    # The ``ts_event`` of the last event applied.
    Column("ts_updated", BigInteger, nullable=False),
    # The ``SubmitOrder`` as it was sent, JSON.
    Column("command", LargeBinary, nullable=False),
    Index("orders_by_time", "ts_created"),
    Index("orders_by_status", "status"),
)
"""One row per ``client_order_id``: the order as sent and where it stands."""

order_events = Table(
    "order_events",
    metadata,
    _id(),
    Column("client_order_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
    Column("ts_init", BigInteger, nullable=False),
    Column("event", LargeBinary, nullable=False),
    Index("order_events_by_order", "client_order_id", "id"),
    Index("order_events_by_time", "ts_event"),
)
"""Every order command and event (``SubmitOrder`` and ``SubmitBracket`` included), in the
order they were recorded."""

fills = Table(
    "fills",
    metadata,
    _id(),
    Column("trade_id", String, nullable=False, unique=True),
    Column("client_order_id", String, nullable=False),
    Column("venue_order_id", String, nullable=False),
    Column("instrument", String, nullable=False),
    Column("strategy", String, nullable=False),
    Column("side", String, nullable=False),
    Column("last_qty", BigInteger, nullable=False),
    Column("last_price", String, nullable=False),
    Column("fee", String, nullable=False),
    Column("currency", String, nullable=False),
    Column("correlation_id", String, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
    Column("ts_init", BigInteger, nullable=False),
    Column("fill", LargeBinary, nullable=False),
    Index("fills_by_time", "ts_event"),
    Index("fills_by_order", "client_order_id"),
)
"""One row per execution; ``trade_id`` is unique, so a fill recorded twice is kept once."""

position_snapshots = Table(
    "position_snapshots",
    metadata,
    _id(),
    Column("instrument", String, nullable=False),
    Column("strategy", String, nullable=True),
    Column("quantity", BigInteger, nullable=False),
    Column("avg_price", String, nullable=False),
    Column("realized_pnl", String, nullable=False),
    Column("currency", String, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
    Column("snapshot", LargeBinary, nullable=False),
    Index("position_snapshots_by_time", "ts_event"),
    Index("position_snapshots_by_instrument", "instrument", "ts_event"),
)
"""The ledger's ``PositionChanged``, as the journal actor throttles them."""

account_snapshots = Table(
    "account_snapshots",
    metadata,
    _id(),
    Column("currency", String, nullable=False),
    Column("cash", String, nullable=False),
    Column("equity", String, nullable=False),
    Column("realized_pnl", String, nullable=False),
    Column("unrealized_pnl", String, nullable=False),
    Column("fees", String, nullable=False),
    Column("open_positions", Integer, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
    Column("snapshot", LargeBinary, nullable=False),
    Index("account_snapshots_by_time", "ts_event"),
)
"""The ledger's ``AccountChanged`` (the equity curve), throttled like positions."""

signals = Table(
    "signals",
    metadata,
    _id(),
    # ``Signal`` (a strategy's) or ``TradeIntent`` (the ranker's pick).
    Column("kind", String, nullable=False),
    Column("strategy", String, nullable=False),
    Column("instrument", String, nullable=False),
    Column("side", String, nullable=False),
    Column("strength", Float, nullable=False),
    Column("correlation_id", String, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
    Column("signal", LargeBinary, nullable=False),
    Index("signals_by_time", "ts_event"),
)

risk_denials = Table(
    "risk_denials",
    metadata,
    _id(),
    Column("code", String, nullable=False),
    Column("instrument", String, nullable=False),
    Column("strategy", String, nullable=False),
    Column("message", String, nullable=False),
    Column("correlation_id", String, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
    Column("denial", LargeBinary, nullable=False),
    Index("risk_denials_by_time", "ts_event"),
)

commands = Table(
    "commands",
    metadata,
    _id(),
    Column("command_id", String, nullable=False, unique=True),
    Column("kind", String, nullable=False),
    Column("who", String, nullable=False),
    # The command's body as JSON (a catalogue message keeps its ``"type"`` tag).
    Column("body", LargeBinary, nullable=False),
    # When it was received.
    Column("ts_event", BigInteger, nullable=False),
    # What became of it (``"accepted"``, ``"refused: ..."``); NULL until known.
    Column("outcome", String, nullable=True),
    Column("ts_outcome", BigInteger, nullable=True),
    Index("commands_by_time", "ts_event"),
)
"""Commands from the API, recorded before they are acknowledged (DESIGN §7)."""

audit_events = Table(
    "audit_events",
    metadata,
    _id(),
    Column("kind", String, nullable=False),
    Column("message", String, nullable=False),
    # JSON; for a catalogue message the message itself.
    Column("detail", LargeBinary, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
    Index("audit_events_by_time", "ts_event"),
)
"""Anything else worth keeping: state changes, reconfigurations, free-form notes."""

JOURNAL_TABLES: tuple[Table, ...] = (
    orders,
    order_events,
    fills,
    position_snapshots,
    account_snapshots,
    signals,
    risk_denials,
    commands,
    audit_events,
)
