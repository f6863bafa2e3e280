"""Past bars for warm-up: the port a strategy host asks, and two implementations.

A host must not wait on a database in a handler, so the port answers through a callback: the
host asks for the ``count`` latest bars of an instrument and interval closed by ``before_ns``
and passes ``deliver``, which the port calls once with the bars, oldest first (an empty list if
there are none, or if the read failed: the failure is logged here, and the strategy warms up
on live bars instead). ``deliver`` may be called from another thread (the store's); the host
turns it into a message to itself.

* :class:`StoredHistory`: from the candle store (:class:`engine.store.CandleStore`), on the
  store's own loop.
* :class:`ListHistory`: from bars in memory (backtests, tests), delivered at once.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Protocol

import structlog

from engine.messages.market import Bar
from engine.store.candles import CandleStore
from engine.store.database import Database

log = structlog.get_logger(__name__)

Deliver = Callable[[list[Bar]], None]


class BarHistory(Protocol):
    def fetch(
        self, instrument: str, interval: str, count: int, before_ns: int, deliver: Deliver
    ) -> None:
        """Call ``deliver`` once with at most ``count`` bars of ``instrument`` and
        ``interval`` closed by ``before_ns`` (``ts_close <= before_ns``), oldest first."""
        ...


class StoredHistory:
    """Warm-up bars read from the candle store."""

    def __init__(self, database: Database, store: CandleStore | None = None) -> None:
        self.database = database
        self.store = store or CandleStore(database)

    def fetch(
        self, instrument: str, interval: str, count: int, before_ns: int, deliver: Deliver
    ) -> None:
        read = self.store.last_bars(instrument, interval, count, before_ns=before_ns)
        try:
            future = self.database.submit(read)
        except Exception as exc:  # the store is closed: no history, not a crash
            read.close()
            _failed(instrument, interval, exc)
            deliver([])
            return

        def done(finished: Future[list[Bar]]) -> None:
            try:
                bars = finished.result()
            except Exception as exc:
                _failed(instrument, interval, exc)
                bars = []
            deliver(bars)

        future.add_done_callback(done)


class ListHistory:
    """Warm-up bars from memory: every bar given, per instrument and interval."""

    def __init__(self, bars: Iterable[Bar]) -> None:
        self._bars: dict[tuple[str, str], list[Bar]] = {}
        for bar in sorted(bars, key=lambda b: (b.instrument, b.interval, b.ts_close)):
            self._bars.setdefault((bar.instrument, bar.interval), []).append(bar)

    def fetch(
        self, instrument: str, interval: str, count: int, before_ns: int, deliver: Deliver
    ) -> None:
        series = self._bars.get((instrument, interval), [])
        end = bisect.bisect_right(series, before_ns, key=lambda b: b.ts_close)
        deliver(series[max(0, end - count) : end] if count > 0 else [])


def _failed(instrument: str, interval: str, exc: BaseException) -> None:
    log.warning(
        "warm-up bars unavailable",
        instrument=instrument,
        interval=interval,
        error=f"{type(exc).__name__}: {exc}",
    )
