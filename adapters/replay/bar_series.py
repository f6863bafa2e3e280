"""One instrument's bars held as columns: what a backtest keeps of its files.

A :class:`~engine.messages.market.Bar` object costs about 370 bytes; a hundred instruments of
ten thousand bars would hold 370 MB of them for the whole run. A :class:`BarSeries` keeps the
same values in numpy columns (56 bytes a bar) and makes each bar when it is asked for, as the
replay plays it. It reads like a sequence of bars: ``series[i]``, ``len``, iteration.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt

from engine.messages.market import Bar

__all__ = ["BarSeries"]


class BarSeries(Sequence[Bar]):
    """The bars of ``instrument``, one ``interval``, oldest first, as columns."""

    __slots__ = (
        "close",
        "high",
        "instrument",
        "interval",
        "low",
        "open",
        "ts_close",
        "ts_event",
        "volume",
    )

    def __init__(
        self,
        instrument: str,
        interval: str,
        ts_event: Sequence[int],
        ts_close: Sequence[int],
        ohlcv: tuple[
            Sequence[float], Sequence[float], Sequence[float], Sequence[float], Sequence[float]
        ],
    ) -> None:
        self.instrument = instrument
        self.interval = interval
        self.ts_event: npt.NDArray[np.int64] = np.asarray(ts_event, dtype=np.int64)
        self.ts_close: npt.NDArray[np.int64] = np.asarray(ts_close, dtype=np.int64)
        self.open, self.high, self.low, self.close, self.volume = (
            np.asarray(column, dtype=np.float64) for column in ohlcv
        )

    @classmethod
    def of_bars(cls, instrument: str, interval: str, bars: Iterable[Bar]) -> BarSeries:
        rows = list(bars)
        return cls(
            instrument,
            interval,
            [b.ts_event for b in rows],
            [b.ts_close for b in rows],
            (
                [b.open for b in rows],
                [b.high for b in rows],
                [b.low for b in rows],
                [b.close for b in rows],
                [b.volume for b in rows],
            ),
        )

    def __len__(self) -> int:
        return len(self.ts_event)

    @overload
    def __getitem__(self, index: int) -> Bar: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Bar]: ...
    def __getitem__(self, index: int | slice) -> Bar | Sequence[Bar]:
        if isinstance(index, slice):
            return [self._bar(i) for i in range(*index.indices(len(self)))]
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"bar {index} of {count}")
        return self._bar(index)

    def __iter__(self) -> Iterator[Bar]:
        for index in range(len(self)):
            yield self._bar(index)

    def _bar(self, i: int) -> Bar:
        high, low, close, volume = (
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
        )
        ts_close = int(self.ts_close[i])
        return Bar(
            ts_event=int(self.ts_event[i]),
            ts_init=ts_close,  # known at its close
            instrument=self.instrument,
            interval=self.interval,
            ts_close=ts_close,
            open=float(self.open[i]),
            high=high,
            low=low,
            close=close,
            volume=volume,
            trade_count=0,  # a CSV bar does not say
            # Not in a file: the typical price stands in, the close when nothing traded.
            vwap=(high + low + close) / 3 if volume else close,
        )
