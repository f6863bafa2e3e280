"""Position sizing: how many units an entry asks for.

=================  =====================================================================
method             quantity (before the caps and the lot)
=================  =====================================================================
``fixed_qty``      ``sizing_quantity``
``fixed_notional`` ``sizing_notional / price``
``percent_risk``   ``risk_per_trade_pct% x equity / |price - stop|``
``atr``            ``risk_per_trade_pct% x equity / (sizing_atr_multiple x ATR)``; the
                   stop, if the intent has none, is that distance from the price
=================  =====================================================================

Then capped so that one order is worth at most ``max_order_notional`` and is at most the
exchange's freeze quantity, and rounded **down** to a multiple of the lot size: sizing never
asks for more than the method allows. A quantity of 0 means the trade is too small to take
(the supervisor refuses it with ``zero_size``). Pure functions, exact ``Decimal`` arithmetic.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import NamedTuple

from engine.messages.risk import RiskCode
from engine.risk.limits import RiskLimits, decimal_of


class Size(NamedTuple):
    """A sizing answer: the units, the stop the risk is measured to, or why there is none."""

    quantity: int
    """Units, a multiple of the lot; 0 when ``problem`` is set or the trade is too small."""
    stop: Decimal | None
    """The stop used (the intent's, or the ATR stop); ``None`` when sizing needed none."""
    problem: str = ""
    """Why the trade cannot be sized (no stop for percent_risk, no ATR for atr); else ``""``."""
    code: RiskCode | None = None
    """The denial code for ``problem``: ``trade_risk`` for a missing or misplaced stop,
    ``zero_size`` for a missing ATR."""


def round_to_lot(quantity: int, lot_size: int) -> int:
    """``quantity`` rounded down to a multiple of ``lot_size`` (> 0); never negative."""
    return max(0, quantity - quantity % lot_size)


def _units(amount: Decimal, per_unit: Decimal) -> int:
    return int((amount / per_unit).to_integral_value(rounding=ROUND_FLOOR))


def size_entry(
    limits: RiskLimits,
    *,
    price: Decimal,
    stop: Decimal | None,
    atr: float | None,
    is_buy: bool,
    equity: Decimal,
    lot_size: int,
    freeze_quantity: int | None,
) -> Size:
    """The quantity of an entry at ``price`` (quote currency per unit, > 0) by
    ``limits.sizing``; ``stop`` is the intent's (may be ``None``), ``atr`` in price units.

    ``percent_risk`` needs a stop on the losing side of ``price``; ``atr`` needs an ATR > 0.
    Without them the answer is quantity 0 with the ``problem`` named. Never raises for a
    well-formed price.
    """
    method = limits.sizing
    if method == "fixed_qty":
        raw = limits.sizing_quantity
    elif method == "fixed_notional":
        raw = _units(decimal_of(limits.sizing_notional), price)
    else:
        budget = equity * decimal_of(limits.risk_per_trade_pct) / 100
        if method == "atr":
            if atr is None or not atr > 0:
                return Size(
                    0,
                    stop,
                    f"no ATR > 0 in the signal's features (got {atr!r})",
                    RiskCode.ZERO_SIZE,
                )
            distance = decimal_of(limits.sizing_atr_multiple) * decimal_of(float(atr))
            if stop is None:
                stop = price - distance if is_buy else price + distance
        else:
            if stop is None:
                return Size(0, None, "percent_risk sizing needs a stop", RiskCode.TRADE_RISK)
            distance = price - stop if is_buy else stop - price
            if distance <= 0:
                return Size(
                    0,
                    stop,
                    f"the stop {stop} is not on the losing side of the price {price}",
                    RiskCode.TRADE_RISK,
                )
        raw = _units(budget, distance) if budget > 0 else 0
    quantity = raw
    if limits.max_order_notional > 0:
        quantity = min(quantity, _units(decimal_of(limits.max_order_notional), price))
    if freeze_quantity is not None:
        quantity = min(quantity, freeze_quantity)
    return Size(round_to_lot(quantity, lot_size), stop)


def split_by_freeze(quantity: int, freeze_quantity: int | None, lot_size: int) -> list[int]:
    """``quantity`` as orders each at most the freeze quantity (rounded down to the lot), the
    largest first; one order when there is no freeze quantity. For closing a position."""
    if freeze_quantity is None or quantity <= freeze_quantity:
        return [quantity] if quantity > 0 else []
    piece = max(round_to_lot(freeze_quantity, lot_size), 1)
    pieces = [piece] * (quantity // piece)
    if quantity % piece:
        pieces.append(quantity % piece)
    return pieces
