"""Replaying bars kept in the candle store behind the DataClient port.

The bars of the given instruments and interval whose start lies in ``[start_ns, end_ns)`` are
delivered as they were stored (the same :class:`~engine.messages.market.Bar`, ``ts_init``
included) through :meth:`~engine.data_client.FeedEvents.on_bars`, merged in time order across
instruments (by close, then by instrument), each once its ``ts_close`` is reached on the
replay's clock. The feed validates them and publishes them on ``bars:<instrument>``, so
strategies, the web hub and the candle recorder see them as live bars (the recorder writes
them back unchanged).

**Reading.** The store is read a page (``page_size`` bars) per instrument at a time, on the
store's own loop (:meth:`~engine.store.database.Database.submit`), one page ahead of the one
being played: the scheduler's callbacks only wait for a page that was asked for a page
earlier, which is normally there already (when playing as fast as possible, the replay goes at
the store's pace). At most two pages per instrument are in memory. A read that fails or does
not answer within ``timeout_s`` is a failed connection: the feed connects again after its
back-off, and the replay reads on from the last bar it delivered.

**Pacing** is that of every replay (:mod:`adapters.replay.pacing`): ``speed`` maps data time
onto the scheduler's clock, ``None`` plays as fast as possible. The replay's clock starts at
``start_ns`` (a bar starting there arrives one interval / ``speed`` after the connection), or
without ``start_ns`` at the first bar's close (it arrives at once).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from typing import ClassVar

from adapters.replay.csv_layout import interval_ns
from adapters.replay.errors import ReplayError
from adapters.replay.pacing import PacedReplay
from engine.data_client import Tick
from engine.messages.market import Bar
from engine.store.candle_replay import DEFAULT_PAGE_SIZE, StoredBars
from engine.store.candles import CandleStore


class StoreReplay(PacedReplay[Bar]):
    """Replays the stored ``interval`` bars of ``instruments`` from ``store`` (see the
    module's docstring).

    Raises ``ValueError`` for no instruments, an empty interval, ``end_ns <= start_ns``, a
    ``page_size`` < 1, a ``timeout_s`` that is not > 0, or bad pacing options (``speed``,
    ``batch_size``: :class:`~adapters.replay.pacing.PacedReplay`). Reads nothing until it is
    connected.
    """

    source_errors: ClassVar[tuple[type[Exception], ...]] = (Exception,)
    """Whatever a read raises (the driver's errors, a timeout, a closed store)."""

    def __init__(
        self,
        store: CandleStore,
        instruments: Sequence[str],
        interval: str,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        speed: float | None = 1.0,
        batch_size: int = 1000,
        page_size: int = DEFAULT_PAGE_SIZE,
        timeout_s: float = 30.0,
        name: str = "store-replay",
    ) -> None:
        problems = []
        if not instruments:
            problems.append("expected at least one instrument")
        if not interval:
            problems.append("expected an interval such as '1m'")
        if start_ns is not None and end_ns is not None and end_ns <= start_ns:
            problems.append(f"end_ns must be after start_ns, got [{start_ns}, {end_ns})")
        if not isinstance(page_size, int) or page_size < 1:
            problems.append(f"page_size must be an int >= 1, got {page_size!r}")
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            problems.append(f"timeout_s must be > 0, got {timeout_s!r}")
        if problems:
            raise ValueError("store replay: " + "; ".join(problems))
        super().__init__(
            kind="store replay",
            name=name,
            instruments=instruments,
            speed=speed,
            start_at_ns=start_ns,
            batch_size=batch_size,
        )
        self.store = store
        self.interval = interval
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.delivers_bars = True
        self._page_size = page_size
        self._timeout_s = timeout_s
        try:
            self._length: int | None = interval_ns(interval, "store replay")
        except ReplayError:
            self._length = None  # a tick or volume bar: no fixed length
        self._resume: dict[str, int] = {}
        """Instrument -> the start to read from again: just after its last bar played."""

    # -- the entries --------------------------------------------------------------------------

    def _open_stream(self) -> Iterator[Bar]:
        pages = [
            StoredBars(
                self.store,
                instrument,
                self.interval,
                start_ns=self._resume.get(instrument, self.start_ns),
                end_ns=self.end_ns,
                page_size=self._page_size,
                timeout_s=self._timeout_s,
            )
            for instrument in self.instruments
        ]
        # Ties on the close go to the instruments in sorted order (heapq.merge is stable).
        return heapq.merge(*pages, key=_close)

    def _data_ns(self, entry: Bar) -> int:
        return entry.ts_close

    def _instrument_of(self, entry: Bar) -> str:
        return entry.instrument

    def _message(self, entry: Bar, now_ns: int) -> Tick | Bar:
        return entry

    def _passed(self, entry: Bar) -> None:
        self._resume[entry.instrument] = entry.ts_event + 1

    def _interval_ns(self, instrument: str) -> int | None:
        return self._length if instrument in self.instruments else None

    def _failure(self, error: Exception) -> str:
        return f"store replay failed: {type(error).__name__}: {error}"


def _close(bar: Bar) -> int:
    return bar.ts_close
