"""Exit arithmetic: how much each target takes, and where a percentage stop and a trailing
stop stand.

Pure functions and one small class, exact on ``Decimal`` (a fraction such as 0.29 is read
from its decimal text, so 0.29 of 100 units is 29, not the 28 a binary float would give).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction

__all__ = ["TrailingStop", "percent_stop", "round_to_tick", "target_allotments", "to_decimal"]


def to_decimal(value: float | Decimal) -> Decimal:
    """A price or fraction as the ``Decimal`` of its shortest decimal text (``0.1`` → 0.1)."""
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


def target_allotments(fractions: Sequence[Decimal], filled: int, lot_size: int = 1) -> list[int]:
    """Units each target takes of ``filled`` units: each its fraction, rounded down to whole
    lots; when the fractions add up to 1 the last target takes the rest, so the position is
    closed in full. With fractions adding up to less, the part no target takes stays with
    the protective stop (a "runner").

    Raises ``ValueError`` for a lot size below 1.
    """
    if lot_size < 1:
        raise ValueError(f"lot_size must be >= 1, got {lot_size}")
    allots = [int(fraction * filled) // lot_size * lot_size for fraction in fractions]
    if allots and sum(fractions, Decimal(0)) == 1:
        allots[-1] = filled - sum(allots[:-1])
    return allots


def round_to_tick(price: Decimal, tick: Decimal, *, down: bool) -> Decimal:
    """``price`` on the tick grid, rounded down (``down``) or up, in the tick's decimals."""
    steps = (price / tick).to_integral_value(rounding=ROUND_FLOOR if down else ROUND_CEILING)
    return (steps * tick).quantize(tick)


def percent_stop(
    average: Decimal | Fraction, pct: Decimal, tick: Decimal, *, long: bool
) -> Decimal:
    """The protective stop ``pct`` % from an entry's ``average`` fill price, on the tick and
    rounded away from the entry, so the loss to it is at least ``pct`` %: a long's
    ``floor_to_tick(average x (1 - pct/100))``, a short's
    ``ceil_to_tick(average x (1 + pct/100))``; in the tick's decimals.

    Exact: the product is taken as a fraction (pass the average as ``Fraction(notional) /
    quantity`` when it does not terminate) and rounded once. A long's stop is never below one
    tick (a stop at 0 protects nothing). Raises ``ValueError`` for ``pct`` outside (0, 100),
    a tick that is not > 0, or an average that is not > 0.
    """
    if not 0 < pct < 100:
        raise ValueError(f"a stop percentage must be in (0, 100), got {pct}")
    if not tick > 0:
        raise ValueError(f"a tick size must be > 0, got {tick}")
    if not average > 0:
        raise ValueError(f"an average fill price must be > 0, got {average}")
    factor = (100 - Fraction(pct)) if long else (100 + Fraction(pct))
    steps_exact = Fraction(average) * factor / (100 * Fraction(tick))
    steps = math.floor(steps_exact) if long else math.ceil(steps_exact)
    return (max(steps, 1) * tick).quantize(tick)


class TrailingStop:
    """A stop ``distance`` behind the best price seen since the entry, that only tightens.

    For a long position (``long``) the best price is the highest and the stop sits below it,
    rounded down to the tick (never closer than ``distance``); for a short one the lowest,
    the stop above, rounded up. ``floor`` is the plan's fixed stop, if any: the trailing stop
    starts no looser than it.
    """

    __slots__ = ("best", "distance", "floor", "long", "tick", "trigger")

    def __init__(
        self, *, long: bool, distance: Decimal, tick: Decimal, floor: Decimal | None = None
    ) -> None:
        if not distance > 0:
            raise ValueError(f"a trailing distance must be > 0, got {distance}")
        self.long = long
        self.distance = distance
        self.tick = tick
        self.floor = floor
        self.best: Decimal | None = None
        self.trigger: Decimal | None = None

    def start(self, reference: Decimal) -> Decimal:
        """Begin trailing from ``reference`` (the entry's average price); the first trigger."""
        self.best = reference
        candidate = self._behind(reference)
        if self.floor is not None:
            candidate = max(candidate, self.floor) if self.long else min(candidate, self.floor)
        self.trigger = candidate
        return candidate

    def observe(self, price: Decimal) -> Decimal | None:
        """A price traded (or was quoted): the new trigger if the stop tightens, else ``None``.
        Before :meth:`start` nothing happens."""
        best = self.best
        if best is None or self.trigger is None:
            return None
        if (price <= best) if self.long else (price >= best):
            return None
        self.best = price
        candidate = self._behind(price)
        if (candidate > self.trigger) if self.long else (candidate < self.trigger):
            self.trigger = candidate
            return candidate
        return None

    def adopt(self, trigger: Decimal) -> None:
        """Someone set the stop by hand: trail from there (tighter moves only)."""
        self.trigger = trigger

    def _behind(self, price: Decimal) -> Decimal:
        if self.long:
            return round_to_tick(price - self.distance, self.tick, down=True)
        return round_to_tick(price + self.distance, self.tick, down=False)
