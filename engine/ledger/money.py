"""Money as the ledger reports it: the currency's minor unit and the one rounding rule.

The ledger keeps its figures exact: cash, fees and market values are sums of ``Decimal``
products (exact), and an average cost is an exact rational (:class:`fractions.Fraction`),
because averaging divides (1 unit at 100.00 and 2 at 100.05 average 100.0333...). A figure is
rounded only when it is reported, and always the same way:

* money (cash, fees, P&L, equity, market value) to the currency's minor unit (INR and USD:
  2 places, paise and cents), **half to even** (banker's rounding: no drift up or down over
  many roundings);
* an average price to :data:`AVG_PRICE_PLACES` places, half to even, with trailing zeros past
  the minor unit dropped (``100.025`` stays ``100.025``, ``100`` reads ``100.00``).

Each reported figure is rounded on its own from its exact value, so reported parts may miss
their reported sum by a minor unit (realised + unrealised against equity - start cash).
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

MINOR_UNIT_PLACES: dict[str, int] = {
    "INR": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "SGD": 2,
    "HKD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "JPY": 0,
}
"""Decimal places of each known currency's minor unit (ISO 4217)."""

AVG_PRICE_PLACES = 8
"""Places an average price is reported to: finer than any tick the engine trades on."""


def minor_unit_places(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (2 for ``"INR"``: paise).

    Raises ``ValueError`` naming the currency and the known ones if it is not in
    :data:`MINOR_UNIT_PLACES`.
    """
    try:
        return MINOR_UNIT_PLACES[currency]
    except KeyError:
        raise ValueError(
            f"unknown currency {currency!r}: the ledger knows "
            f"{', '.join(sorted(MINOR_UNIT_PLACES))}"
        ) from None


_EXACT = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.Inexact])
"""Room for 100 digits: every money figure fits, so quantizing and scaling stay exact (an
amount that did not fit would raise rather than lose digits)."""
_QUANTUM = {places: Decimal(1).scaleb(-places) for places in range(19)}


def round_to_places(amount: Decimal | Fraction | int, places: int) -> Decimal:
    """``amount`` rounded half to even to ``places`` decimal places, exactly; the result
    always has exactly ``places`` places, and a zero is never negative.

    A ``Decimal`` is quantized in a 100-digit context; a ``Fraction`` is rounded by integer
    arithmetic (no context can lose digits of a long numerator). This runs for every figure of
    every account the ledger publishes, so it avoids building a Fraction when it can.
    """
    if isinstance(amount, Decimal):
        quantum = _QUANTUM.get(places) or Decimal(1).scaleb(-places)
        # Rounding is expected here: only Inexact is trapped, and quantize signals Inexact
        # when it rounds; the quiet local context lets it round.
        rounded = amount.quantize(quantum, rounding=decimal.ROUND_HALF_EVEN, context=_ROUNDING)
    else:
        # round() on a Fraction rounds half to even, exactly.
        units = round(Fraction(amount) * 10**places)
        rounded = Decimal(units).scaleb(-places, context=_EXACT)
    return rounded if rounded else rounded.copy_abs()  # no "-0.00"


_ROUNDING = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_EVEN)


def round_price(price: Fraction | Decimal, min_places: int) -> Decimal:
    """An average price for a report: rounded half to even to :data:`AVG_PRICE_PLACES`, then
    trailing zeros dropped down to ``min_places`` places (the currency's minor unit)."""
    rounded = round_to_places(price, AVG_PRICE_PLACES)
    shortest = rounded.normalize()
    exponent = shortest.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite number: normalize() keeps it so
    if -exponent < min_places:
        return rounded.quantize(Decimal(1).scaleb(-min_places))
    return shortest
