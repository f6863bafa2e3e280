"""Playing history on a scheduler's clock: what every replay client shares.

A :class:`PacedReplay` plays a stream of entries, oldest first, each known at a data time
(a trade's time, a bar's close); its subclass says where the entries come from and what
message each one becomes (:class:`~adapters.replay.replay.CsvReplay`,
:class:`~adapters.replay.store_replay.StoreReplay`).

**Pacing.** ``speed`` maps data time onto the scheduler's clock: 1.0 is real time, 60 plays a
minute of history per second; ``None`` plays as fast as possible, ``batch_size`` entries per
callback with the next callback asked for at once. The replay's clock starts at
``start_at_ns`` (an entry known then plays at once; one known an interval later, an interval
/ ``speed`` later), or at the first entry. The replay plays only while connected and
subscribed to something; otherwise it pauses and later resumes where it stopped, so nothing is
skipped for a late subscription. While playing, entries of unsubscribed instruments are passed
over. At the end of the data the replay falls silent (:attr:`PacedReplay.finished`); it does
not report a disconnection, which would only make the feed reconnect.

**Failures.** If the source cannot be read (one of the subclass's ``source_errors``), the
entries already taken are still delivered, then the replay reports a disconnection; the feed
connects again after its back-off and the replay opens its source afresh, resuming with the
first entry it had not played.

Reports are made outside the replay's lock, so under the threaded runtime a batch already on
its way when ``disconnect`` is called may still arrive.
"""

from __future__ import annotations

import abc
import math
import threading
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import ClassVar, Generic, TypeVar

from engine.data_client import DataClient, FeedEvents, Scheduler, Tick
from engine.messages.market import Bar

E = TypeVar("E")
"""One entry of a replay's stream (a CSV row, a stored bar)."""


