"""Reading the journal back: for the API (newest first) and for rebuilding state after a
restart (:meth:`JournalReader.orders_open`, :meth:`JournalReader.fills_since`, the router's
:meth:`JournalReader.router_rebuild`, the risk supervisor's
:meth:`JournalReader.order_records_since`).

Every method is a coroutine for the store's loop, reading through the store's async engine
(WAL: a read never waits for the writer, and sees whole transactions only). From the web loop
or another thread go through the :class:`~engine.store.database.Database`::

    reader = JournalReader(db)
    orders = await asyncio.wrap_future(db.submit(reader.orders(limit=50)))
    open_orders = db.call(reader.orders_open())        # from a thread, at start-up

The list readers share their arguments: ``limit`` (an int >= 0: at most that many, newest
first), ``start_ns`` / ``end_ns`` (``start_ns <= ts_event < end_ns``, ns since the epoch,
UTC; ``None``: unbounded) and, where the rows have them, ``instrument`` and ``strategy``
(``None``: any). A bad ``limit`` raises ``ValueError`` naming it. Messages come back decoded,
equal to the ones recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Column, Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.journal.tables import (
    account_snapshots,
    audit_events,
    commands,
    fills,
    order_events,
    orders,
    position_snapshots,
    risk_denials,
    signals,
)
from engine.journal.trades import RoundTrip, round_trips
from engine.journal.views import OPEN_STATUSES, AuditEntry, CommandEntry, JournaledOrder
from engine.messages.account import AccountChanged
from engine.messages.base import Message
from engine.messages.catalogue import decode
from engine.messages.orders import (
    BracketReduced,
    BracketReleased,
    ClosePosition,
    SubmitBracket,
)
from engine.messages.ranking import SignalsRanked
from engine.messages.risk import RiskDenied
from engine.messages.runtime import TradingStateChanged
from engine.messages.trading import (
    CancelOrder,
    OrderFilled,
    OrderSide,
    OrderStatus,
    PositionChanged,
    Signal,
    SubmitOrder,
    TradeIntent,
)
from engine.orders.ids import exit_of, parse_exit_id
from engine.orders.rebuild import RouterRebuild, signed
from engine.store.database import Database
from engine.store.schema import rankings

DEFAULT_LIMIT = 100
_PAGE = 500

_FILL = msgspec.json.Decoder(OrderFilled)
_ORDER = msgspec.json.Decoder(SubmitOrder)
_BRACKET = msgspec.json.Decoder(SubmitBracket)
_CLOSE = msgspec.json.Decoder(ClosePosition)
_RELEASED = msgspec.json.Decoder(BracketReleased)
_REDUCED = msgspec.json.Decoder(BracketReduced)
_STATE = msgspec.json.Decoder(TradingStateChanged)
_SIGNAL = msgspec.json.Decoder(Signal | TradeIntent)
_RANKING = msgspec.json.Decoder(SignalsRanked)
_DENIAL = msgspec.json.Decoder(RiskDenied)
_POSITION = msgspec.json.Decoder(PositionChanged)
_ACCOUNT = msgspec.json.Decoder(AccountChanged)


class JournalReader:
    """Reads the journal tables of ``database``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- orders ---------------------------------------------------------------------------

    async def orders(
        self,
        limit: int = DEFAULT_LIMIT,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        instrument: str | None = None,
        strategy: str | None = None,
        statuses: Iterable[OrderStatus] | None = None,
    ) -> list[JournaledOrder]:
        """Orders created in the range (``ts_created``), newest first; only those in
        ``statuses`` if given."""
        query = _recent(
            orders,
            orders.c.ts_created,
            limit,
            start_ns,
            end_ns,
            instrument=instrument,
            strategy=strategy,
        )
        if statuses is not None:
            query = query.where(orders.c.status.in_([s.value for s in statuses]))
        return [_order(row) for row in await self._rows(query)]

    async def order(self, client_order_id: str) -> JournaledOrder | None:
        """One order by its client order id; ``None`` if it was never recorded."""
        query = select(orders).where(orders.c.client_order_id == client_order_id)
        rows = await self._rows(query)
        return _order(rows[0]) if rows else None

    async def orders_open(self) -> list[JournaledOrder]:
        """Every order that may still fill (NEW, SUBMITTED, ACCEPTED, PARTIALLY_FILLED),
        oldest first: what the router rebuilds, and reconciles with the broker, after a
        restart."""
        query = (
            select(orders)
            .where(orders.c.status.in_([s.value for s in OPEN_STATUSES]))
            .order_by(orders.c.ts_created, orders.c.client_order_id)
        )
        return [_order(row) for row in await self._rows(query)]

    async def router_rebuild(self, since_ns: int) -> RouterRebuild:
        """What the order router rebuilds after a restart (:mod:`engine.orders.rebuild`).

        The brackets (their ``SubmitBracket``) still to manage: those with an order not ended,
        whatever their age, and those recorded at or after ``since_ns`` (ns, UTC) whose fills
        leave a position open (an entry that filled before its exits were recorded). With each
        bracket every order of it (``<entry>:<role>[.n]``), ended ones too; every other order
        not ended; the fills of all of these; and the net position of every instrument over
        every fill recorded.
        """
        open_orders = await self.orders_open()
        candidates: set[str] = set()
        for record in open_orders:
            candidates.add(record.client_order_id)
            parsed = parse_exit_id(record.client_order_id)
            if parsed is not None:
                candidates.add(parsed[0])
        async with self.database.engine.connect() as conn:
            brackets = await _brackets(conn, candidates, since_ns)
            grouped: dict[str, list[JournaledOrder]] = {}
            for entry_id in brackets:
                upper = entry_id + chr(ord(":") + 1)
                query = (
                    select(orders)
                    .where(
                        (orders.c.client_order_id == entry_id)
                        | (
                            (orders.c.client_order_id > entry_id + ":")
                            & (orders.c.client_order_id < upper)
                        )
                    )
                    .order_by(orders.c.ts_created, orders.c.client_order_id)
                )
                grouped[entry_id] = [
                    record
                    for record in (_order(row) for row in await conn.execute(query))
                    if record.client_order_id == entry_id
                    or exit_of(entry_id, record.client_order_id)
                ]
            wanted = {o.client_order_id for o in open_orders}
            wanted.update(o.client_order_id for group in grouped.values() for o in group)
            recorded = await _fills_of(conn, wanted)
            net = select(fills.c.instrument, fills.c.side, func.sum(fills.c.last_qty)).group_by(
                fills.c.instrument, fills.c.side
            )
            positions: dict[str, int] = {}
            for instrument, side, quantity in await conn.execute(net):
                sign = 1 if side == OrderSide.BUY.value else -1
                positions[instrument] = positions.get(instrument, 0) + sign * int(quantity)
            facts = await _bracket_facts(
                conn, {o.client_order_id for group in grouped.values() for o in group}
            )
            released, released_exits = facts.released, facts.released_exits
            closed_elsewhere, cancels_asked = facts.closed_elsewhere, facts.cancels_asked
            closes = await _pending_closes(conn, since_ns)
        by_order: dict[str, list[OrderFilled]] = {}
        for fill in recorded:
            by_order.setdefault(fill.client_order_id, []).append(fill)
        kept: list[SubmitBracket] = []
        for entry_id, command in brackets.items():
            group = grouped[entry_id]
            if entry_id in released:
                # Released: whoever took over (a close, a cancel-all) handles its position;
                # only its orders still open are restored with it.
                if any(o.open for o in group):
                    kept.append(command)
                continue
            held = sum(signed(f) for o in group for f in by_order.get(o.client_order_id, []))
            elsewhere = closed_elsewhere.get(entry_id, 0)
            held -= elsewhere if command.entry.side is OrderSide.BUY else -elsewhere
            if held != 0 or any(o.open for o in group):
                kept.append(command)
        kept_ids = {command.entry.client_order_id for command in kept}
        chosen = {o.client_order_id: o for o in open_orders}
        for entry_id in kept_ids:
            chosen.update((o.client_order_id, o) for o in grouped[entry_id])
        restored = sorted(chosen.values(), key=lambda o: (o.ts_created, o.client_order_id))
        return RouterRebuild(
            orders=restored,
            brackets=kept,
            fills=[f for f in recorded if f.client_order_id in chosen],
            positions={i: q for i, q in sorted(positions.items()) if q},
            released={entry_id for entry_id in kept_ids if entry_id in released},
            released_exits={cid for cid in released_exits if cid in chosen},
            closed_elsewhere={
                entry_id: units
                for entry_id, units in closed_elsewhere.items()
                if entry_id in kept_ids
            },
            cancels_asked={cid for cid in cancels_asked if cid in chosen},
            closes=closes,
        )

    async def trading_state(self) -> TradingStateChanged | None:
        """The last trading state change that persists (a person's or a risk rule's:
        :attr:`~engine.messages.runtime.TradingStateChanged.persists`), whenever it was
        recorded; ``None`` if there is none. What a restarted engine starts in."""
        query = (
            select(audit_events.c.id, audit_events.c.detail)
            .where(audit_events.c.kind == TradingStateChanged.__name__)
            .order_by(audit_events.c.id.desc())
            .limit(_PAGE)
        )
        before: int | None = None
        while True:
            page = query if before is None else query.where(audit_events.c.id < before)
            rows = await self._rows(page)
            for row in rows:
                change = _STATE.decode(row.detail)
                if change.persists:
                    return change
            if len(rows) < _PAGE:
                return None
            before = rows[-1].id

    async def order_records_since(self, since_ns: int) -> list[Message]:
        """Every order command, event and fill recorded with ``ts_event >= since_ns``, in the
        order recorded: what the risk supervisor replays after a restart (``since_ns``: the
        start of its trading day)."""
        query = (
            select(order_events.c.event)
            .where(order_events.c.ts_event >= since_ns)
            .order_by(order_events.c.id)
        )
        return [decode(row.event) for row in await self._rows(query)]

    async def order_events(self, client_order_id: str) -> list[Message]:
        """Every command and event recorded for one order, in the order recorded."""
        query = (
            select(order_events.c.event)
            .where(order_events.c.client_order_id == client_order_id)
            .order_by(order_events.c.id)
        )
        return [decode(row.event) for row in await self._rows(query)]

    # -- fills and trades -----------------------------------------------------------------

    async def fills(
        self,
        limit: int = DEFAULT_LIMIT,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        instrument: str | None = None,
        strategy: str | None = None,
    ) -> list[OrderFilled]:
        """Fills, newest first."""
        query = _recent(
            fills,
            fills.c.ts_event,
            limit,
            start_ns,
            end_ns,
            instrument=instrument,
            strategy=strategy,
        )
        return [_FILL.decode(row.fill) for row in await self._rows(query)]

    async def fills_since(self, ts_ns: int) -> list[OrderFilled]:
        """Every fill with ``ts_event >= ts_ns``, in the order they happened (ties in the
        order recorded): what the ledger replays after a restart (``ts_ns``: the start of
        the trading day)."""
        query = (
            select(fills.c.fill)
            .where(fills.c.ts_event >= ts_ns)
            .order_by(fills.c.ts_event, fills.c.id)
        )
        return [_FILL.decode(row.fill) for row in await self._rows(query)]

    async def trades(
        self,
        limit: int = DEFAULT_LIMIT,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        instrument: str | None = None,
        strategy: str | None = None,
    ) -> list[RoundTrip]:
        """Round trips (:mod:`engine.journal.trades`) made by the fills in the range, newest
        first (by opening time), open ones included. Positions count as flat at
        ``start_ns``: give the start of a trading day (an intraday book is flat then)."""
        _limit(limit)
        query = select(fills.c.fill).order_by(fills.c.ts_event, fills.c.id)
        query = _filtered(
            query,
            fills,
            fills.c.ts_event,
            start_ns,
            end_ns,
            instrument=instrument,
            strategy=strategy,
        )
        made = [_FILL.decode(row.fill) for row in await self._rows(query)]
        trips = round_trips(made)
        trips.reverse()
        return trips[:limit]

    # -- decisions ------------------------------------------------------------------------

    async def signals(
        self,
        limit: int = DEFAULT_LIMIT,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        instrument: str | None = None,
        strategy: str | None = None,
    ) -> list[Signal | TradeIntent]:
        """Strategies' signals (and the ranker's intents, if recorded), newest first."""
        query = _recent(
            signals,
            signals.c.ts_event,
            limit,
            start_ns,
            end_ns,
            instrument=instrument,
            strategy=strategy,
        )
        return [_SIGNAL.decode(row.signal) for row in await self._rows(query)]

    async def rankings(
        self, limit: int = DEFAULT_LIMIT, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[SignalsRanked]:
        """The ranker's scan cycles, newest first."""
        query = _recent(rankings, rankings.c.ts_event, limit, start_ns, end_ns)
        return [_RANKING.decode(row.ranking) for row in await self._rows(query)]

    async def risk_denials(
        self,
        limit: int = DEFAULT_LIMIT,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        instrument: str | None = None,
        strategy: str | None = None,
    ) -> list[RiskDenied]:
        """Risk denials, newest first."""
        query = _recent(
            risk_denials,
            risk_denials.c.ts_event,
            limit,
            start_ns,
            end_ns,
            instrument=instrument,
            strategy=strategy,
        )
        return [_DENIAL.decode(row.denial) for row in await self._rows(query)]

    # -- positions and account --------------------------------------------------------------

    async def positions(
        self,
        limit: int = DEFAULT_LIMIT,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        instrument: str | None = None,
        strategy: str | None = None,
    ) -> list[PositionChanged]:
        """Position snapshots, newest first."""
        table = position_snapshots
        query = _recent(
            table,
            table.c.ts_event,
            limit,
            start_ns,
            end_ns,
            instrument=instrument,
            strategy=strategy,
        )
        return [_POSITION.decode(row.snapshot) for row in await self._rows(query)]

    async def latest_positions(self) -> list[PositionChanged]:
        """The last snapshot of each (instrument, strategy), flat ones included, sorted by
        instrument then strategy."""
        table = position_snapshots
        last = (
            select(func.max(table.c.id).label("id"))
            .group_by(table.c.instrument, table.c.strategy)
            .subquery()
        )
        query = (
            select(table.c.snapshot)
            .join(last, table.c.id == last.c.id)
            .order_by(table.c.instrument, table.c.strategy)
        )
        return [_POSITION.decode(row.snapshot) for row in await self._rows(query)]

    async def accounts(
        self, limit: int = DEFAULT_LIMIT, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[AccountChanged]:
        """Account snapshots (the equity curve), newest first."""
        table = account_snapshots
        query = _recent(table, table.c.ts_event, limit, start_ns, end_ns)
        return [_ACCOUNT.decode(row.snapshot) for row in await self._rows(query)]

    # -- commands and audit -----------------------------------------------------------------

    async def commands(
        self, limit: int = DEFAULT_LIMIT, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[CommandEntry]:
        """Commands received, newest first, with their outcomes."""
        query = _recent(commands, commands.c.ts_event, limit, start_ns, end_ns)
        return [
            CommandEntry(
                command_id=row.command_id,
                kind=row.kind,
                who=row.who,
                body=msgspec.json.decode(row.body),
                ts_event=row.ts_event,
                outcome=row.outcome,
                ts_outcome=row.ts_outcome,
            )
            for row in await self._rows(query)
        ]

    async def audit_events(
        self,
        limit: int = DEFAULT_LIMIT,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        kind: str | None = None,
    ) -> list[AuditEntry]:
        """Audit entries, newest first; of one ``kind`` if given."""
        query = _recent(audit_events, audit_events.c.ts_event, limit, start_ns, end_ns)
        if kind is not None:
            query = query.where(audit_events.c.kind == kind)
        return [
            AuditEntry(
                kind=row.kind,
                message=row.message,
                detail=msgspec.json.decode(row.detail),
                ts_event=row.ts_event,
            )
            for row in await self._rows(query)
        ]

    async def _rows(self, query: Select[Any]) -> list[Any]:
        async with self.database.engine.connect() as conn:
            return list(await conn.execute(query))


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ValueError(f"limit must be an int >= 0, got {limit!r}")
    return limit


def _filtered(
    query: Select[Any],
    table: Table,
    ts: Column[int],
    start_ns: int | None,
    end_ns: int | None,
    *,
    instrument: str | None = None,
    strategy: str | None = None,
) -> Select[Any]:
    if start_ns is not None:
        query = query.where(ts >= start_ns)
    if end_ns is not None:
        query = query.where(ts < end_ns)
    if instrument is not None:
        query = query.where(table.c.instrument == instrument)
    if strategy is not None:
        query = query.where(table.c.strategy == strategy)
    return query


def _recent(
    table: Table,
    ts: Column[int],
    limit: int,
    start_ns: int | None,
    end_ns: int | None,
    *,
    instrument: str | None = None,
    strategy: str | None = None,
) -> Select[Any]:
    """Newest first: by time, then (rows of one instant) the later recorded first."""
    tie = table.c.id if "id" in table.c else table.primary_key.columns.values()[0]
    query = select(table).order_by(ts.desc(), tie.desc()).limit(_limit(limit))
    return _filtered(query, table, ts, start_ns, end_ns, instrument=instrument, strategy=strategy)


_IN_CHUNK = 500
"""Ids per ``IN (...)`` list: far below SQLite's bound on variables."""


def _chunks(keys: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), _IN_CHUNK):
        yield ordered[start : start + _IN_CHUNK]


@dataclass
class _BracketFacts:
    """What the router recorded about its brackets beyond their orders and fills."""

    released: set[str] = field(default_factory=set)
    """Entry ids of brackets released whole (a ``BracketReleased`` without ``exit``)."""
    released_exits: set[str] = field(default_factory=set)
    """Exits the user took over (a ``BracketReleased`` naming the exit)."""
    closed_elsewhere: dict[str, int] = field(default_factory=dict)
    """Per entry id, the units other orders closed (its last ``BracketReduced``)."""
    cancels_asked: set[str] = field(default_factory=set)
    """Orders the router asked to cancel (a ``CancelOrder`` recorded)."""


_FACT_KINDS = (BracketReleased.__name__, BracketReduced.__name__, CancelOrder.__name__)


async def _bracket_facts(conn: AsyncConnection, client_order_ids: set[str]) -> _BracketFacts:
    """The facts recorded under ``client_order_ids`` (brackets' entries and exits), in one
    pass over their events, in the order recorded."""
    facts = _BracketFacts()
    for chunk in _chunks(client_order_ids):
        query = (
            select(order_events.c.client_order_id, order_events.c.kind, order_events.c.event)
            .where(order_events.c.kind.in_(_FACT_KINDS), order_events.c.client_order_id.in_(chunk))
            .order_by(order_events.c.id)
        )
        for client_order_id, kind, event in await conn.execute(query):
            if kind == CancelOrder.__name__:
                facts.cancels_asked.add(str(client_order_id))
            elif kind == BracketReduced.__name__:
                reduced = _REDUCED.decode(event)
                facts.closed_elsewhere[str(client_order_id)] = reduced.closed_elsewhere
            elif (exit_id := _RELEASED.decode(event).exit) is None:
                facts.released.add(str(client_order_id))
            else:
                facts.released_exits.add(exit_id)
    return facts


async def _pending_closes(conn: AsyncConnection, since_ns: int) -> list[ClosePosition]:
    """``ClosePosition`` s recorded at or after ``since_ns`` none of whose orders went further
    (recorded as an order, or ended by the router before it was sent): closes the router
    took and had not sent yet, oldest first."""
    query = (
        select(order_events.c.client_order_id, order_events.c.event)
        .where(
            order_events.c.kind == ClosePosition.__name__,
            order_events.c.ts_event >= since_ns,
        )
        .order_by(order_events.c.id)
    )
    commands: dict[bytes, ClosePosition] = {}
    for _client_order_id, event in await conn.execute(query):
        commands.setdefault(bytes(event), _CLOSE.decode(event))
    ids = {order.client_order_id for command in commands.values() for order in command.orders}
    went_on: set[str] = set()
    for chunk in _chunks(ids):
        later = select(order_events.c.client_order_id).where(
            order_events.c.client_order_id.in_(chunk),
            order_events.c.kind != ClosePosition.__name__,
        )
        went_on.update(str(row[0]) for row in await conn.execute(later))
    return [
        command
        for command in commands.values()
        if not any(order.client_order_id in went_on for order in command.orders)
    ]


async def _brackets(
    conn: AsyncConnection, entry_ids: set[str], since_ns: int
) -> dict[str, SubmitBracket]:
    """``SubmitBracket`` records of ``entry_ids`` or recorded since ``since_ns``, by entry id,
    oldest first (the first record of an id wins: a repeated write-ahead adds none)."""
    rows: list[tuple[int, str, bytes]] = []
    bracket_kind = order_events.c.kind == SubmitBracket.__name__
    recent = select(order_events.c.id, order_events.c.client_order_id, order_events.c.event)
    rows.extend(await conn.execute(recent.where(bracket_kind, order_events.c.ts_event >= since_ns)))
    for chunk in _chunks(entry_ids):
        named = recent.where(bracket_kind, order_events.c.client_order_id.in_(chunk))
        rows.extend(await conn.execute(named))
    found: dict[str, SubmitBracket] = {}
    for _id, client_order_id, event in sorted(rows, key=lambda row: row[0]):
        if client_order_id not in found:
            found[client_order_id] = _BRACKET.decode(event)
    return found


async def _fills_of(conn: AsyncConnection, client_order_ids: set[str]) -> list[OrderFilled]:
    """The fills of these orders, in the order they happened (ties: as recorded)."""
    rows: list[tuple[int, int, bytes]] = []
    for chunk in _chunks(client_order_ids):
        query = select(fills.c.ts_event, fills.c.id, fills.c.fill).where(
            fills.c.client_order_id.in_(chunk)
        )
        rows.extend(await conn.execute(query))
    return [_FILL.decode(fill) for _ts, _id, fill in sorted(rows, key=lambda r: (r[0], r[1]))]


def _order(row: Any) -> JournaledOrder:
    return JournaledOrder(
        order=_ORDER.decode(row.command),
        status=OrderStatus(row.status),
        filled_qty=row.filled_qty,
        avg_price=None if row.avg_price is None else Decimal(row.avg_price),
        fees=Decimal(row.fees),
        venue_order_id=row.venue_order_id,
        reason=row.reason,
        ts_created=row.ts_created,
        ts_updated=row.ts_updated,
    )
