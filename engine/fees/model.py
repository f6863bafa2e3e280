"""What a fee model is: the charges on one execution, as a contract note lists them.

A :class:`FeeModel` answers one question: what does the venue and the state charge for trading
``quantity`` units at ``price`` at time ``ts_ns``? The answer, :class:`Fees`, carries the total
and the line items behind it (``brokerage``, ``stt``, ...), each already rounded as a contract
note rounds it, so the total is exactly the sum of the lines and is exact to the minor unit of
the currency (2 places for INR and USD).

Rounding is half-up (``ROUND_HALF_UP``: 1.485 -> 1.49), the rule Indian contract notes and
most broker statements apply, never banker's rounding. A model that rounds a line differently
(STT to the rupee) says so in its docstring.

Fees are charged **per order**: the paper broker charges the fills of one order together
(:func:`fee_of_next_fill`), so a brokerage cap (₹20 per executed order) or a minimum per order
applies once, however many partial fills the order takes.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

import msgspec

from engine.messages.trading import OrderSide

__all__ = [
    "MINOR_UNIT",
    "NO_FEES",
    "FeeModel",
    "FeeRateError",
    "Fees",
    "fee_of_next_fill",
    "round_half_up",
]

MINOR_UNIT = Decimal("0.01")
"""The minor unit fees are rounded to: paise for INR, cents for USD."""

ZERO = Decimal("0.00")


class FeeRateError(ValueError):
    """No rate is known for the trade: an instrument on an exchange the rate table does not
    list, or a date before the table's first row. The message names the value and what the
    table has."""


class Fees(msgspec.Struct, frozen=True, kw_only=True):
    """The charges on one execution, in the instrument's currency.

    ``total`` is the sum of ``breakdown``'s values, rounded to :data:`MINOR_UNIT`;
    ``breakdown`` names each charge as the contract note does (``"brokerage"``, ``"stt"``,
    ``"exchange_txn"``, ``"sebi"``, ``"stamp_duty"``, ``"gst"``; ``"commission"`` for the
    simple models).
    """

    total: Decimal
    breakdown: dict[str, Decimal] = msgspec.field(default_factory=dict)

    @classmethod
    def of(cls, breakdown: dict[str, Decimal]) -> Fees:
        """Fees whose total is the sum of ``breakdown`` (each line already rounded)."""
        total = sum(breakdown.values(), ZERO)
        return cls(total=round_half_up(total), breakdown=dict(breakdown))

    def minus(self, earlier: Fees) -> Fees:
        """What is left to charge once ``earlier`` was charged: line by line, never below
        zero (a later fill never refunds an earlier one)."""
        lines = {
            name: max(amount - earlier.breakdown.get(name, ZERO), ZERO)
            for name, amount in self.breakdown.items()
        }
        return Fees.of(lines)


NO_FEES = Fees(total=ZERO)


class FeeModel(Protocol):
    """The charges on a trade. Implementations are immutable and thread-safe."""

    def fees(
        self,
        *,
        side: OrderSide,
        quantity: int,
        price: Decimal,
        instrument: str,
        ts_ns: int,
        turnover: Decimal | None = None,
    ) -> Fees:
        """The charges on trading ``quantity`` units (> 0) of ``instrument`` at ``price``
        (quote currency per unit) at ``ts_ns`` (ns since the epoch, UTC), on ``side``.

        ``turnover`` is the traded value when it is not ``quantity * price``: the fills of
        one order at several prices charged together (:func:`fee_of_next_fill`). Raises
        :class:`FeeRateError` when no rate applies to the trade.
        """
        ...


def round_half_up(amount: Decimal, unit: Decimal = MINOR_UNIT) -> Decimal:
    """``amount`` rounded to a multiple of ``unit`` (``0.01``: paise; ``1``: rupees), halves
    away from zero, written with the minor unit's two places (``13`` rupees is ``13.00``)."""
    rounded = amount.quantize(unit, rounding=ROUND_HALF_UP)
    return rounded.quantize(MINOR_UNIT) if unit > MINOR_UNIT else rounded


def fee_of_next_fill(
    model: FeeModel,
    *,
    side: OrderSide,
    instrument: str,
    ts_ns: int,
    filled_before: int,
    turnover_before: Decimal,
    last_qty: int,
    last_price: Decimal,
) -> tuple[Fees, Fees]:
    """The fee of one more fill of an order, charging the order as a whole.

    The order had filled ``filled_before`` units for ``turnover_before`` (sum of quantity x
    price); this fill adds ``last_qty`` at ``last_price``. Returns ``(this_fill, so_far)``:
    the charge for this fill is the charge on the whole execution so far minus the charge on
    the execution before it, so per-order caps and minimums apply once and the fills' fees sum
    to the fee of the whole order. ``ts_ns`` picks the rates (use the order's first fill time
    so that one order is charged at one set of rates).

    Raises :class:`FeeRateError` as the model does.
    """
    turnover = turnover_before + last_price * last_qty
    so_far = model.fees(
        side=side,
        quantity=filled_before + last_qty,
        price=last_price,
        instrument=instrument,
        ts_ns=ts_ns,
        turnover=turnover,
    )
    if filled_before == 0:
        return so_far, so_far
    before = model.fees(
        side=side,
        quantity=filled_before,
        price=last_price,
        instrument=instrument,
        ts_ns=ts_ns,
        turnover=turnover_before,
    )
    return so_far.minus(before), so_far
