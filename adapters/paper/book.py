"""The paper account: cash, net positions per instrument, and the buying power they leave.

Positions net long and short per instrument (a sell larger than the long turns it short).
Cash moves by the traded value and the fees of each fill: a buy pays ``qty x price + fee``, a
sell receives ``qty x price - fee``. Money is ``Decimal``; an average price is kept to 8
decimal places (as a venue reports it), realised P&L to the minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from engine.messages.trading import OrderSide, PositionReport

__all__ = ["PaperBook", "PaperPosition"]

_AVG_PLACES = Decimal("0.00000001")
_MINOR = Decimal("0.01")
_ZERO = Decimal(0)


@dataclass(slots=True)
class PaperPosition:
    """A net position: ``quantity`` signed (> 0 long, < 0 short)."""

    instrument: str
    quantity: int = 0
    avg_price: Decimal = _ZERO
    """Average entry price of the open quantity; 0 when flat."""
    realized_pnl: Decimal = _ZERO
    """Price P&L realised by reducing the position, before fees, to the minor unit."""
    ts_last: int = 0

    def apply(self, side: OrderSide, quantity: int, price: Decimal, ts_ns: int) -> None:
        """Net a fill of ``quantity`` units at ``price`` into the position."""
        signed = quantity if side is OrderSide.BUY else -quantity
        before = self.quantity
        after = before + signed
        if before == 0 or (before > 0) == (signed > 0):  # opening or adding
            total = abs(before) * self.avg_price + quantity * price
            self.avg_price = _average(total, abs(after))
        else:  # reducing, closing or flipping
            closed = min(abs(before), quantity)
            direction = 1 if before > 0 else -1
            pnl = (price - self.avg_price) * closed * direction
            self.realized_pnl = (self.realized_pnl + pnl).quantize(_MINOR, ROUND_HALF_EVEN)
            if after == 0:
                self.avg_price = _ZERO
            elif (after > 0) != (before > 0):  # flipped: the rest opened at this price
                self.avg_price = price
        self.quantity = after
        self.ts_last = ts_ns

    def report(self, now_ns: int) -> PositionReport:
        return PositionReport(
            ts_event=self.ts_last,
            ts_init=now_ns,
            instrument=self.instrument,
            quantity=self.quantity,
            avg_price=self.avg_price,
        )


@dataclass(slots=True)
class PaperBook:
    """Cash and positions; the marks (last prices) it values them at are not persisted."""

    cash: Decimal
    currency: str
    positions: dict[str, PaperPosition] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)

    def position(self, instrument: str) -> PaperPosition:
        found = self.positions.get(instrument)
        if found is None:
            found = self.positions[instrument] = PaperPosition(instrument)
        return found

    def apply_fill(
        self,
        instrument: str,
        side: OrderSide,
        quantity: int,
        price: Decimal,
        *,
        fee: Decimal,
        ts_ns: int,
    ) -> PaperPosition:
        """Move cash and the position by one fill; returns the position."""
        value = price * quantity
        self.cash += -value - fee if side is OrderSide.BUY else value - fee
        position = self.position(instrument)
        position.apply(side, quantity, price, ts_ns)
        return position

    def mark_of(self, instrument: str) -> Decimal | None:
        """The last price seen, else the position's average price, else ``None``."""
        mark = self.marks.get(instrument)
        if mark is None:
            position = self.positions.get(instrument)
            if position is not None and position.quantity:
                return position.avg_price
        return mark

    def equity(self) -> Decimal:
        """Cash plus the positions at their marks."""
        held = sum(
            (
                p.quantity * (self.mark_of(p.instrument) or p.avg_price)
                for p in self.positions.values()
                if p.quantity
            ),
            _ZERO,
        )
        return self.cash + held

    def gross_exposure(self) -> Decimal:
        """Sum of |quantity| x mark over the positions."""
        return sum(
            (
                abs(p.quantity) * (self.mark_of(p.instrument) or p.avg_price)
                for p in self.positions.values()
                if p.quantity
            ),
            _ZERO,
        )

    def buying_power(self, leverage: Decimal, reserved: Decimal) -> Decimal:
        """What new exposure may still be taken: equity x leverage, less the positions'
        gross exposure and what working orders hold (``reserved``)."""
        return self.equity() * leverage - self.gross_exposure() - reserved

    def exposure_increase(self, instrument: str, side: OrderSide, quantity: int) -> int:
        """The units of a ``quantity`` order on ``side`` that add to the exposure: a buy first
        covers a short, a sell first reduces a long."""
        held = self.position(instrument).quantity if instrument in self.positions else 0
        offsetting = max(0, -held) if side is OrderSide.BUY else max(0, held)
        return max(0, quantity - offsetting)


def _average(total: Decimal, quantity: int) -> Decimal:
    average = total / quantity
    rounded = average.quantize(_AVG_PLACES)
    return average if average == rounded else rounded
