"""Stored bars served back, oldest first, for a replay or a backtest.

Independent of any replay adapter: an adapter (or a test) iterates :func:`stored_bars` and
feeds what it yields. For several instruments, merge the iterators in time order::

    heapq.merge(*(stored_bars(store, i, "1m", t0, t1) for i in instruments),
                key=lambda bar: (bar.ts_close, bar.instrument))
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.messages.market import Bar
from engine.store.candles import CandleStore

DEFAULT_PAGE_SIZE = 10_000


def stored_bars(
    store: CandleStore,
    instrument: str,
    interval: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout_s: float = 30.0,
) -> Iterator[Bar]:
    """The stored bars of ``instrument`` and ``interval`` whose start lies in
    ``[start_ns, end_ns)`` (ns since the epoch, UTC; ``None``: unbounded), oldest first.

    Reads ``page_size`` bars at a time, so a year of minute bars is never in memory at once;
    each page waits on the store's loop (at most ``timeout_s`` seconds), so iterate from a
    thread of your own, never from an actor's handler or from the store's loop. Bars written
    while iterating are included if they start after the page being read. Raises
    ``ValueError`` at once if ``page_size < 1``.
    """
    if not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be an int >= 1, got {page_size!r}")
    return _pages(
        store,
        instrument,
        interval,
        start_ns=start_ns,
        end_ns=end_ns,
        page_size=page_size,
        timeout_s=timeout_s,
    )


def _pages(
    store: CandleStore,
    instrument: str,
    interval: str,
    *,
    start_ns: int | None,
    end_ns: int | None,
    page_size: int,
    timeout_s: float,
) -> Iterator[Bar]:
    cursor = start_ns
    while True:
        page = store.database.call(
            store.read_bars(instrument, interval, cursor, end_ns, page_size), timeout_s
        )
        yield from page
        if len(page) < page_size:
            return
        cursor = page[-1].ts_event + 1
