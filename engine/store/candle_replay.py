"""Stored bars served back, oldest first, for a replay or a backtest.

Independent of any replay adapter: an adapter (or a test) iterates :func:`stored_bars` and
feeds what it yields. For several instruments, merge the iterators in time order::

    heapq.merge(*(stored_bars(store, i, "1m", t0, t1) for i in instruments),
                key=lambda bar: (bar.ts_close, bar.instrument))
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future

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
    return StoredBars(
        store,
        instrument,
        interval,
        start_ns=start_ns,
        end_ns=end_ns,
        page_size=page_size,
        timeout_s=timeout_s,
    )


class StoredBars(Iterator[Bar]):
    """One instrument's stored bars, oldest first, read a page ahead on the store's loop.

    The first page is asked for when the iterator is made (so the pages of several
    instruments are read together); each page, when it is taken, asks for the next.
    """

    def __init__(
        self,
        store: CandleStore,
        instrument: str,
        interval: str,
        *,
        start_ns: int | None,
        end_ns: int | None,
        page_size: int,
        timeout_s: float,
    ) -> None:
        self._store = store
        self._instrument = instrument
        self._interval = interval
        self._end_ns = end_ns
        self._page_size = page_size
        self._timeout_s = timeout_s
        self._page: list[Bar] = []
        self._index = 0
        self._pending: Future[list[Bar]] | None = self._read(start_ns)

    def _read(self, start_ns: int | None) -> Future[list[Bar]]:
        read = self._store.read_bars(
            self._instrument, self._interval, start_ns, self._end_ns, self._page_size
        )
        return self._store.database.submit(read)

    def __next__(self) -> Bar:
        if self._index == len(self._page):
            pending = self._pending
            if pending is None:
                raise StopIteration
            try:
                page = pending.result(self._timeout_s)
            except TimeoutError:
                if pending.done():
                    raise  # the read itself timed out
                raise TimeoutError(
                    f"the store did not return the bars of {self._instrument} within "
                    f"{self._timeout_s}s"
                ) from None
            full = len(page) == self._page_size
            self._pending = self._read(page[-1].ts_event + 1) if full else None
            self._page, self._index = page, 0
            if not page:
                raise StopIteration
        bar = self._page[self._index]
        self._index += 1
        return bar
