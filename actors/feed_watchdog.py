"""The staleness watchdog: when a feed, or one of its instruments, has gone quiet, and when
it is back.

While an instrument's market is open, silence longer than ``stale_factor`` times its expected
interval is stale; the connection is stale when nothing at all (good or bad) arrived for that
long, measured against the shortest expected interval among the open instruments. Silence
counts from the latest of: the last arrival, the connection coming up, the subscription, the
market opening (so a market that just opened is not stale for yesterday's silence). A
disconnected feed raises nothing here (its ``FeedDisconnected`` said it), and a stale
connection is one alert, not one per instrument.

Each silence is reported once (``FeedStalled``); the first arrival after it is reported once
(``FeedResumed``). This class decides and returns the events; its feed announces them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from actors.feed_streams import InstrumentStream
from engine.messages.feed import FeedResumed, FeedStalled

_NEVER = 2**63
"""Later than any time: the deadline when no instrument is watched."""


class StalenessWatch:
    """A feed's staleness state beyond each :class:`InstrumentStream`'s own flag. Times are
    the feed's clock, ns."""

    def __init__(self, feed: str, stale_factor: float) -> None:
        self.feed = feed
        self.stale_factor = stale_factor
        self.connection_stalled = False
        self.last_arrival_ns: int | None = None
        """When anything last arrived, good or bad; ``None`` before the first."""
        self.due_ns = 0
        """No watched instrument can be stale before this time: a beat before it skips the
        walk over the instruments. Arrivals only push an instrument's deadline later; an
        instrument that starts being watched (:meth:`include`) may pull it earlier."""

    def beat(
        self,
        streams: Iterable[InstrumentStream],
        market_open: Callable[[str, int], object],
        now_ns: int,
        up_since_ns: int | None,
        on_hours_error: Callable[[Exception], None],
    ) -> list[FeedStalled]:
        """The watchdog's beat: asks ``market_open(instrument, now_ns)`` of every instrument
        (one that raises is passed to ``on_hours_error`` and taken as open: a broken
        calendar must not silence the watchdog), notes the markets that just opened, and
        returns the new silences. ``up_since_ns``: when the connection came up (``None``: it
        is down, and nothing is stale)."""
        open_streams: list[InstrumentStream] = []
        expected = opened = _NEVER
        for stream in streams:  # once per instrument per beat: kept to plain attribute work
            try:
                is_open = market_open(stream.instrument, now_ns)
            except Exception as exc:
                on_hours_error(exc)
                is_open = True
            if not is_open:
                stream.was_open = False
                continue
            if not stream.was_open:  # silence counts from the opening, not from yesterday
                stream.was_open = True
                stream.watch_from = now_ns
                self.include(stream, now_ns)
            open_streams.append(stream)
            # Comparisons, not min(): a call per instrument per beat shows in the benchmark.
            if stream.expected_ns < expected:  # noqa: PLR1730
                expected = stream.expected_ns
            if stream.watch_from < opened:  # noqa: PLR1730
                opened = stream.watch_from
        if not open_streams or up_since_ns is None:
            return []
        factor = self.stale_factor
        stalls: list[FeedStalled] = []
        # The connection's silence counts from the first opening among the open markets.
        last = up_since_ns if self.last_arrival_ns is None else self.last_arrival_ns
        since = max(last, up_since_ns, opened)
        if not self.connection_stalled and now_ns - since > factor * expected:
            self.connection_stalled = True
            stalls.append(
                self._stalled(None, self.last_arrival_ns, now_ns - since, expected, now_ns)
            )
        if self.connection_stalled or now_ns < self.due_ns:
            return stalls
        due: float = _NEVER
        for stream in open_streams:
            if stream.stalled:
                continue
            since = max(stream.quiet_since(), up_since_ns)
            allowed = factor * stream.expected_ns
            if now_ns - since > allowed:
                stream.stalled = True
                silent = now_ns - since
                stalls.append(
                    self._stalled(
                        stream.instrument, stream.arrived_ns, silent, stream.expected_ns, now_ns
                    )
                )
            elif since + allowed < due:
                due = since + allowed
        self.due_ns = int(due)
        return stalls

    def include(self, stream: InstrumentStream, now_ns: int) -> None:
        """``stream`` is watched from ``now_ns`` on (subscribed, its market opened, or it
        resumed): the next beat past its deadline must look at it."""
        deadline = now_ns + self.stale_factor * stream.expected_ns
        if deadline < self.due_ns:
            self.due_ns = int(deadline)

    def arrived(self, now_ns: int) -> FeedResumed | None:
        """Something arrived on the connection: the connection's resumption, if it was
        stale."""
        previous, self.last_arrival_ns = self.last_arrival_ns, now_ns
        if not self.connection_stalled:
            return None
        self.connection_stalled = False
        return self._resumed(None, now_ns - (previous if previous is not None else now_ns), now_ns)

    def stream_arrived(self, stream: InstrumentStream, now_ns: int) -> FeedResumed | None:
        """A good tick of ``stream`` arrived: its resumption, if it was stale. Records the
        arrival."""
        resumed = None
        if stream.stalled:
            stream.stalled = False
            resumed = self._resumed(stream.instrument, now_ns - stream.quiet_since(), now_ns)
            self.include(stream, now_ns)
        stream.arrived_ns = now_ns
        return resumed

    def _stalled(
        self, instrument: str | None, last: int | None, silent: int, expected: int, now: int
    ) -> FeedStalled:
        return FeedStalled(
            ts_event=now,
            ts_init=now,
            feed=self.feed,
            instrument=instrument,
            last_tick_ns=last,
            silent_for_ns=silent,
            expected_interval_ns=expected,
        )

    def _resumed(self, instrument: str | None, silent: int, now: int) -> FeedResumed:
        return FeedResumed(
            ts_event=now, ts_init=now, feed=self.feed, instrument=instrument, silent_for_ns=silent
        )
