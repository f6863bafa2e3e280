"""The equity curve: the account's value after each fill and each published mark.

Memory is bounded: the curve keeps the last ``capacity`` points (a ring); every point is also
handed, as it is made, to an optional sink, which is how a caller keeps the full series (the
journal, a backtest report).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from decimal import Decimal

import msgspec

DEFAULT_CAPACITY = 10_000
"""Points kept in memory: a day of one point a second is ~23,000 (a full NSE session 22,500)."""


class EquityPoint(msgspec.Struct, frozen=True, kw_only=True):
    """The account at one moment, money rounded to the minor unit (see
    :mod:`engine.ledger.money`)."""

    ts: int
    """When: the fill's ``ts_event``, or the latest mark's event time, ns since the epoch, UTC."""
    cash: Decimal
    positions_value: Decimal
    """Market value of the open positions: the sum of signed quantity x last price (a short
    counts negative)."""
    equity: Decimal
    """``cash + positions_value`` (exact before rounding, so it adds up to the minor unit
    whenever cash and value are exact there)."""


EquitySink = Callable[[EquityPoint], object]
"""Takes each point as it is made; must return at once (it runs inside the ledger)."""


class EquityCurve:
    """The last ``capacity`` :class:`EquityPoint`\\ s, oldest first, and a sink for all.

    Raises ``ValueError`` if ``capacity`` is not an int >= 1.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, sink: EquitySink | None = None) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"equity curve capacity must be an int >= 1, got {capacity!r}")
        self._points: deque[EquityPoint] = deque(maxlen=capacity)
        self._sink = sink
        self.recorded = 0
        """Points made since the curve was created (including those the ring has dropped)."""

    def add(self, point: EquityPoint) -> None:
        """Keep ``point`` (dropping the oldest one past capacity) and hand it to the sink.

        An exception from the sink propagates, after the point is kept.
        """
        self._points.append(point)
        self.recorded += 1
        if self._sink is not None:
            self._sink(point)

    def tail(self, count: int | None = None) -> list[EquityPoint]:
        """The last ``count`` points kept (all of them if ``None``), oldest first."""
        if count is None or count >= len(self._points):
            return list(self._points)
        if count <= 0:
            return []
        return list(self._points)[-count:]

    def __len__(self) -> int:
        return len(self._points)