class PacedReplay(DataClient, Generic[E]):
    """A replay's connection, subscriptions and pacing (see the module's docstring).

    Raises ``ValueError`` for a ``speed`` that is not > 0 and finite, or a ``batch_size``
    < 1, naming ``kind`` (``"replay"``, ``"store replay"``).
    """

    source_errors: ClassVar[tuple[type[Exception], ...]] = ()
    """Errors of the source that are a failed connection, not a bug."""

    def __init__(
        self,
        *,
        kind: str,
        name: str,
        instruments: Sequence[str],
        speed: float | None,
        start_at_ns: int | None,
        batch_size: int,
    ) -> None:
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise ValueError(
                f"{kind}: speed must be > 0 (or None: as fast as possible), got {speed}"
            )
        if batch_size < 1:
            raise ValueError(f"{kind}: batch_size must be >= 1, got {batch_size}")
        self.kind = kind
        self.name = name
        self.instruments = sorted(set(instruments))
        self.delivers_bars = False
        """Whether entries become bars: ``connect`` then refuses events without
        ``on_bars``."""
        self._speed = None if speed is None else Fraction(speed)
        self._real_time = self._speed == 1  # integer arithmetic then, no Fraction per entry
        self._start_at = start_at_ns
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._subscribed: set[str] = set()
        self._events: FeedEvents | None = None
        self._scheduler: Scheduler | None = None
        self._connected = False
        self._epoch = 0
        self._wake = 0
        self._stream: Iterator[E] | None = None
        self._next: E | None = None
        self._position_ns: int | None = None  # data time reached
        self._anchor: tuple[int, int] | None = None  # (data ns, scheduler ns) while playing
        self.finished = False
        """True once every entry has been replayed."""

    # -- what a subclass says -----------------------------------------------------------------

    @abc.abstractmethod
    def _open_stream(self) -> Iterator[E]:
        """The entries not passed yet (:meth:`_passed`), oldest by data time first. Called
        on the scheduler's thread, under the lock, when the replay (re)connects without a
        stream; may raise one of :attr:`source_errors`, as may the iterator."""

    @abc.abstractmethod
    def _data_ns(self, entry: E) -> int:
        """When ``entry`` becomes known, ns of data time (a bar's close)."""

    @abc.abstractmethod
    def _instrument_of(self, entry: E) -> str: ...

    @abc.abstractmethod
    def _message(self, entry: E, now_ns: int) -> Tick | Bar:
        """What ``entry`` is delivered as, at ``now_ns`` on the scheduler's clock."""

    def _passed(self, entry: E) -> None:
        """``entry`` is behind the replay: delivered, passed over (unsubscribed) or skipped
        (known before ``start_at_ns``)."""

    def _interval_ns(self, instrument: str) -> int | None:
        """How far apart ``instrument``'s entries are in data time, if known."""
        return None

    def _failure(self, error: Exception) -> str:
        """The reason reported for a failed source."""
        return f"{self.kind} failed: {error}"

    def _no_on_bars(self, events: FeedEvents) -> str:
        """Why ``connect`` refuses ``events``, which has no ``on_bars``."""
        return (
            f"{self.kind} {self.name!r}: it replays bars, but {type(events).__name__} has no "
            "on_bars(bars)"
        )

    # -- the DataClient port ------------------------------------------------------------------

    def connect(self, events: FeedEvents, scheduler: Scheduler) -> None:
        """Start (or resume) the replay. Raises ``TypeError`` if the replay delivers bars
        and ``events`` has no ``on_bars``."""
        if self.delivers_bars and not callable(getattr(events, "on_bars", None)):
            raise TypeError(self._no_on_bars(events))
        with self._lock:
            self._pause()
            self._epoch += 1
            self._wake += 1
            epoch = self._epoch
            self._connected = False
            self._events, self._scheduler = events, scheduler
        scheduler.call_at(scheduler.now_ns(), lambda: self._open(epoch))

    def subscribe(self, instruments: Sequence[str]) -> None:
        """Deliver these instruments' entries too (idempotent). Raises ``ValueError`` naming
        an instrument the replay does not hold."""
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
            self._events = None

    def expected_interval_ns(self, instrument: str) -> int | None:
        """The interval between an instrument's entries on the scheduler's clock (interval /
        speed); ``None`` if unknown (ticks, an unknown instrument) or as fast as possible."""
        length = self._interval_ns(instrument)
        if length is None or self._speed is None:
            return None
        return int(length / self._speed)

    # -- inside -------------------------------------------------------------------------------

    def _check_known(self, instruments: Sequence[str]) -> None:
        unknown = [i for i in instruments if i not in self.instruments]
        if unknown:
            raise ValueError(
                f"{self.kind} {self.name!r}: unknown instruments {unknown}; "
                f"it holds {self.instruments}"
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
            except self.source_errors as error:
                failure = self._failure(error)
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
        if self._stream is not None or self.finished:
            return
        self._stream = self._open_stream()
        self._advance()
        while self._next is not None and self._start_at is not None:
            if self._data_ns(self._next) >= self._start_at:
                break
            self._passed(self._next)
            self._advance()

    def _advance(self) -> None:
        assert self._stream is not None
        try:
            self._next = next(self._stream)
        except StopIteration:
            self._stream = self._next = None
            self.finished = True
        except Exception:
            self._stream = self._next = None  # the next connection opens the source again
            raise

    def _pause(self) -> None:
        # Remember how far the replay got on its own clock, to resume from there.
        if self._anchor is not None and self._speed is not None:
            data_ns, at_ns = self._anchor
            reached = data_ns + int((self._now() - at_ns) * self._speed)
            if self._next is not None:
                reached = min(reached, self._data_ns(self._next))
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
        if self._real_time:
            return anchor_at + data_ns - anchor_data
        return anchor_at + int((data_ns - anchor_data) / self._speed)

    def _schedule(self) -> None:
        self._wake += 1
        wake = self._wake
        if self._next is None or not self._subscribed or self._scheduler is None:
            return
        due = self._due(self._data_ns(self._next))
        self._scheduler.call_at(due, lambda: self._deliver(wake))

    def _deliver(self, wake: int) -> None:
        failure: str | None = None
        batch: list[Tick | Bar] = []
        with self._lock:
            events = self._events
            if wake != self._wake or events is None or not self._connected:
                return
            try:
                self._take(self._now(), batch)
            except self.source_errors as error:
                failure = self._failure(error)
                self._connected = False
                self._anchor = None  # resume at the last entry taken, not where the clock is
            else:
                self._schedule()
        _hand_over(batch, events)
        if failure is not None:
            events.on_disconnected(failure)

    def _take(self, now: int, batch: list[Tick | Bar]) -> None:
        taken = 0
        while self._next is not None and taken < self._batch_size:
            entry = self._next
            data_ns = self._data_ns(entry)
            if self._speed is not None and self._due(data_ns) > now:
                break
            if self._instrument_of(entry) in self._subscribed:
                batch.append(self._message(entry, now))
            self._passed(entry)
            taken += 1
            self._position_ns = data_ns
            self._advance()


def _hand_over(batch: list[Tick | Bar], events: FeedEvents) -> None:
    # Consecutive runs of one kind keep the order across on_ticks and on_bars.
    start = 0
    while start < len(batch):
        is_bar = isinstance(batch[start], Bar)
        end = start
        while end < len(batch) and isinstance(batch[end], Bar) == is_bar:
            end += 1
        run = batch[start:end]
        if is_bar:
            events.on_bars([b for b in run if isinstance(b, Bar)])
        else:
            events.on_ticks([t for t in run if not isinstance(t, Bar)])
        start = end
