"""The indicators one strategy declared for one instrument, computed after every bar and kept
as series aligned with the bar window."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.indicators.bar_window import BarWindow
from engine.indicators.spec import Calculator, Indicator


class IndicatorSet:
    """Computes each declared indicator after each bar appended to a :class:`BarWindow`.

    Values are read by name: ``"rsi"`` for a single-valued indicator, ``"macd.hist"`` for an
    output of a multi-output one. The value kept for a bar is the one computed when that bar
    was the newest, so ``value(name, ago=1)`` now is exactly what ``value(name)`` was a bar
    ago.
    """

    def __init__(self, specs: Mapping[str, Indicator], capacity: int | None = None) -> None:
        """``capacity``: bars of values kept, which must equal the window's; at least
        :attr:`required_capacity` (the default).

        Raises ``ValueError`` for a name with a dot (reserved for outputs), a spec that is
        not an :class:`Indicator`, or a capacity too small.
        """
        keys: list[str] = []
        calculators: list[tuple[Calculator, int]] = []
        for name, spec in specs.items():
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(
                    f"indicator name {name!r} must be a non-empty string without '.' "
                    "(a dot names an output: 'macd.hist')"
                )
            if not isinstance(spec, Indicator):
                raise ValueError(
                    f"indicator {name!r} is {spec!r}, not an Indicator "
                    "(use the factories in engine.indicators: sma(20), rsi(14), ...)"
                )
            calculators.append((spec.start(), len(keys)))
            keys.extend([name] if not spec.outputs else [f"{name}.{o}" for o in spec.outputs])
        self.specs: dict[str, Indicator] = dict(specs)
        self._calculators = calculators
        self._index = {key: i for i, key in enumerate(keys)}
        self._stateless = [(c, i) for c, i in calculators if not c.stateful]
        self._stateful = [(c, i) for c, i in calculators if c.stateful]
        self._stateless_rows = [
            slice(i, i + max(1, len(spec.outputs)))
            for (c, i), spec in zip(calculators, specs.values(), strict=True)
            if not c.stateful
        ]
        self.warmup: int = max((spec.span for spec in specs.values()), default=0)
        """Bars before every value is warm: the longest :attr:`Indicator.span` (0 when none
        is declared)."""
        self.required_capacity: int = max(self.warmup, 1)
        """Bars the window must keep for every indicator to read its span."""
        if capacity is None:
            capacity = self.required_capacity
        if capacity < self.required_capacity:
            raise ValueError(
                f"capacity {capacity} is below the {self.required_capacity} bars the "
                f"indicators read ({self._describe()})"
            )
        self.capacity = capacity
        self._count = 0
        self._values = np.full((len(keys), 2 * capacity), np.nan, dtype=np.float64)

    @property
    def names(self) -> tuple[str, ...]:
        """The names :meth:`value` accepts, in declaration order."""
        return tuple(self._index)

    def update(self, window: BarWindow, *, skip_stateless: bool = False) -> None:
        """Compute every indicator at the window's newest bar. Call once after each append.

        ``skip_stateless``: only advance the indicators that carry state from bar to bar and
        record NaN for the others (warm-up of bars old enough to leave the window before
        their values could be read).

        Raises ``ValueError`` if the window's capacity differs from this set's or a bar was
        appended without an update.
        """
        if window.capacity != self.capacity or window.appended != self._count + 1:
            raise ValueError(
                f"indicator set out of step with its window: capacity {self.capacity} vs "
                f"{window.capacity}, {self._count} updates for {window.appended} bars"
            )
        # Scalar writes into both halves of the doubled buffer: cheaper per bar than building
        # a row and copying it twice (this runs per bar per strategy).
        values = self._values
        slot = self._count % self.capacity
        twin = slot + self.capacity
        if skip_stateless:
            for rows in self._stateless_rows:
                values[rows, slot] = np.nan
                values[rows, twin] = np.nan
        else:
            for calculator, first in self._stateless:
                for offset, value in enumerate(calculator.update(window)):
                    values[first + offset, slot] = value
                    values[first + offset, twin] = value
        for calculator, first in self._stateful:
            for offset, value in enumerate(calculator.update(window)):
                values[first + offset, slot] = value
                values[first + offset, twin] = value
        self._count += 1

    def value(self, name: str, ago: int = 0) -> float:
        """``name``'s value at the newest bar (``ago=0``) or ``ago`` bars before; NaN where
        it has none (not warm, or older than the bars seen).

        Raises ``KeyError`` naming the declared names for an unknown one, ``IndexError`` for
        an ``ago`` outside ``[0, capacity)``.
        """
        row = self._row_of(name)
        if not 0 <= ago < self.capacity:
            raise IndexError(
                f"value({name!r}, ago={ago}): ago must be in [0, {self.capacity}), the bars kept"
            )
        if ago >= self._count:
            return float("nan")
        end = self._end()
        return float(self._values[row, end - 1 - ago])

    def values(self, name: str) -> np.ndarray:
        """``name``'s values over the bars kept, oldest first, aligned with the window's views
        (a read-only view, valid until the next update). Raises ``KeyError`` as
        :meth:`value`."""
        row = self._row_of(name)
        end = self._end()
        out = self._values[row, end - min(self._count, self.capacity) : end]
        out.flags.writeable = False
        return out

    def latest(self) -> dict[str, float]:
        """Every value at the newest bar, by name."""
        if self._count == 0:
            return dict.fromkeys(self._index, float("nan"))
        column = self._values[:, self._end() - 1]
        return {name: float(column[i]) for name, i in self._index.items()}

    def _end(self) -> int:
        # Same doubled-buffer arithmetic as BarWindow: the newest value's slot, plus one.
        if self._count >= self.capacity:
            return self._count % self.capacity + self.capacity
        return self._count

    def _row_of(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            declared = ", ".join(self._index) or "none"
            raise KeyError(f"no indicator {name!r}; declared: {declared}") from None

    def _describe(self) -> str:
        return ", ".join(f"{name}={spec.label} ({spec.span})" for name, spec in self.specs.items())
