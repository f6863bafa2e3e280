"""The simple fee models: none, a rate per unit, a percentage of the traded value.

Each takes an optional minimum and maximum per order, applied after the rate and before
rounding to the minor unit (half-up). The one line they report is ``"commission"``.

=====================================  =========================================
scenario                               fee
=====================================  =========================================
``ZeroFees``, any trade                0.00
``PerShareFees(0.005)``, 300 units     1.50 (0.005 x 300)
``PerShareFees(0.005, minimum=1)``     1.00 for 100 units (0.50 is below the minimum)
``PercentageFees(0.1)``, 10,000.00     10.00 (0.1 % of the traded value)
``PercentageFees(0.1, maximum=5)``     5.00 for 10,000.00 (10.00 is above the maximum)
=====================================  =========================================
"""

from __future__ import annotations

from decimal import Decimal

from engine.fees.model import NO_FEES, Fees, round_half_up
from engine.messages.trading import OrderSide

__all__ = ["PerShareFees", "PercentageFees", "ZeroFees"]

_HUNDRED = Decimal(100)


class ZeroFees:
    """No charges at all (a cost-free backtest, or a venue that charges nothing)."""

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
        return NO_FEES

    def __repr__(self) -> str:
        return "ZeroFees()"


class _ClampedCommission:
    """A commission clamped to ``[minimum, maximum]`` per order, then rounded."""

    def __init__(self, *, minimum: Decimal | None, maximum: Decimal | None) -> None:
        if minimum is not None and minimum < 0:
            raise ValueError(f"the minimum fee per order must be >= 0, got {minimum}")
        if maximum is not None and maximum < 0:
            raise ValueError(f"the maximum fee per order must be >= 0, got {maximum}")
        if minimum is not None and maximum is not None and minimum > maximum:
            raise ValueError(
                f"the minimum fee per order ({minimum}) is above the maximum ({maximum})"
            )
        self.minimum = minimum
        self.maximum = maximum

    def _clamped(self, amount: Decimal) -> Fees:
        if self.minimum is not None:
            amount = max(amount, self.minimum)
        if self.maximum is not None:
            amount = min(amount, self.maximum)
        return Fees.of({"commission": round_half_up(amount)})


class PerShareFees(_ClampedCommission):
    """``rate`` (currency per unit traded) x quantity, clamped per order.

    Raises ``ValueError`` naming the value for a negative rate, minimum or maximum, or a
    minimum above the maximum.
    """

    def __init__(
        self, rate: Decimal, *, minimum: Decimal | None = None, maximum: Decimal | None = None
    ) -> None:
        if rate < 0:
            raise ValueError(f"the fee per unit must be >= 0, got {rate}")
        super().__init__(minimum=minimum, maximum=maximum)
        self.rate = rate

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
        return self._clamped(self.rate * quantity)

    def __repr__(self) -> str:
        return f"PerShareFees({self.rate}, minimum={self.minimum}, maximum={self.maximum})"


class PercentageFees(_ClampedCommission):
    """``percent`` % of the traded value (``0.1`` is 0.1 %), clamped per order.

    Raises ``ValueError`` naming the value for a negative percentage, minimum or maximum, or a
    minimum above the maximum.
    """

    def __init__(
        self, percent: Decimal, *, minimum: Decimal | None = None, maximum: Decimal | None = None
    ) -> None:
        if percent < 0:
            raise ValueError(f"the fee percentage must be >= 0, got {percent}")
        super().__init__(minimum=minimum, maximum=maximum)
        self.percent = percent

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
        traded = price * quantity if turnover is None else turnover
        return self._clamped(traded * self.percent / _HUNDRED)

    def __repr__(self) -> str:
        return f"PercentageFees({self.percent}, minimum={self.minimum}, maximum={self.maximum})"
