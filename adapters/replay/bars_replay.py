"""Replaying bars already in memory behind the DataClient port.

A backtest reads each file once, up front (it needs the first and last bar, and every problem
of every file before anything starts); this replay then plays those same bars, merged in time
order across instruments (by close, then by the order the instruments were given), each once
its ``ts_close`` is reached on the replay's clock. Pacing is that of every replay
(:mod:`adapters.replay.pacing`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

from adapters.replay.pacing import PacedReplay
from engine.data_client import Tick
from engine.messages.market import Bar

# (close ns, instrument index, bar): the merge key first.
_Entry = tuple[int, int, Bar]


class BarsReplay(PacedReplay[_Entry]):
    """Replays ``bars`` (each instrument's bars, oldest first, one interval each).

    Raises ``ValueError`` for no instruments, and for bad pacing options
    (:class:`~adapters.replay.pacing.PacedReplay`).
    """

    source_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(
        self,
        bars: Mapping[str, Sequence[Bar]],
        *,
        speed: float | None = 1.0,
        start_at_ns: int | None = None,
        batch_size: int = 1000,
        name: str = "bars-replay",
    ) -> None:
        if not bars:
            raise ValueError("bars replay: expected the bars of at least one instrument")
        self._bars = {instrument: list(series) for instrument, series in bars.items()}
        self._order = list(self._bars)
        super().__init__(
            kind="bars replay",
            name=name,
            instruments=self._order,
            speed=speed,
            start_at_ns=start_at_ns,
            batch_size=batch_size,
        )
        self.delivers_bars = True
        self._played = 0
        self._intervals = {
            instrument: series[0].ts_close - series[0].ts_event
            for instrument, series in self._bars.items()
            if series
        }

    def _open_stream(self) -> Iterator[_Entry]:
        merged = heapq.merge(
            *(
                ((bar.ts_close, index, bar) for bar in self._bars[instrument])
                for index, instrument in enumerate(self._order)
            ),
            key=lambda entry: (entry[0], entry[1]),
        )
        for skipped, entry in enumerate(merged):
            if skipped >= self._played:  # after a failure: resume where it stopped
                yield entry

    def _data_ns(self, entry: _Entry) -> int:
        return entry[0]

    def _passed(self, entry: _Entry) -> None:
        self._played += 1

    def _instrument_of(self, entry: _Entry) -> str:
        return entry[2].instrument

    def _message(self, entry: _Entry, now_ns: int) -> Tick | Bar:
        return entry[2]

    def _interval_ns(self, instrument: str) -> int | None:
        return self._intervals.get(instrument)
