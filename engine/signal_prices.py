"""Prices a strategy computes (floats) turned into the ``Decimal`` prices a signal carries,
on the instrument's tick when it is known (DESIGN §6: order prices are exact and on the
tick)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation


class SignalPrices:
    """Rounds to the nearest multiple of ``tick_size`` (half to even, with the tick's decimal
    places: ``100.03`` at ``0.05`` is ``100.05``); without a tick size, keeps the float's
    shortest repr (``Decimal(repr(x))``, so ``0.1`` is ``0.1``, not its binary expansion).

    Raises ``ValueError`` for a tick size that is not a number > 0.
    """

    __slots__ = ("tick",)

    def __init__(self, tick_size: float | None) -> None:
        self.tick: Decimal | None = None
        if tick_size is None:
            return
        try:
            tick = Decimal(repr(float(tick_size)))
        except (InvalidOperation, ValueError, TypeError):
            tick = Decimal(0)
        if not tick.is_finite() or tick <= 0:
            raise ValueError(f"tick size {tick_size!r} must be a number > 0")
        self.tick = tick

    def price(self, value: float | None, what: str) -> Decimal | None:
        """``value`` as a signal price (``None`` stays ``None``). Raises ``ValueError`` naming
        ``what`` (``"stop"``) if it is not a finite number."""
        if value is None:
            return None
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{what} price {value!r} is not finite")
        price = Decimal(repr(number))
        if self.tick is None:
            return price
        steps = (price / self.tick).to_integral_value(rounding=ROUND_HALF_EVEN)
        # quantize: 2E+3 steps of 0.05 would otherwise print as 1.00E+2, not 100.00.
        return (steps * self.tick).quantize(self.tick)
