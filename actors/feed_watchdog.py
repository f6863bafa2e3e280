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

from collections.abc import Sequence

from actors.feed_streams import InstrumentStream
from engine.messages.feed import FeedResumed, FeedStalled


class StalenessWatch:
    """A feed's staleness state beyond each :class:`InstrumentStream`'s own flag. Times are
    the feed's clock, ns."""

    def __init__(self, feed: str, stale_factor: float) -> None:
        self.feed = feed
        self.stale_factor = stale_factor
        self.connection_stalled = False
        self.last_arrival_ns: int | None = None
        """When anything last arrived, good or bad; ``None`` before the first."""

    def check(
        self, open_streams: Sequence[InstrumentStream], now_ns: int, up_since_ns: int | None
    ) -> list[FeedStalled]:
        """The watchdog's beat: ``open_streams`` are the instruments whose market is open
        now; ``up_since_ns`` when the connection came up (``None``: it is down)."""
        if not open_streams or up_since_ns is None:
            return []
        factor = self.stale_factor
        stalls: list[FeedStalled] = []
        expected = min(stream.expected_ns for stream in open_streams)
        # The connection's silence counts from the first opening among the open markets.
        opened = min(stream.watch_from for stream in open_streams)
        last = up_since_ns if self.last_arrival_ns is None else self.last_arrival_ns
        since = max(last, up_since_ns, opened)
        if not self.connection_stalled and now_ns - since > factor * expected:
            self.connection_stalled = True
            stalls.append(
                self._stalled(None, self.last_arrival_ns, now_ns - since, expected, now_ns)
            )
        if self.connection_stalled:
            return stalls
        for stream in open_streams:
            silent = now_ns - max(stream.quiet_since(), up_since_ns)
            if not stream.stalled and silent > factor * stream.expected_ns:
                stream.stalled = True
                stalls.append(
                    self._stalled(
                        stream.instrument, stream.arrived_ns, silent, stream.expected_ns, now_ns
                    )
                )
        return stalls

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
