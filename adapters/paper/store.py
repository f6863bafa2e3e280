"""The paper broker's own book on disk: orders, fills, positions and the account.

A database of its own (SQLAlchemy 2 async over aiosqlite, through
:class:`engine.store.database.Database` for the loop and the WAL settings), never the engine's
journal: after a crash, a reconciliation compares the engine's record with this one, two real
records. The tables live in their own ``MetaData`` (``paper_*``); the file also gets the
engine store's empty tables, which :class:`Database` creates in every database it opens.

Every change the broker makes is written in one transaction before the broker reports it, so
a report is never ahead of the book. Money and prices are stored as decimal strings (exact),
times as ns since the epoch, UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.paper.book import PaperPosition
from adapters.paper.orders import PaperOrder
from engine.messages.trading import OrderFilled, OrderSide, OrderStatus, OrderType, TimeInForce
from engine.store.database import Database

__all__ = [
    "SCHEMA_VERSION",
    "BookChanges",
    "BookStore",
    "PaperSchemaError",
    "PaperStore",
    "StoredBook",
    "paper_metadata",
]

SCHEMA_VERSION = 1
"""The version of the ``paper_*`` tables this build writes and reads."""

paper_metadata = MetaData()

paper_account = Table(
    "paper_account",
    paper_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("schema_version", Integer, nullable=False),
    Column("cash", String, nullable=False),
    Column("currency", String, nullable=False),
    Column("order_seq", BigInteger, nullable=False),
    Column("trade_seq", BigInteger, nullable=False),
)
"""One row: the cash and the counters behind venue order ids and trade ids."""

paper_orders = Table(
    "paper_orders",
    paper_metadata,
    Column("client_order_id", String, primary_key=True),
    Column("venue_order_id", String, nullable=False, unique=True),
    Column("seq", BigInteger, nullable=False),
    Column("instrument", String, nullable=False),
    Column("side", String, nullable=False),
    Column("order_type", String, nullable=False),
    Column("time_in_force", String, nullable=False),
    Column("status", String, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("filled_qty", BigInteger, nullable=False),
    Column("price", String, nullable=True),
    Column("trigger_price", String, nullable=True),
    Column("strategy", String, nullable=False),
    Column("correlation_id", String, nullable=False),
    Column("turnover", String, nullable=False),
    Column("fees_charged", String, nullable=False),
    Column("first_fill_ns", BigInteger, nullable=True),
    Column("triggered", Boolean, nullable=False),
    Column("aggressive", Boolean, nullable=False),
    Column("reserved", String, nullable=False),
    Column("reason", String, nullable=False),
    Column("ts_created", BigInteger, nullable=False),
    Column("ts_accepted", BigInteger, nullable=True),
    Column("ts_last", BigInteger, nullable=False),
)
"""Every order the venue was sent, with its state now (rejected and finished ones too)."""

paper_fills = Table(
    "paper_fills",
    paper_metadata,
    Column("trade_id", String, primary_key=True),
    Column("client_order_id", String, nullable=False, index=True),
    Column("venue_order_id", String, nullable=False),
    Column("instrument", String, nullable=False),
    Column("side", String, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("price", String, nullable=False),
    Column("fee", String, nullable=False),
    Column("currency", String, nullable=False),
    Column("ts_event", BigInteger, nullable=False),
)
"""Every execution, once."""

paper_positions = Table(
    "paper_positions",
    paper_metadata,
    Column("instrument", String, primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("avg_price", String, nullable=False),
    Column("realized_pnl", String, nullable=False),
    Column("ts_last", BigInteger, nullable=False),
)
"""The net position per instrument (flat ones stay, at 0)."""


class PaperSchemaError(RuntimeError):
    """The database holds a paper book of a schema version this build cannot read."""


@dataclass(slots=True)
class StoredBook:
    """What :meth:`PaperStore.load` finds: ``None`` account fields for a new book."""

    cash: Decimal | None = None
    currency: str | None = None
    order_seq: int = 0
    trade_seq: int = 0
    orders: list[PaperOrder] = field(default_factory=list)
    positions: list[PaperPosition] = field(default_factory=list)


@dataclass(slots=True)
class BookChanges:
    """What one broker step changed, written in one transaction."""

    orders: dict[str, PaperOrder] = field(default_factory=dict)
    fills: list[OrderFilled] = field(default_factory=list)
    positions: dict[str, PaperPosition] = field(default_factory=dict)
    account: tuple[Decimal, str, int, int] | None = None
    """``(cash, currency, order_seq, trade_seq)`` when any of them changed."""

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.positions or self.account)


class BookStore(Protocol):
    """Where a paper broker keeps its book: :class:`PaperStore` on disk, or in memory for
    backtests (:class:`adapters.paper.memory_store.MemoryPaperStore`)."""

    def load(self) -> StoredBook: ...
    def write(self, changes: BookChanges) -> None: ...
    def open_orders(self) -> list[PaperOrder]: ...
    def positions(self) -> list[PaperPosition]: ...
    def fills(self) -> list[dict[str, Any]]: ...
    def order_fills(self, client_order_id: str) -> list[OrderFilled]: ...


class PaperStore:
    """The paper book's tables in ``database``. Blocking calls; never on the store's loop."""

    def __init__(self, database: Database, *, timeout_s: float = 30.0) -> None:
        self.database = database
        self.timeout_s = timeout_s
        database.call(self._create(), timeout_s=timeout_s)

    def load(self) -> StoredBook:
        """The whole book as last written. Raises :class:`PaperSchemaError` for a book of
        another schema version."""
        return self.database.call(self._load(), timeout_s=self.timeout_s)

    def write(self, changes: BookChanges) -> None:
        """Write ``changes`` in one transaction; returns once committed."""
        if changes:
            self.database.call(self._write(changes), timeout_s=self.timeout_s)

    def open_orders(self) -> list[PaperOrder]:
        """The orders that may still fill, oldest first, as written."""
        return self.database.call(self._open_orders(), timeout_s=self.timeout_s)

    def positions(self) -> list[PaperPosition]:
        """Every position, by instrument, as written."""
        return self.database.call(self._positions(), timeout_s=self.timeout_s)

    def fills(self) -> list[dict[str, Any]]:
        """Every fill as a row (``trade_id``, ``quantity``, ``price``, ...), in trade id order."""
        return self.database.call(self._fills(), timeout_s=self.timeout_s)

    def order_fills(self, client_order_id: str) -> list[OrderFilled]:
        """The fills of one order, in trade id order, as the broker reported them (the
        liquidity side is not kept: ``NO_LIQUIDITY_SIDE``; ``ts_init`` is the execution's
        time)."""
        return self.database.call(self._order_fills(client_order_id), timeout_s=self.timeout_s)

    # -- on the store's loop ---------------------------------------------------------------

    async def _create(self) -> None:
        async with self.database.engine.begin() as conn:
            await conn.run_sync(paper_metadata.create_all)

    async def _load(self) -> StoredBook:
        book = StoredBook()
        async with self.database.engine.connect() as conn:
            account = (await conn.execute(select(paper_account))).mappings().first()
            if account is not None:
                if account["schema_version"] != SCHEMA_VERSION:
                    raise PaperSchemaError(
                        f"{self.database.safe_url}: the paper book has schema version "
                        f"{account['schema_version']}; this build reads {SCHEMA_VERSION}"
                    )
                book.cash = Decimal(account["cash"])
                book.currency = account["currency"]
                book.order_seq = account["order_seq"]
                book.trade_seq = account["trade_seq"]
            rows = await conn.execute(select(paper_orders).order_by(paper_orders.c.seq))
            book.orders = [_order(row) for row in rows.mappings()]
            book.positions = await _read_positions(conn)
        return book

    async def _write(self, changes: BookChanges) -> None:
        async with self.database.engine.begin() as conn:
            if changes.account is not None:
                cash, currency, order_seq, trade_seq = changes.account
                await _replace(
                    conn,
                    paper_account,
                    paper_account.c.id,
                    [
                        {
                            "id": 1,
                            "schema_version": SCHEMA_VERSION,
                            "cash": str(cash),
                            "currency": currency,
                            "order_seq": order_seq,
                            "trade_seq": trade_seq,
                        }
                    ],
                    key="id",
                )
            if changes.orders:
                rows = [_order_row(order) for order in changes.orders.values()]
                await _replace(
                    conn, paper_orders, paper_orders.c.client_order_id, rows, "client_order_id"
                )
            if changes.fills:
                await conn.execute(paper_fills.insert(), [fill_row(f) for f in changes.fills])
            if changes.positions:
                rows = [_position_row(p) for p in changes.positions.values()]
                await _replace(
                    conn, paper_positions, paper_positions.c.instrument, rows, "instrument"
                )

    async def _open_orders(self) -> list[PaperOrder]:
        statuses = [
            OrderStatus.SUBMITTED.value,
            OrderStatus.ACCEPTED.value,
            OrderStatus.PARTIALLY_FILLED.value,
        ]
        query = (
            select(paper_orders)
            .where(paper_orders.c.status.in_(statuses))
            .order_by(paper_orders.c.seq)
        )
        async with self.database.engine.connect() as conn:
            return [_order(row) for row in (await conn.execute(query)).mappings()]

    async def _positions(self) -> list[PaperPosition]:
        async with self.database.engine.connect() as conn:
            return await _read_positions(conn)

    async def _order_fills(self, client_order_id: str) -> list[OrderFilled]:
        async with self.database.engine.connect() as conn:
            return await _order_fills_rows(conn, client_order_id)

    async def _fills(self) -> list[dict[str, Any]]:
        async with self.database.engine.connect() as conn:
            rows = await conn.execute(select(paper_fills).order_by(paper_fills.c.trade_id))
            return [dict(row) for row in rows.mappings()]


async def _order_fills_rows(conn: AsyncConnection, client_order_id: str) -> list[OrderFilled]:
    order = (
        (
            await conn.execute(
                select(paper_orders).where(paper_orders.c.client_order_id == client_order_id)
            )
        )
        .mappings()
        .first()
    )
    if order is None:
        return []
    query = (
        select(paper_fills)
        .where(paper_fills.c.client_order_id == client_order_id)
        .order_by(paper_fills.c.trade_id)
    )
    return [
        OrderFilled(
            ts_event=row["ts_event"],
            ts_init=row["ts_event"],
            client_order_id=row["client_order_id"],
            venue_order_id=row["venue_order_id"],
            trade_id=row["trade_id"],
            instrument=row["instrument"],
            strategy=order["strategy"],
            side=OrderSide(row["side"]),
            last_qty=row["quantity"],
            last_price=Decimal(row["price"]),
            fee=Decimal(row["fee"]),
            currency=row["currency"],
            correlation_id=order["correlation_id"],
        )
        for row in (await conn.execute(query)).mappings()
    ]


async def _replace(
    conn: AsyncConnection, table: Table, key_column: Any, rows: list[dict[str, Any]], key: str
) -> None:
    # Delete then insert: portable, and the rows of one step are few.
    await conn.execute(table.delete().where(key_column.in_([row[key] for row in rows])))
    await conn.execute(table.insert(), rows)


async def _read_positions(conn: AsyncConnection) -> list[PaperPosition]:
    rows = await conn.execute(select(paper_positions).order_by(paper_positions.c.instrument))
    return [
        PaperPosition(
            instrument=row["instrument"],
            quantity=row["quantity"],
            avg_price=Decimal(row["avg_price"]),
            realized_pnl=Decimal(row["realized_pnl"]),
            ts_last=row["ts_last"],
        )
        for row in rows.mappings()
    ]


def _optional(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _order_row(order: PaperOrder) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "venue_order_id": order.venue_order_id,
        "seq": order.seq,
        "instrument": order.instrument,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "quantity": order.quantity,
        "filled_qty": order.filled_qty,
        "price": _optional(order.price),
        "trigger_price": _optional(order.trigger_price),
        "strategy": order.strategy,
        "correlation_id": order.correlation_id,
        "turnover": str(order.turnover),
        "fees_charged": str(order.fees_charged),
        "first_fill_ns": order.first_fill_ns,
        "triggered": order.triggered,
        "aggressive": order.aggressive,
        "reserved": str(order.reserved),
        "reason": order.reason,
        "ts_created": order.ts_created,
        "ts_accepted": order.ts_accepted,
        "ts_last": order.ts_last,
    }


def _order(row: Any) -> PaperOrder:
    return PaperOrder(
        client_order_id=row["client_order_id"],
        venue_order_id=row["venue_order_id"],
        seq=row["seq"],
        instrument=row["instrument"],
        side=OrderSide(row["side"]),
        order_type=OrderType(row["order_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        quantity=row["quantity"],
        price=None if row["price"] is None else Decimal(row["price"]),
        trigger_price=None if row["trigger_price"] is None else Decimal(row["trigger_price"]),
        strategy=row["strategy"],
        correlation_id=row["correlation_id"],
        status=OrderStatus(row["status"]),
        filled_qty=row["filled_qty"],
        turnover=Decimal(row["turnover"]),
        fees_charged=Decimal(row["fees_charged"]),
        first_fill_ns=row["first_fill_ns"],
        triggered=bool(row["triggered"]),
        aggressive=bool(row["aggressive"]),
        reserved=Decimal(row["reserved"]),
        reason=row["reason"],
        ts_created=row["ts_created"],
        ts_accepted=row["ts_accepted"],
        ts_last=row["ts_last"],
    )


def fill_row(fill: OrderFilled) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "client_order_id": fill.client_order_id,
        "venue_order_id": fill.venue_order_id,
        "instrument": fill.instrument,
        "side": fill.side.value,
        "quantity": fill.last_qty,
        "price": str(fill.last_price),
        "fee": str(fill.fee),
        "currency": fill.currency,
        "ts_event": fill.ts_event,
    }


def _position_row(position: PaperPosition) -> dict[str, Any]:
    return {
        "instrument": position.instrument,
        "quantity": position.quantity,
        "avg_price": str(position.avg_price),
        "realized_pnl": str(position.realized_pnl),
        "ts_last": position.ts_last,
    }
