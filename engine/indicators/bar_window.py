"""The last bars of one instrument, as contiguous numpy arrays ready for TA-Lib.

A :class:`BarWindow` keeps the last ``capacity`` bars in a ring buffer with O(1) append, and
hands out each field oldest first as a *view*, never a copy: every value is written twice, at
slot ``i`` and at slot ``i + capacity`` of an array twice as long, so the last ``capacity``
values always sit side by side (``array[start : start + capacity]``) whichever slot is the
oldest. TA-Lib needs contiguous ``float64`` input; these views are.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from engine.messages.market import Bar

PRICE_FIELDS = ("open", "high", "low", "close", "volume", "vwap")
"""The float fields of a bar a window keeps (and an indicator may take as its source)."""
INT_FIELDS = ("trade_count", "ts_event", "ts_close", "session")
"""The integer fields: trades in the bar, bar start and end (ns since the epoch, UTC), and the
session key."""
FIELDS = PRICE_FIELDS + INT_FIELDS


class BarWindow:
    """The last ``capacity`` bars, oldest first.

    Each bar carries a *session key* (an ``int``, the same for every bar of one trading session
    and different between sessions) so that session indicators (session VWAP) know where a
    session begins. Keys must not decrease.
    """

    __slots__ = (
        "_capacity",
        "_columns",
        "_count",
        "_end",
        "_floats",
        "_ints",
        "_next",
        "_readable",
        "_size",
    )

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"bar window capacity {capacity} must be >= 1")
        self._capacity = capacity
        self._count = 0
        """Bars appended since creation (not capped)."""
        self._next = 0
        """The slot the next bar goes to, in ``[0, capacity)``."""
        self._size = 0
        """Bars held: ``min(count, capacity)``."""
        self._end = 0
        """One past the newest bar's slot in the doubled arrays. Before the first wrap the bars
        sit at slots ``[0, count)``; after it, the oldest is at the next slot to write and its
        successors follow contiguously through the twin half, up to ``next + capacity``."""
        # Two 2-D blocks (float fields, int fields), one row per field: a bar is two column
        # writes per half instead of one scalar write per field (the append runs per bar per
        # strategy). Each row is contiguous, so a row slice is what TA-Lib takes.
        self._floats = np.zeros((len(PRICE_FIELDS), 2 * capacity), dtype=np.float64)
        self._ints = np.zeros((len(INT_FIELDS), 2 * capacity), dtype=np.int64)
        self._columns = [*self._floats, *self._ints]
        # Read-only aliases of the same memory: slices of them are read-only views for free.
        self._readable: dict[str, np.ndarray] = {}
        for name, column in zip(FIELDS, self._columns, strict=True):
            alias = column.view()
            alias.flags.writeable = False
            self._readable[name] = alias

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def size(self) -> int:
        """Bars held now: ``min(appended, capacity)``."""
        return self._size

    @property
    def appended(self) -> int:
        """Bars appended since the window was made."""
        return self._count

    def __len__(self) -> int:
        return self.size

    def append(self, bar: Bar, session: int = 0) -> None:
        """Add ``bar`` (of session ``session``) as the newest; the oldest drops out when full."""
        self.append_values(
            open_=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            vwap=bar.vwap,
            trade_count=bar.trade_count,
            ts_event=bar.ts_event,
            ts_close=bar.ts_close,
            session=session,
        )

    def append_values(
        self,
        *,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        vwap: float,
        trade_count: int,
        ts_event: int,
        ts_close: int,
        session: int,
    ) -> None:
        """:meth:`append` from plain values (what a backtest over arrays has at hand)."""
        slot = self._next
        twin = slot + self._capacity
        prices = (open_, high, low, close, volume, vwap)
        counts = (trade_count, ts_event, ts_close, session)
        floats, ints = self._floats, self._ints
        floats[:, slot] = prices
        floats[:, twin] = prices
        ints[:, slot] = counts
        ints[:, twin] = counts
        self._next = slot + 1 if slot + 1 < self._capacity else 0
        self._count += 1
        if self._size < self._capacity:
            self._size += 1
            self._end = self._size
        else:
            self._end = self._next + self._capacity

    def view(self, field: str, last: int | None = None) -> np.ndarray:
        """Field ``field`` over the bars held (or only the newest ``last`` of them), oldest
        first: a read-only view into the buffer, valid until the next append.

        Raises ``KeyError`` naming the fields for an unknown one.
        """
        try:
            array = self._readable[field]
        except KeyError:
            raise KeyError(
                f"no bar field {field!r}; the window keeps: {', '.join(FIELDS)}"
            ) from None
        end = self._end
        length = self._size if last is None or last > self._size else last
        return array[end - length : end]

    def latest(self, field: str, ago: int = 0) -> float:
        """Field ``field`` of the newest bar (``ago=0``) or ``ago`` bars before it.

        Raises ``IndexError`` when fewer than ``ago + 1`` bars are held.
        """
        if not 0 <= ago < self._size:
            raise IndexError(f"{ago} bars ago is outside the {self._size} bars held")
        return float(self._readable[field][self._end - 1 - ago])

    def rows(self) -> Iterator[tuple[float, ...]]:
        """Every bar held, oldest first, as ``(open, high, low, close, volume, vwap,
        trade_count, ts_event, ts_close, session)`` (for rebuilding bars; not a hot path)."""
        columns = [self.view(name).tolist() for name in FIELDS]
        return zip(*columns, strict=True)
