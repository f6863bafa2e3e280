"""Round trips: fills grouped into trades, from flat to flat, per instrument.

A trade opens when a fill takes the instrument's position away from flat and closes when a
fill brings it back, whoever sent the closing order: the account's position is the truth (as
the ledger nets it), so a position a strategy opened and the risk supervisor's kill switch or
square-off closed is one trade, named after the strategy that opened it.

A fill that goes through flat (long 10, sell 15) closes the trade
with the part it needs and opens the next with the rest; its fee is shared in proportion to
the quantities, the closing share rounded (half even) to the fee's own decimal places and the
opening share the rest, so the two add up to the fee exactly.

Figures are exact: a closed trade's ``pnl`` is what its sells brought minus what its buys
cost (``Decimal``, no rounding), ``net_pnl`` that less its fees. Average prices are quotients,
to 28 significant digits. An open trade has no ``pnl``: what its exits realised so far
depends on a cost method, which is the ledger's business.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import Decimal

import msgspec

from engine.messages.trading import OrderFilled, OrderSide

_QUOTIENT = decimal.Context(prec=28)


class RoundTrip(msgspec.Struct, frozen=True, kw_only=True):
    """One trade, from the fill that opened it to the one that closed it."""

    instrument: str
    strategy: str
    side: OrderSide
    """``BUY`` for a long trade, ``SELL`` for a short one (the side of its entry)."""
    quantity: int
    """Units entered (the sum of its entry fills)."""
    entry_price: Decimal
    """Average price of the entry fills."""
    exit_quantity: int
    """Units exited so far; equals ``quantity`` once closed."""
    exit_price: Decimal | None
    """Average price of the exit fills; ``None`` before the first."""
    ts_open: int
    """``ts_event`` of the opening fill, ns since the epoch, UTC."""
    ts_close: int | None
    """``ts_event`` of the closing fill; ``None`` while open."""
    fees: Decimal
    pnl: Decimal | None
    """Sells minus buys, before fees; ``None`` while open."""
    net_pnl: Decimal | None
    """``pnl - fees``; ``None`` while open."""
    currency: str
    fills: int
    """How many fills made it (a fill through flat counts in both trades)."""
    correlation_id: str
    """The opening fill's correlation id (the signal behind the trade)."""

    @property
    def closed(self) -> bool:
        return self.ts_close is not None


class _Open:
    """A trade being built."""

    def __init__(self, fill: OrderFilled) -> None:
        self.fill = fill
        self.direction = 1 if fill.side is OrderSide.BUY else -1
        self.entry_qty = 0
        self.entry_notional = Decimal(0)
        self.exit_qty = 0
        self.exit_notional = Decimal(0)
        self.fees = Decimal(0)
        self.fills = 0

    @property
    def position(self) -> int:
        return self.direction * (self.entry_qty - self.exit_qty)

    def take(self, qty: int, price: Decimal, fee: Decimal, entering: bool) -> None:
        if entering:
            self.entry_qty += qty
            self.entry_notional += qty * price
        else:
            self.exit_qty += qty
            self.exit_notional += qty * price
        self.fees += fee
        self.fills += 1

    def trip(self, ts_close: int | None) -> RoundTrip:
        first = self.fill
        exit_price = (
            _QUOTIENT.divide(self.exit_notional, Decimal(self.exit_qty)) if self.exit_qty else None
        )
        pnl: Decimal | None = None
        if ts_close is not None:
            pnl = self.direction * (self.exit_notional - self.entry_notional)
        return RoundTrip(
            instrument=first.instrument,
            strategy=first.strategy,
            side=first.side,
            quantity=self.entry_qty,
            entry_price=_QUOTIENT.divide(self.entry_notional, Decimal(self.entry_qty)),
            exit_quantity=self.exit_qty,
            exit_price=exit_price,
            ts_open=first.ts_event,
            ts_close=ts_close,
            fees=self.fees,
            pnl=pnl,
            net_pnl=None if pnl is None else pnl - self.fees,
            currency=first.currency,
            fills=self.fills,
            correlation_id=first.correlation_id,
        )


def round_trips(fills: Iterable[OrderFilled]) -> list[RoundTrip]:
    """The trades made by ``fills`` (in the order they happened), closed and open, in the
    order they opened. Each instrument starts flat."""
    trips: list[tuple[int, RoundTrip]] = []
    building: dict[str, tuple[int, _Open]] = {}
    opened = 0  # trades opened so far: the tie-break between trades opened at one instant
    for fill in fills:
        key = fill.instrument
        qty, fee = fill.last_qty, fill.fee
        current = building.get(key)
        if current is not None and current[1].direction != _direction(fill):
            seq, trade = current
            closing = min(qty, abs(trade.position))
            share = fee if closing == qty else _share(fee, closing, qty)
            trade.take(closing, fill.last_price, share, entering=False)
            if trade.position != 0:
                continue
            trips.append((seq, trade.trip(fill.ts_event)))
            del building[key]
            qty, fee = qty - closing, fee - share
            if qty == 0:
                continue
            current = None
        if current is None:
            current = (opened, _Open(fill))
            opened += 1
            building[key] = current
        current[1].take(qty, fill.last_price, fee, entering=True)
    trips.extend((seq, trade.trip(None)) for seq, trade in building.values())
    trips.sort(key=lambda item: (item[1].ts_open, item[0]))
    return [trip for _, trip in trips]


def _share(fee: Decimal, part: int, whole: int) -> Decimal:
    places = Decimal(1).scaleb(min(0, int(fee.as_tuple().exponent)))
    return _QUOTIENT.divide(fee * part, Decimal(whole)).quantize(places, decimal.ROUND_HALF_EVEN)


def _direction(fill: OrderFilled) -> int:
    return 1 if fill.side is OrderSide.BUY else -1
