"""Replaying history from CSV files behind the DataClient port.

The files are checked completely when the replay is built (every bad row is reported at once,
as a :class:`~adapters.replay.errors.ReplayError`), then read lazily as the replay plays,
merged in time order across files.

**How bars travel.** A replay of bars delivers real :class:`~engine.messages.market.Bar`
messages through :meth:`~engine.data_client.FeedEvents.on_bars`, each when its ``ts_close``
is reached; the feed validates them and publishes them on ``bars:<instrument>`` like the bars
the aggregator builds. ``connect`` refuses an events object without ``on_bars``. With
``bars_as="trades"`` each bar becomes four synthetic trades instead (open at the start, then
low and high, or high and low for a falling bar, a third and two thirds of the way in, close
just before the end; a quarter of the volume each), for the aggregator to build bars of its
own specs from.

**Pacing** (``speed``, ``start_at_ns``, ``batch_size``; pausing and resuming) is that of every
replay: :mod:`adapters.replay.pacing`. A bar is known at its close, a trade at its time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from typing import ClassVar, Literal

from adapters.replay.csv_layout import CsvSource, interval_ns
from adapters.replay.csv_rows import BarRow, Row, TickRow, check_csv, read_csv
from adapters.replay.errors import ReplayError
from adapters.replay.pacing import PacedReplay
from engine.data_client import FeedEvents, Tick
from engine.messages.market import Bar, TradeTick

# (data time ns, source index, row): data time is when the row becomes known (a bar's close).
_Entry = tuple[int, int, Row]

BarFeedEvents = FeedEvents
"""What a replay of bars reports to: :class:`~engine.data_client.FeedEvents`, which carries
``on_bars`` now (the name is kept for older imports)."""


class CsvReplay(PacedReplay[_Entry]):
    """Replays ``sources`` (see the module's docstring for bars, and
    :mod:`adapters.replay.pacing` for pacing).

    ``start_at_ns`` skips rows known before it and starts the replay's clock there (the
    default starts at the first row). Raises :class:`ReplayError` listing every problem in
    every file; ``ValueError`` for a ``speed`` that is not > 0 or a ``batch_size`` < 1.
    """

    source_errors: ClassVar[tuple[type[Exception], ...]] = (ReplayError,)

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
        super().__init__(
            kind="replay",
            name=name,
            instruments=[s.instrument for s in self.sources],
            speed=speed,
            start_at_ns=start_at_ns,
            batch_size=batch_size,
        )
        problems: list[str] = []
        self._intervals: dict[str, int] = {}
        has_bars = False
        for source in self.sources:
            try:
                summary = check_csv(source)
            except ReplayError as error:
                problems.extend(error.problems)
                continue
            if summary.interval is not None:
                has_bars = True
                length = interval_ns(summary.interval, source.path)
                self._intervals[source.instrument] = length
        if problems:
            raise ReplayError(problems)
        self._bars_as = bars_as
        self.delivers_bars = has_bars and bars_as == "bars"
        self._played = 0  # entries passed so far

    # -- the entries --------------------------------------------------------------------------

    def _open_stream(self) -> Iterator[_Entry]:
        merged = heapq.merge(
            *(self._entries(i, s) for i, s in enumerate(self.sources)),
            key=lambda entry: entry[0],
        )
        # The files are read again from the top after a failure: the same entries, in the
        # same order, so the ones already passed are skipped by count.
        return itertools.islice(merged, self._played, None)

    def _entries(self, index: int, source: CsvSource) -> Iterator[_Entry]:
        for row in read_csv(source):
            if isinstance(row, TickRow):
                yield row.ts_event, index, row
            elif self._bars_as == "bars":
                yield row.ts_close, index, row
            else:
                for trade in _bar_trades(row):
                    yield trade.ts_event, index, trade

    def _data_ns(self, entry: _Entry) -> int:
        return entry[0]

    def _passed(self, entry: _Entry) -> None:
        self._played += 1

    def _instrument_of(self, entry: _Entry) -> str:
        return self.sources[entry[1]].instrument

    def _message(self, entry: _Entry, now_ns: int) -> Tick | Bar:
        return _message(entry[2], self.sources[entry[1]].instrument, now_ns)

    def _interval_ns(self, instrument: str) -> int | None:
        return self._intervals.get(instrument)

    def _failure(self, error: Exception) -> str:
        return f"replay failed: {error}"

    def _no_on_bars(self, events: FeedEvents) -> str:
        return (
            f"replay {self.name!r}: the sources hold bars, but {type(events).__name__} has "
            "no on_bars(bars); give the feed one, or replay with bars_as='trades'"
        )


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
