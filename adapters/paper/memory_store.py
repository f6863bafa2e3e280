"""The paper book kept in memory: for backtests, where the run is the record.

A backtest reruns from its inputs, so nothing survives its process and writing the broker's
book to disk before every report (what :class:`adapters.paper.store.PaperStore` must do for a
paper session that may crash) only costs time: a transaction per fill, and per bar with an
order working. This store answers the same questions from what was written to it, so the
broker behaves the same; only the durability is gone, which is why the service never uses it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from adapters.paper.book import PaperPosition
from adapters.paper.orders import PaperOrder
from adapters.paper.store import BookChanges, StoredBook, fill_row
from engine.messages.trading import LiquiditySide, OrderFilled
from engine.orders.state import WORKING

__all__ = ["MemoryPaperStore"]


@dataclass
class _Account:
    cash: Decimal
    currency: str
    order_seq: int
    trade_seq: int


class MemoryPaperStore:
    """:class:`~adapters.paper.store.PaperStore`'s interface over dictionaries."""

    def __init__(self) -> None:
        self._account: _Account | None = None
        self._orders: dict[str, PaperOrder] = {}
        self._fills: list[OrderFilled] = []
        self._positions: dict[str, PaperPosition] = {}

    def load(self) -> StoredBook:
        """A new book, or the one written so far (copies: the broker changes its own)."""
        book = StoredBook()
        if self._account is not None:
            book.cash = self._account.cash
            book.currency = self._account.currency
            book.order_seq = self._account.order_seq
            book.trade_seq = self._account.trade_seq
        book.orders = [copy.copy(o) for o in sorted(self._orders.values(), key=lambda o: o.seq)]
        book.positions = self.positions()
        return book

    def write(self, changes: BookChanges) -> None:
        # Copies of the rows, as a database keeps what was written rather than the live object.
        if changes.account is not None:
            self._account = _Account(*changes.account)
        for key, order in changes.orders.items():
            self._orders[key] = copy.copy(order)
        self._fills.extend(changes.fills)
        for key, position in changes.positions.items():
            self._positions[key] = copy.copy(position)

    def open_orders(self) -> list[PaperOrder]:
        working = [o for o in self._orders.values() if o.status in WORKING]  # as PaperStore's
        return [copy.copy(o) for o in sorted(working, key=lambda o: o.seq)]

    def positions(self) -> list[PaperPosition]:
        return [copy.copy(self._positions[k]) for k in sorted(self._positions)]

    def fills(self) -> list[dict[str, Any]]:
        return [fill_row(f) for f in sorted(self._fills, key=lambda f: f.trade_id)]

    def order_fills(self, client_order_id: str) -> list[OrderFilled]:
        # As the database answers: the liquidity side is not kept, ts_init is the execution's.
        mine = [f for f in self._fills if f.client_order_id == client_order_id]
        return [
            msgspec.structs.replace(
                f, ts_init=f.ts_event, liquidity_side=LiquiditySide.NO_LIQUIDITY_SIDE
            )
            for f in sorted(mine, key=lambda f: f.trade_id)
        ]
