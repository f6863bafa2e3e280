"""Time bars: OHLCV over ``[start, end)`` intervals, from trades or from shorter bars.

One :class:`TimeBarBuilder` holds the open bar of one instrument at one interval. It is pure
code (no clock, no actor): it is told the trades, and, through :meth:`close_until`, how far
time has gone. The same class serves the :mod:`actors.bar_aggregator` actor and the
``troupe trades-to-ohlcv`` command, so both give the same bars.

Scenario -> outcome:

* a trade inside the open interval: open/high/low/close, volume, trade count, VWAP updated;
* the first trade of a later interval: the open bar is emitted, a new one starts with it;
* ``close_until(t)`` with the open bar's ``end <= t`` (the clock passed it): it is emitted;
* a quiet interval, ``empty="skip"`` (default): no bar;
* a quiet interval, ``empty="flat"``: a bar at the last close (O=H=L=C=VWAP, volume 0,
  0 trades), emitted once the next trade or ``close_until`` shows the interval is over;
  never before the first real bar (there is no last close yet);
* a trade before the open interval, or before the end of the last emitted bar: late, counted
  in ``late_ticks``; ``late="drop"`` (default) ignores it; ``late="fold"`` folds it into the
  open bar's high, low, volume, trade count and VWAP, not its open or close (it is out of
  time order), and drops it when no bar is open;
* ``flush()``: the open bar, if any, is emitted whatever the time (the end of a file).

Within a bar, arrival order is time order: the first trade received is the open, the last
the close. VWAP is ``sum(price * size) / sum(size)``, the close when the volume is 0.

Bars from bars (:meth:`update_bar`): a ``5m`` builder fed with ``1m`` bars of the same
alignment gives the bars that ticks would have given at ``5m``: a source bar's open, high,
low, close, volume and trade count merge, its ``vwap * volume`` adds to the weighted sum, and
the higher bar is emitted as soon as a source bar reaching its end arrives (its interval is
then complete). A source bar with no trades (a flat bar) only tells the time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from engine.bars.alignment import Alignment, Origin
from engine.bars.interval import Interval, parse_interval
from engine.messages.market import Bar

BarSink = Callable[[Bar], None]
"""Where a builder hands each closed bar."""

EmptyPolicy = Literal["skip", "flat"]
"""What a time interval without trades gives: no bar, or a flat bar at the last close."""

LatePolicy = Literal["drop", "fold"]
"""What a trade older than the open interval does: nothing (counted), or fold into it."""

EMPTY_POLICIES: tuple[EmptyPolicy, ...] = ("skip", "flat")
LATE_POLICIES: tuple[LatePolicy, ...] = ("drop", "fold")


class TimeBarBuilder:
    """Time bars of one instrument at one interval.

    ``emit`` receives every closed bar, in time order. ``on_due(builder, end_ns)`` is called
    when the builder starts waiting for the interval ending at ``end_ns`` to be over (a bar
    opened, or with ``empty="flat"`` the next quiet interval): the caller's cue to call
    :meth:`close_until` once its clock is past ``end_ns``. ``clock`` gives each bar's
    ``ts_init`` (ns); without it ``ts_init`` is the bar's ``ts_close``.

    Raises ``ValueError`` for an unknown interval or policy.
    """

    __slots__ = (
        "_align",
        "_clock",
        "_close",
        "_count",
        "_due_end",
        "_emit",
        "_end",
        "_flat",
        "_fold",
        "_high",
        "_last_close",
        "_low",
        "_on_due",
        "_open",
        "_pv",
        "_start",
        "_volume",
        "bars_emitted",
        "floor_ns",
        "instrument",
        "interval",
        "late_ticks",
    )

    def __init__(
        self,
        instrument: str,
        interval: str | Interval,
        emit: BarSink,
        *,
        origin: Origin = 0,
        empty: EmptyPolicy = "skip",
        late: LatePolicy = "drop",
        on_due: Callable[[TimeBarBuilder, int], None] | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if empty not in EMPTY_POLICIES:
            raise ValueError(f"empty-interval policy {empty!r} is not one of {EMPTY_POLICIES}")
        if late not in LATE_POLICIES:
            raise ValueError(f"late-tick policy {late!r} is not one of {LATE_POLICIES}")
        self.instrument = instrument
        self.interval = parse_interval(interval)
        self._align = Alignment(self.interval.ns, origin)
        self._emit = emit
        self._flat = empty == "flat"
        self._fold = late == "fold"
        self._on_due = on_due
        self._clock = clock
        # The open bar. No bar is open when _count == 0; _start == _end then, so that the
        # hot path's range test fails for every timestamp.
        self._start = 0
        self._end = 0
        self._open = self._high = self._low = self._close = 0.0
        self._volume = 0.0
        self._pv = 0.0
        self._count = 0
        self._due_end: int | None = None
        self._last_close: float | None = None
        self.floor_ns: int | None = None
        """End of the last emitted bar, in ns (``None`` before the first): earlier is late."""
        self.late_ticks = 0
        """Trades (or source bars) that arrived after their interval was over."""
        self.bars_emitted = 0

    def update(self, ts_ns: int, price: float, size: float) -> None:
        """Add one trade at ``ts_ns`` (ns, UTC) of ``size`` units at ``price``."""
        if self._start <= ts_ns < self._end:
            if price > self._high:
                self._high = price
            elif price < self._low:
                self._low = price
            self._close = price
            self._volume += size
            self._pv += price * size
            self._count += 1
        elif self._enter(ts_ns):
            self._begin(price, size, price * size, 1)
        else:
            self._late(price, price, size, price * size, 1)

    def update_bar(self, bar: Bar) -> None:
        """Add a closed bar of a shorter interval on the same grid (a source bar)."""
        if bar.trade_count == 0 and bar.volume == 0:
            self.close_until(bar.ts_close)
            return
        if self._start <= bar.ts_event < self._end:
            self._high = max(self._high, bar.high)
            self._low = min(self._low, bar.low)
            self._close = bar.close
            self._volume += bar.volume
            self._pv += bar.vwap * bar.volume
            self._count += bar.trade_count
        elif self._enter(bar.ts_event):
            self._begin(bar.open, bar.volume, bar.vwap * bar.volume, bar.trade_count)
            self._high = bar.high
            self._low = bar.low
            self._close = bar.close
        else:
            self._late(bar.high, bar.low, bar.volume, bar.vwap * bar.volume, bar.trade_count)
            return
        if bar.ts_close >= self._end:
            self._close_open_bar()

    def close_until(self, watermark_ns: int) -> None:
        """Time has reached ``watermark_ns``: emit the open bar if its interval ends at or
        before it, and with ``empty="flat"`` a flat bar for every quiet interval that does.
        Trades older than the emitted intervals are late from now on."""
        if self._count and self._end <= watermark_ns:
            self._close_open_bar()
        if self._count or not self._flat or self.floor_ns is None:
            return
        self._wait_for(self._fill_flat(watermark_ns))

    def flush(self) -> None:
        """Emit the open bar now, whatever the time (the end of the input)."""
        if self._count:
            self._close_open_bar()

    @property
    def pending(self) -> bool:
        """True while a bar is open."""
        return self._count > 0

    # The slow path: entering a new interval, filling quiet ones, late trades.

    def _enter(self, ts_ns: int) -> bool:
        """Close what ``ts_ns`` shows is over and make the interval of ``ts_ns`` the open
        one; ``False`` (nothing changed) if ``ts_ns`` is late."""
        if self._count:
            if ts_ns < self._start:
                return False
            self._close_open_bar()
        elif self.floor_ns is not None and ts_ns < self.floor_ns:
            return False
        if self._flat and self.floor_ns is not None:
            self._fill_flat(ts_ns)
        start, end = self._align.bounds(ts_ns, self.floor_ns)
        self._start = start
        self._end = end
        self._wait_for(end)
        return True

    def _wait_for(self, end_ns: int) -> None:
        if end_ns != self._due_end:
            self._due_end = end_ns
            if self._on_due is not None:
                self._on_due(self, end_ns)

    def _fill_flat(self, until_ns: int) -> int:
        """Emit a flat bar, from the last bar's end on, for every interval that ends at or
        before ``until_ns``. Returns the end of the first interval not filled."""
        assert self.floor_ns is not None and self._last_close is not None
        price = self._last_close
        while True:
            start, end = self._align.bounds(self.floor_ns, self.floor_ns)
            if end > until_ns:
                return end
            self._emit_bar(start, end, price, price, price, price, 0.0, 0, price)

    def _begin(self, price: float, volume: float, pv: float, count: int) -> None:
        self._open = self._high = self._low = self._close = price
        self._volume = volume
        self._pv = pv
        self._count = count

    def _late(self, high: float, low: float, volume: float, pv: float, count: int) -> None:
        self.late_ticks += 1
        if self._fold and self._count:
            self._high = max(self._high, high)
            self._low = min(self._low, low)
            self._volume += volume
            self._pv += pv
            self._count += count

    def _close_open_bar(self) -> None:
        volume = self._volume
        vwap = self._pv / volume if volume else self._close
        count = self._count
        start = self._start
        # The builder is consistent before the bar leaves it: no bar open, floor at its end.
        self._count = 0
        self._start = self._end
        self._last_close = self._close
        bar = (self._open, self._high, self._low, self._close, volume, count, vwap)
        self._emit_bar(start, self._end, *bar)

    def _emit_bar(  # noqa: PLR0917 - the fields of a Bar, in its order
        self,
        start: int,
        end: int,
        o: float,
        h: float,
        low: float,
        c: float,
        volume: float,
        count: int,
        vwap: float,
    ) -> None:
        self.floor_ns = end
        self.bars_emitted += 1
        self._emit(
            Bar(
                ts_event=start,
                ts_init=end if self._clock is None else self._clock(),
                instrument=self.instrument,
                interval=self.interval.name,
                ts_close=end,
                open=o,
                high=h,
                low=low,
                close=c,
                volume=volume,
                trade_count=count,
                vwap=vwap,
            )
        )
