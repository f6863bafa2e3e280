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


def round_to_places(amount: Decimal | Fraction | int, places: int) -> Decimal:
    """``amount`` rounded half to even to ``places`` decimal places, exactly.

    A ``Fraction`` is rounded by integer arithmetic (no intermediate ``Decimal`` context can
    lose digits of a long numerator); the result always has exactly ``places`` places.
    """
    # round() on a Fraction rounds half to even, exactly; building the Decimal from its digits
    # (not by scaleb) keeps every digit whatever the context's precision.
    units = round(Fraction(amount) * 10**places)
    digits = tuple(int(digit) for digit in str(abs(units)))
    return Decimal((1 if units < 0 else 0, digits, -places))


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
