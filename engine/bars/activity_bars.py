"""Activity bars: bars that close on trading activity, not on time.

* :class:`TickBarBuilder`: a bar every ``trades`` trades; its interval label is ``"<N>t"``.
* :class:`VolumeBarBuilder`: a bar once ``volume`` units have traded; label ``"<V>v"``. A
  trade that crosses the threshold is **not split**: it goes whole into the bar it completes,
  which closes with a volume ``>=`` the threshold; the next bar starts with the next trade.
  So every trade is in exactly one bar and trade counts add up; one very large trade makes
  one large bar, not several.

A bar's ``ts_event`` is its first trade's time and ``ts_close`` its last trade's time plus
1 ns (the exclusive end, so ``[ts_event, ts_close)`` holds every trade in it). Trades count in
arrival order; there is no late trade here. The clock never closes an activity bar: a bar
still open at the end of the input is emitted by :meth:`flush` (or never, in the actor).
"""

from __future__ import annotations

from collections.abc import Callable

from engine.bars.time_bars import BarSink
from engine.messages.market import Bar


def volume_label(volume: float) -> str:
    """The interval label of volume bars: ``"5000v"``, ``"0.5v"``."""
    v = float(volume)
    return f"{int(v)}v" if v.is_integer() else f"{v!r}v"


class _ActivityBar:
    """The open bar's state and its emission; subclasses decide when it is complete."""

    __slots__ = (
        "_clock",
        "_close",
        "_count",
        "_emit",
        "_first_ns",
        "_high",
        "_last_ns",
        "_low",
        "_open",
        "_pv",
        "_volume",
        "bars_emitted",
        "instrument",
        "label",
    )

    def __init__(
        self, instrument: str, label: str, emit: BarSink, clock: Callable[[], int] | None
    ) -> None:
        self.instrument = instrument
        self.label = label
        self._emit = emit
        self._clock = clock
        self._first_ns = self._last_ns = 0
        self._open = self._high = self._low = self._close = 0.0
        self._volume = self._pv = 0.0
        self._count = 0
        self.bars_emitted = 0

    def _begin(self, ts_ns: int, price: float, size: float) -> None:
        self._first_ns = self._last_ns = ts_ns
        self._open = self._high = self._low = self._close = price
        self._volume = size
        self._pv = price * size
        self._count = 1

    def flush(self) -> None:
        """Emit the open bar now, however few trades it has (the end of the input)."""
        if not self._count:
            return
        volume = self._volume
        end = self._last_ns + 1
        self._count, count = 0, self._count
        self.bars_emitted += 1
        self._emit(
            Bar(
                ts_event=self._first_ns,
                ts_init=end if self._clock is None else self._clock(),
                instrument=self.instrument,
                interval=self.label,
                ts_close=end,
                open=self._open,
                high=self._high,
                low=self._low,
                close=self._close,
                volume=volume,
                trade_count=count,
                vwap=self._pv / volume if volume else self._close,
            )
        )

    def _add(self, ts_ns: int, price: float, size: float) -> None:
        """Fold one trade into the open bar (opening it on the first)."""
        if not self._count:
            self._begin(ts_ns, price, size)
        else:
            if price > self._high:
                self._high = price
            elif price < self._low:
                self._low = price
            self._close = price
            self._volume += size
            self._pv += price * size
            self._count += 1
            if ts_ns > self._last_ns:  # noqa: PLR1730 - max() is a call on the hot path
                self._last_ns = ts_ns


class TickBarBuilder(_ActivityBar):
    """A bar of one instrument every ``trades`` trades (``trades >= 1``)."""

    __slots__ = ("trades",)

    def __init__(
        self,
        instrument: str,
        trades: int,
        emit: BarSink,
        *,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if not isinstance(trades, int) or isinstance(trades, bool) or trades < 1:
            raise ValueError(f"tick bars need a whole number of trades >= 1, got {trades!r}")
        super().__init__(instrument, f"{trades}t", emit, clock)
        self.trades = trades

    def update(self, ts_ns: int, price: float, size: float) -> None:
        """Add one trade at ``ts_ns`` (ns, UTC) of ``size`` units at ``price``."""
        self._add(ts_ns, price, size)
        if self._count >= self.trades:
            self.flush()


class VolumeBarBuilder(_ActivityBar):
    """A bar of one instrument each time ``volume`` units (> 0) have traded."""

    __slots__ = ("threshold",)

    def __init__(
        self,
        instrument: str,
        volume: float,
        emit: BarSink,
        *,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if isinstance(volume, bool) or not isinstance(volume, int | float) or not volume > 0:
            raise ValueError(f"volume bars need a volume > 0, got {volume!r}")
        if volume == float("inf"):
            raise ValueError(f"volume bars need a finite volume, got {volume!r}")
        super().__init__(instrument, volume_label(volume), emit, clock)
        self.threshold = float(volume)

    def update(self, ts_ns: int, price: float, size: float) -> None:
        """Add one trade at ``ts_ns`` (ns, UTC) of ``size`` units at ``price``."""
        self._add(ts_ns, price, size)
        if self._volume >= self.threshold:
            self.flush()
