"""The synthetic market: a seeded, deterministic source of ticks behind the DataClient port.

Every instrument has its own :class:`~adapters.sim.price_path.PricePath`; the market merges
the subscribed ones in time order and hands them to its feed. Time comes only from the
:class:`~engine.data_client.Scheduler`:

* **paced** (the default): each tick is delivered when the scheduler's clock reaches its
  ``ts_event``. Under the threaded runtime that is the wall clock, at ``ticks_per_second``;
  under the simulated runtime the clock jumps from tick to tick, so it already runs as fast as
  the machine allows and gives the same ticks every run.
* **as fast as possible** (``as_fast_as_possible=True``): the market keeps its own clock,
  starting at the scheduler's time of the first ``connect``, and delivers ``batch_size`` ticks
  per callback, asking for the next callback at once (``call_at(now)``).

Failure injection for the feed's reconnect tests: :meth:`SimMarket.drop`,
``drop_after_ticks`` and ``refuse_connects``. A dropped market reports ``on_disconnected`` and
stays silent until ``connect`` is called again; the market moves on meanwhile (a paced market
resumes at the scheduler's time, with trade ids that show the gap; a fast one resumes where it
stopped). Subscriptions are kept across connections.

Reports are made outside the market's lock (a feed's ``on_ticks`` may wait for mailbox room,
and the feed may call ``subscribe`` meanwhile); so under the threaded runtime a batch already
on its way when ``disconnect`` is called from another thread may still arrive. Under the
simulated runtime nothing follows ``disconnect``.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence

from adapters.sim.price_path import PricePath, SimInstrument, generated_instruments
from adapters.sim.trading_hours import SessionCalendar, TradingHours
from engine.data_client import DataClient, FeedEvents, Scheduler, Tick

_NS_PER_S = 1_000_000_000


class SimMarket(DataClient):
    """A synthetic market for ``instruments`` (or that many generated ones).

    ``ticks_per_second`` is the whole market's mean rate (quotes and trades, subscribed or
    not) over a session, in market time; each instrument gets an equal share, shaped by
    ``hours`` (around the clock by default). ``trade_share`` of the ticks are trades, the rest
    quotes. ``until_ns`` ends the market (no tick after it). ``drop_after_ticks`` drops the
    connection once, after that many ticks have been delivered; ``refuse_connects`` makes that
    many ``connect`` calls fail with ``on_disconnected``.

    Raises ``ValueError`` naming the bad value for an empty or duplicated universe, a rate
    <= 0, a ``trade_share`` outside [0, 1] or a ``batch_size`` < 1.
    """

    def __init__(
        self,
        instruments: Sequence[SimInstrument] | int = 3,
        *,
        seed: int = 0,
        ticks_per_second: float = 10.0,
        as_fast_as_possible: bool = False,
        batch_size: int = 500,
        hours: TradingHours | None = None,
        trade_share: float = 0.5,
        until_ns: int | None = None,
        drop_after_ticks: int | None = None,
        refuse_connects: int = 0,
        name: str = "sim",
    ) -> None:
        universe = (
            generated_instruments(instruments, seed)
            if isinstance(instruments, int)
            else list(instruments)
        )
        ids = [i.id for i in universe]
        if not universe or len(set(ids)) != len(ids):
            raise ValueError(f"sim market: expected distinct instrument ids, got {ids}")
        if not ticks_per_second > 0:
            raise ValueError(f"sim market: ticks_per_second must be > 0, got {ticks_per_second}")
        if not 0.0 <= trade_share <= 1.0:
            raise ValueError(f"sim market: trade_share must be within [0, 1], got {trade_share}")
        if batch_size < 1:
            raise ValueError(f"sim market: batch_size must be >= 1, got {batch_size}")
        self.name = name
        self.instruments: dict[str, SimInstrument] = {i.id: i for i in universe}
        self._seed = seed
        self._rate = ticks_per_second / len(universe)
        self._fast = as_fast_as_possible
        self._batch_size = batch_size
        self._hours = hours if hours is not None else TradingHours()
        self._trade_share = trade_share
        self._until_ns = until_ns
        self._drop_after = drop_after_ticks
        self._refusals = refuse_connects
        self._lock = threading.Lock()
        self._paths: dict[str, PricePath] = {}
        self._subscribed: set[str] = set()
        self._queue: list[tuple[int, str]] = []  # (next_ns, id) of subscribed instruments
        self._horizon_ns: int | None = None  # every tick up to here has been handled
        self._events: FeedEvents | None = None
        self._connected = False  # on_connected has been reported for the current connection
        self._scheduler: Scheduler | None = None
        self._epoch = 0  # bumped by each connect / disconnect / drop
        self._wake = 0  # bumped by each delivery callback scheduled; stale ones see it
        self.ticks_delivered = 0
        """Ticks handed to ``on_ticks`` so far, over all connections."""

    # -- the DataClient port ------------------------------------------------------------------

    def connect(self, events: FeedEvents, scheduler: Scheduler) -> None:
        with self._lock:
            self._epoch += 1
            self._wake += 1
            epoch = self._epoch
            self._connected = False
            self._events, self._scheduler = events, scheduler
            refused = self._refusals > 0
            if refused:
                self._refusals -= 1
                self._events = None
        if refused:
            scheduler.call_at(
                scheduler.now_ns(),
                lambda: events.on_disconnected("connection refused (failure injection)"),
            )
            return
        scheduler.call_at(scheduler.now_ns(), lambda: self._open(epoch))

    def subscribe(self, instruments: Sequence[str]) -> None:
        """Deliver ticks for these instruments too (idempotent). Raises ``ValueError`` naming
        an instrument this market does not have."""
        self._check_known(instruments)
        with self._lock:
            added = sorted(set(instruments) - self._subscribed)
            self._subscribed.update(added)
            if added and self._connected:
                for instrument in added:
                    self._enqueue(instrument, self._catch_up_to())
                self._schedule_locked()

    def unsubscribe(self, instruments: Sequence[str]) -> None:
        """Stop delivering ticks for these instruments (idempotent). Raises ``ValueError``
        naming an instrument this market does not have."""
        self._check_known(instruments)
        with self._lock:
            self._subscribed.difference_update(instruments)
            self._queue = [entry for entry in self._queue if entry[1] in self._subscribed]
            heapq.heapify(self._queue)
            if self._connected:
                self._schedule_locked()

    def disconnect(self) -> None:
        with self._lock:
            self._epoch += 1
            self._wake += 1
            self._connected = False
            self._events = None

    def expected_interval_ns(self, instrument: str) -> int | None:
        """The mean gap between two ticks of ``instrument`` at the quietest time of a session
        (midday), in ns of market time; ``None`` for an instrument this market lacks."""
        if instrument not in self.instruments:
            return None
        return round(_NS_PER_S / (self._rate * SessionCalendar(self._hours).trough))

    # -- failure injection --------------------------------------------------------------------

    def drop(self, reason: str = "connection dropped (failure injection)") -> None:
        """Lose the connection now: ``on_disconnected(reason)`` follows, then silence until
        ``connect`` is called again. Does nothing while disconnected."""
        with self._lock:
            events = self._events if self._connected else None
            self._epoch += 1
            self._wake += 1
            self._connected = False
            self._events = None
        if events is not None:
            events.on_disconnected(reason)

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    # -- inside -------------------------------------------------------------------------------

    def _check_known(self, instruments: Sequence[str]) -> None:
        unknown = [i for i in instruments if i not in self.instruments]
        if unknown:
            raise ValueError(
                f"sim market {self.name!r}: unknown instruments {unknown}; "
                f"it has {sorted(self.instruments)}"
            )

    def _open(self, epoch: int) -> None:
        with self._lock:
            events = self._events
            if epoch != self._epoch or events is None:
                return
            if self._horizon_ns is None:
                self._start(self._now())
            target = self._catch_up_to()
            self._queue = []
            for instrument in sorted(self._subscribed):
                self._enqueue(instrument, target)
            self._connected = True
        events.on_connected()
        with self._lock:
            if epoch == self._epoch:
                self._schedule_locked()

    def _now(self) -> int:
        assert self._scheduler is not None
        return self._scheduler.now_ns()

    def _start(self, now: int) -> None:
        calendar = SessionCalendar(self._hours)
        self._paths = {
            i.id: PricePath(
                i,
                seed=self._seed,
                start_ns=now,
                rate=self._rate,
                trade_share=self._trade_share,
                calendar=calendar,
            )
            for i in self.instruments.values()
        }
        self._horizon_ns = now

    def _catch_up_to(self) -> int:
        # A paced market lives on the scheduler's clock: what happened while nobody watched is
        # gone. A fast one has its own clock, which stood still meanwhile.
        assert self._horizon_ns is not None
        return self._horizon_ns if self._fast else max(self._horizon_ns, self._now())

    def _enqueue(self, instrument: str, after_ns: int) -> None:
        path = self._paths[instrument]
        path.skip_until(after_ns)
        heapq.heappush(self._queue, (path.next_ns, instrument))

    def _schedule_locked(self) -> None:
        # Only the latest callback acts: a subscription change may need an earlier one.
        self._wake += 1
        wake = self._wake
        if not self._queue or self._scheduler is None:
            return
        due = self._queue[0][0]
        if self._until_ns is not None and due > self._until_ns:
            return
        self._scheduler.call_at(self._now() if self._fast else due, lambda: self._deliver(wake))

    def _deliver(self, wake: int) -> None:
        drop_reason = None
        with self._lock:
            events = self._events
            if wake != self._wake or events is None or not self._connected:
                return
            limit = self._batch_size
            if self._drop_after is not None:
                limit = max(0, min(limit, self._drop_after - self.ticks_delivered))
            batch = self._take(self._now(), limit)
            self.ticks_delivered += len(batch)
            if self._drop_after is not None and self.ticks_delivered >= self._drop_after:
                self._drop_after = None
                drop_reason = (
                    f"connection dropped after {self.ticks_delivered} ticks (failure injection)"
                )
            else:
                self._schedule_locked()
        if batch:
            events.on_ticks(batch)
        if drop_reason is not None:
            self.drop(drop_reason)

    def _take(self, now: int, limit: int) -> list[Tick]:
        queue = self._queue
        until = self._until_ns
        fast = self._fast
        batch: list[Tick] = []
        while queue and len(batch) < limit:
            ts, instrument = queue[0]
            if (not fast and ts > now) or (until is not None and ts > until):
                break
            path = self._paths[instrument]
            batch.append(path.advance(now))
            heapq.heapreplace(queue, (path.next_ns, instrument))
            self._horizon_ns = ts
        return batch
