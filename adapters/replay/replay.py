"""Replaying history from CSV files behind the DataClient port.

The files are checked completely when the replay is built (every bad row is reported at once,
as a :class:`~adapters.replay.errors.ReplayError`), then read lazily as the replay plays,
merged in time order across files.

**How bars travel.** :class:`~engine.data_client.FeedEvents` carries only ticks. A replay of
bars delivers real :class:`~engine.messages.market.Bar` messages through an optional
``on_bars(bars)`` method of the events object (:class:`BarFeedEvents`), each when its
``ts_close`` is reached; ``connect`` refuses an events object without it. With
``bars_as="trades"`` each bar becomes four synthetic trades instead (open at the start, then
low and high, or high and low for a falling bar, a third and two thirds of the way in, close
just before the end; a quarter of the volume each), for a feed that only knows ticks.

**Pacing.** ``speed`` maps data time onto the scheduler's clock: 1.0 is real time, 60 plays a
minute of history per second; ``None`` plays as fast as possible, ``batch_size`` rows per
callback with the next callback asked for at once. The replay plays only while connected and
subscribed to something; otherwise it pauses and later resumes where it stopped, so nothing is
skipped for a late subscription. While playing, rows of unsubscribed instruments are passed
over. At the end of the data the replay falls silent (:attr:`CsvReplay.finished`); it does not
report a disconnection, which would only make the feed reconnect.

As in the synthetic market, reports are made outside the replay's lock, so under the threaded
runtime a batch already on its way when ``disconnect`` is called may still arrive.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Literal, Protocol

from adapters.replay.csv_layout import CsvSource, interval_ns
from adapters.replay.csv_rows import BarRow, Row, TickRow, check_csv, read_csv
from adapters.replay.errors import ReplayError
from engine.data_client import DataClient, FeedEvents, Scheduler, Tick
from engine.messages.market import Bar, TradeTick

# (data time ns, source index, row): data time is when the row becomes known (a bar's close).
_Entry = tuple[int, int, Row]


class BarFeedEvents(FeedEvents, Protocol):
    """A feed that also takes bars (what this replay calls when it replays bars)."""

    def on_bars(self, bars: Sequence[Bar]) -> None:
        """Bars as they closed, oldest first; callable from any thread."""
        ...


class CsvReplay(DataClient):
    """Replays ``sources`` (see the module's docstring for pacing and bars).

    ``start_at_ns`` skips rows known before it and starts the replay's clock there (the
    default starts at the first row). Raises :class:`ReplayError` listing every problem in
    every file; ``ValueError`` for a ``speed`` that is not > 0 or a ``batch_size`` < 1.
    """

    def __init__(
        self,
        sources: CsvSource | Sequence[CsvSource],
        *,
        speed: float | None = 1.0,
        start_at_ns: int | None = None,
        bars_as: Literal["bars", "trades"] = "bars",
        batch_size: int = 1000,
        name: str = "replay",
    ) -> None:
        self.sources = [sources] if isinstance(sources, CsvSource) else list(sources)
        if not self.sources:
            raise ValueError("replay: expected at least one source")
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise ValueError(
                f"replay: speed must be > 0 (or None: as fast as possible), got {speed}"
            )
        if batch_size < 1:
            raise ValueError(f"replay: batch_size must be >= 1, got {batch_size}")
        problems: list[str] = []
        self._intervals: dict[str, int] = {}
        self._has_bars = False
        for source in self.sources:
            try:
                summary = check_csv(source)
            except ReplayError as error:
                problems.extend(error.problems)
                continue
            if summary.interval is not None:
                self._has_bars = True
                length = interval_ns(summary.interval, source.path)
                self._intervals[source.instrument] = length
        if problems:
            raise ReplayError(problems)
        self.name = name
        self._speed = None if speed is None else Fraction(speed)
        self._start_at = start_at_ns
        self._bars_as = bars_as
        self._batch_size = batch_size
        self.instruments = sorted({s.instrument for s in self.sources})
        self._lock = threading.Lock()
        self._subscribed: set[str] = set()
        self._events: FeedEvents | None = None
        self._on_bars: Callable[[Sequence[Bar]], None] | None = None
        self._scheduler: Scheduler | None = None
        self._connected = False
        self._epoch = 0
        self._wake = 0
        self._stream: Iterator[_Entry] | None = None
        self._next: _Entry | None = None
        self._position_ns: int | None = None  # data time reached
        self._anchor: tuple[int, int] | None = None  # (data ns, scheduler ns) while playing
        self.finished = False
        """True once every row has been replayed."""

    # -- the DataClient port ------------------------------------------------------------------

    def connect(self, events: FeedEvents, scheduler: Scheduler) -> None:
        """Start (or resume) the replay. Raises ``TypeError`` if the sources hold bars,
        ``bars_as`` is ``"bars"`` and ``events`` has no ``on_bars``."""
        on_bars = getattr(events, "on_bars", None)
        if self._has_bars and self._bars_as == "bars" and not callable(on_bars):
            raise TypeError(
                f"replay {self.name!r}: the sources hold bars, but {type(events).__name__} has "
                "no on_bars(bars); give the feed one, or replay with bars_as='trades'"
            )
        with self._lock:
            self._pause()
            self._epoch += 1
            self._wake += 1
            epoch = self._epoch
            self._connected = False
            self._events, self._on_bars, self._scheduler = events, on_bars, scheduler
        scheduler.call_at(scheduler.now_ns(), lambda: self._open(epoch))

    def subscribe(self, instruments: Sequence[str]) -> None:
        """Deliver these instruments' rows too (idempotent). Raises ``ValueError`` naming an
        instrument no source holds."""
        self._check_known(instruments)
        with self._lock:
            self._subscribed.update(instruments)
            if self._connected:
                self._schedule()

    def unsubscribe(self, instruments: Sequence[str]) -> None:
        self._check_known(instruments)
        with self._lock:
            self._subscribed.difference_update(instruments)
            if self._connected and not self._subscribed:
                self._pause()
                self._wake += 1

    def disconnect(self) -> None:
        with self._lock:
            self._pause()
            self._epoch += 1
            self._wake += 1
            self._connected = False
            self._events = self._on_bars = None

    def expected_interval_ns(self, instrument: str) -> int | None:
        """A bar source's interval on the scheduler's clock (interval / speed); ``None`` for
        ticks, an unknown instrument or a replay as fast as possible."""
        length = self._intervals.get(instrument)
        if length is None or self._speed is None:
            return None
        return int(length / self._speed)

    # -- inside -------------------------------------------------------------------------------

    def _check_known(self, instruments: Sequence[str]) -> None:
        unknown = [i for i in instruments if i not in self.instruments]
        if unknown:
            raise ValueError(
                f"replay {self.name!r}: unknown instruments {unknown}; "
                f"its sources hold {self.instruments}"
            )

    def _now(self) -> int:
        assert self._scheduler is not None
        return self._scheduler.now_ns()

    def _open(self, epoch: int) -> None:
        with self._lock:
            events = self._events
            if epoch != self._epoch or events is None:
                return
            failure: str | None = None
            try:
                self._start_stream()
            except ReplayError as error:
                failure = f"replay failed: {error}"
                self._stream = None  # the next connect tries the files again
            else:
                self._connected = True
        if failure is not None:
            events.on_disconnected(failure)
            return
        events.on_connected()
        with self._lock:
            if epoch == self._epoch:
                self._schedule()

    def _start_stream(self) -> None:
        if self._stream is not None:
            return
        self._stream = heapq.merge(
            *(self._entries(i, s) for i, s in enumerate(self.sources)),
            key=lambda entry: entry[0],
        )
        self._advance()
        while self._next is not None and self._start_at is not None:
            if self._next[0] >= self._start_at:
                break
            self._advance()

    def _entries(self, index: int, source: CsvSource) -> Iterator[_Entry]:
        for row in read_csv(source):
            if isinstance(row, TickRow):
                yield row.ts_event, index, row
            elif self._bars_as == "bars":
                yield row.ts_close, index, row
            else:
                for trade in _bar_trades(row):
                    yield trade.ts_event, index, trade

    def _advance(self) -> None:
        assert self._stream is not None
        try:
            self._next = next(self._stream)
        except ReplayError:
            self._next = None  # the file changed since it was checked; _deliver reports it
            raise
        except StopIteration:
            self._next = None
            self.finished = True

    def _pause(self) -> None:
        # Remember how far the replay got on its own clock, to resume from there.
        if self._anchor is not None and self._speed is not None:
            data_ns, at_ns = self._anchor
            reached = data_ns + int((self._now() - at_ns) * self._speed)
            if self._next is not None:
                reached = min(reached, self._next[0])
            self._position_ns = reached
        self._anchor = None

    def _due(self, data_ns: int) -> int:
        if self._speed is None:
            return self._now()
        if self._anchor is None:
            start = self._position_ns
            if start is None:
                start = data_ns if self._start_at is None else self._start_at
            self._anchor = (start, self._now())
        anchor_data, anchor_at = self._anchor
        return anchor_at + int((data_ns - anchor_data) / self._speed)

    def _schedule(self) -> None:
        self._wake += 1
        wake = self._wake
        if self._next is None or not self._subscribed or self._scheduler is None:
            return
        self._scheduler.call_at(self._due(self._next[0]), lambda: self._deliver(wake))

    def _deliver(self, wake: int) -> None:
        failure: str | None = None
        with self._lock:
            events, on_bars = self._events, self._on_bars
            if wake != self._wake or events is None or not self._connected:
                return
            try:
                batch = self._take(self._now())
            except ReplayError as error:
                failure = f"replay failed: {error}"
                batch = []
                self._connected = False
            else:
                self._schedule()
        _hand_over(batch, events, on_bars)
        if failure is not None:
            events.on_disconnected(failure)

    def _take(self, now: int) -> list[Tick | Bar]:
        batch: list[Tick | Bar] = []
        taken = 0
        while self._next is not None and taken < self._batch_size:
            data_ns, index, row = self._next
            if self._speed is not None and self._due(data_ns) > now:
                break
            instrument = self.sources[index].instrument
            if instrument in self._subscribed:
                batch.append(_message(row, instrument, now))
            taken += 1
            self._position_ns = data_ns
            self._advance()
        return batch


def _hand_over(
    batch: list[Tick | Bar],
    events: FeedEvents,
    on_bars: Callable[[Sequence[Bar]], None] | None,
) -> None:
    # Consecutive runs of one kind keep the order across on_ticks and on_bars.
    start = 0
    while start < len(batch):
        is_bar = isinstance(batch[start], Bar)
        end = start
        while end < len(batch) and isinstance(batch[end], Bar) == is_bar:
            end += 1
        run = batch[start:end]
        if is_bar:
            assert on_bars is not None
            on_bars([b for b in run if isinstance(b, Bar)])
        else:
            events.on_ticks([t for t in run if not isinstance(t, Bar)])
        start = end


def _message(row: Row, instrument: str, now: int) -> Tick | Bar:
    if isinstance(row, TickRow):
        return TradeTick(
            ts_event=row.ts_event,
            ts_init=now,
            instrument=instrument,
            price=row.price,
            size=row.size,
        )
    return Bar(
        ts_event=row.ts_event,
        ts_init=now,
        instrument=instrument,
        interval=row.interval,
        ts_close=row.ts_close,
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
        trade_count=0,  # a CSV bar does not say
        # Not in the file: the typical price stands in, the close when nothing traded.
        vwap=(row.high + row.low + row.close) / 3 if row.volume else row.close,
    )


def _bar_trades(bar: BarRow) -> list[TickRow]:
    length = bar.ts_close - bar.ts_event
    first, second = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
    size = bar.volume / 4
    times = (
        bar.ts_event,
        bar.ts_event + length // 3,
        bar.ts_event + 2 * length // 3,
        bar.ts_close - 1,
    )
    prices = (bar.open, first, second, bar.close)
    return [
        TickRow(line=bar.line, ts_event=ts, price=price, size=size)
        for ts, price in zip(times, prices, strict=True)
    ]
