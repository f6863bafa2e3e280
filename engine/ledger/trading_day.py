"""Which trading day a moment belongs to, for the ledger's "today" figures.

A day is the calendar date in a time zone, changing at local midnight: for the markets the
engine trades (NSE 09:15-15:30 IST, NYSE 09:30-16:00 ET) midnight in the exchange's zone, and
midnight UTC too, falls between sessions, so either puts every session in one day.
"""

from __future__ import annotations

from datetime import date, timedelta

from engine.timezones import at_local_time, exchange_date


class TradingDay:
    """Trading days in ``time_zone`` (an IANA name, ``"UTC"`` by default).

    Raises ``ValueError`` naming the zone if it is unknown.
    """

    def __init__(self, time_zone: str = "UTC") -> None:
        self.time_zone = time_zone
        exchange_date(0, time_zone)  # refuses an unknown zone here, not at the first fill
        # The last day asked about and its [start, end) in ns: a ledger asks about the same
        # day for every mark and fill, and a time-zone conversion each time is most of the cost.
        self._day: date | None = None
        self._start = self._end = 0

    def of(self, ts_ns: int) -> date:
        """The day ``ts_ns`` (ns since the epoch, UTC) belongs to."""
        if self._day is not None and self._start <= ts_ns < self._end:
            return self._day
        day = exchange_date(ts_ns, self.time_zone)
        if self._day is not None and day == self._day + _ONE:
            start = self._end  # the usual miss: the next day, which starts where this one ended
        else:
            start = self._midnight(day)
        self._day, self._start, self._end = day, start, self._midnight(day + _ONE)
        return day

    def next_start(self, ts_ns: int) -> int:
        """When the day after the one of ``ts_ns`` starts: the next local midnight, ns UTC."""
        self.of(ts_ns)
        return self._end

    def _midnight(self, day: date) -> int:
        try:
            return at_local_time(day, "00:00", self.time_zone)
        except ValueError:
            # A zone whose clocks skip midnight on a daylight-saving change (a few do):
            # that day starts at 01:00 instead.
            return at_local_time(day, "01:00", self.time_zone)


_ONE = timedelta(days=1)
