"""One netted position: an instrument held by the account (or attributed to one strategy).

Average-cost netting, long or short:

* a fill on the side of the position (or into a flat one) adds to it; the average price moves
  to the quantity-weighted average of the old average and the fill price;
* a fill against the position closes up to its size at the average price: realised P&L is
  ``closed units x (fill price - average)`` for a long and ``x (average - fill price)`` for a
  short; the average of what stays open does not move;
* what a fill has beyond the open size (it reverses the position) opens the other side at the
  fill price.

The cost basis is kept as an exact rational (``Fraction``): an average divides, and a Decimal
average would round, so realised P&L would drift from what the fills say. Fees are exact
``Decimal`` sums. "Today" figures reset at :meth:`Position.new_day`.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

_ZERO = Fraction(0)


class Position:
    """A position in ``instrument`` held by the account (``strategy`` ``None``) or attributed
    to ``strategy``. Quantities are signed units (> 0 long, < 0 short); money in the ledger's
    currency."""

    __slots__ = (
        "cost",
        "fees_today",
        "fees_total",
        "fills_today",
        "instrument",
        "quantity",
        "realized_today",
        "realized_total",
        "strategy",
    )

    def __init__(self, instrument: str, strategy: str | None = None) -> None:
        self.instrument = instrument
        self.strategy = strategy
        self.quantity = 0
        """Signed units held: > 0 long, < 0 short, 0 flat."""
        self.cost: Fraction = _ZERO
        """Signed cost basis of the open quantity, ``quantity x average price``: negative for
        a short (what selling it brought in). Exact."""
        self.realized_today: Fraction = _ZERO
        """Realised P&L before fees since the last :meth:`new_day`. Exact."""
        self.realized_total: Fraction = _ZERO
        """Realised P&L before fees since the position was made. Exact."""
        self.fees_today = Decimal(0)
        self.fees_total = Decimal(0)
        self.fills_today = 0

    @property
    def avg_price(self) -> Fraction:
        """Average entry price of the open quantity (> 0 for positive prices); 0 when flat."""
        if self.quantity == 0:
            return _ZERO
        return self.cost / self.quantity

    @property
    def realized_today_after_fees(self) -> Fraction:
        """Today's realised P&L less today's fees (the figure ``PositionChanged`` reports)."""
        return self.realized_today - Fraction(self.fees_today)

    @property
    def active_today(self) -> bool:
        """Open, or filled since the last :meth:`new_day` (its today figures say something)."""
        return self.quantity != 0 or self.fills_today > 0

    def apply(self, signed_qty: int, price: Decimal, fee: Decimal) -> Fraction:
        """Net a fill of ``signed_qty`` units (> 0 bought, < 0 sold) at ``price`` with ``fee``
        charged; return the realised P&L before fees it made (0 when it only opens or adds).

        Raises ``ValueError`` if ``signed_qty`` is 0.
        """
        if signed_qty == 0:
            raise ValueError(f"a fill of 0 units in {self.instrument} cannot be netted")
        exact_price = Fraction(price)
        held = self.quantity
        realized = _ZERO
        if held == 0 or (held > 0) == (signed_qty > 0):
            self.cost += signed_qty * exact_price
        else:
            closed = min(abs(signed_qty), abs(held))
            direction = 1 if held > 0 else -1
            avg = self.cost / held
            realized = closed * (exact_price - avg) * direction
            opened = abs(signed_qty) - closed
            if opened:
                # Reversed: the old side is gone and the rest opens at the fill price.
                self.cost = -direction * opened * exact_price
            else:
                # The average of what stays open does not move (0 when the close is whole).
                self.cost -= direction * closed * avg
        self.quantity = held + signed_qty
        self.realized_today += realized
        self.realized_total += realized
        self.fees_today += fee
        self.fees_total += fee
        self.fills_today += 1
        return realized

    def market_value(self, mark: Decimal) -> Decimal:
        """Signed ``quantity x mark``: what the open quantity is worth at ``mark`` (a short
        negative). Exact."""
        return self.quantity * mark

    def unrealized(self, mark: Decimal) -> Fraction:
        """P&L of the open quantity if it were closed at ``mark``, before fees. Exact."""
        if self.quantity == 0:
            return _ZERO
        return Fraction(self.quantity * mark) - self.cost

    def new_day(self) -> None:
        """Start a new trading day: today's realised P&L, fees and fill count go to 0; the open
        quantity and its average carry over."""
        self.realized_today = _ZERO
        self.fees_today = Decimal(0)
        self.fills_today = 0
