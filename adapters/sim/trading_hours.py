"""When the synthetic market trades, and how busy it is at each moment of a session.

Real equity volume is U-shaped over the day: heavy at the open, thin at midday, heavy again
into the close. :class:`TradingHours` describes the session; :class:`SessionCalendar` turns it
into session windows in engine time (ns since the epoch, UTC) and into a relative intensity
whose mean over a session is 1, so that a rate given "per second" holds on average.
"""

from __future__ import annotations

from datetime import date, time, timedelta

import msgspec

from engine.timezones import at_local_time, exchange_date

_END_OF_DAY = "24:00"
_WEEKDAYS = 5


class TradingHours(msgspec.Struct, frozen=True, kw_only=True):
    """A daily session in an exchange's wall-clock time. The default trades around the clock:
    one 24-hour session a day (UTC midnight to midnight), weekends included.

    Example for the NSE cash market:
    ``TradingHours(open="09:15", close="15:30", tz="Asia/Kolkata", weekends=False)``.
    """

    open: str = "00:00"
    """Session open, ``"HH:MM"`` in ``tz``."""
    close: str = _END_OF_DAY
    """Session close (exclusive), ``"HH:MM"`` in ``tz`` and after ``open``; ``"24:00"`` is
    midnight at the end of the day."""
    tz: str = "UTC"
    """IANA time-zone name of the exchange."""
    weekends: bool = True
    """Whether Saturdays and Sundays have a session (no holiday calendar here)."""
    edge_to_midday: float = 4.0
    """How many times busier the market is at the open and at the close than at midday
    (1.0 is a flat profile)."""

    def __post_init__(self) -> None:
        open_at = _parse_time(self.open, "open")
        if self.close != _END_OF_DAY and _parse_time(self.close, "close") <= open_at:
            raise ValueError(
                f"trading hours: close {self.close!r} must be after open {self.open!r} "
                '(or "24:00" for midnight at the end of the day)'
            )
        if not self.edge_to_midday >= 1.0:
            raise ValueError(
                f"trading hours: edge_to_midday must be >= 1.0, got {self.edge_to_midday!r}"
            )
        exchange_date(0, self.tz)  # refuses an unknown zone now, not at the first tick


def _parse_time(text: str, key: str) -> time:
    try:
        wall = time.fromisoformat(text)
    except ValueError:
        raise ValueError(f'trading hours: {key} must be "HH:MM", got {text!r}') from None
    return wall


class SessionCalendar:
    """Session windows and the intraday intensity profile for some :class:`TradingHours`.

    Not thread-safe (it caches the last window); each user keeps its own.
    """

    def __init__(self, hours: TradingHours) -> None:
        self.hours = hours
        # U-shape over x in [0, 1] of the session: f(x) = (1 + k (2x - 1)^2) / (1 + k/3);
        # its mean over [0, 1] is 1, f(0) / f(1/2) = 1 + k.
        self._k = hours.edge_to_midday - 1.0
        self._norm = 1.0 + self._k / 3.0
        self.peak = (1.0 + self._k) / self._norm
        """The highest intensity, at the open and at the close."""
        self.trough = 1.0 / self._norm
        """The lowest intensity, at midday."""
        self._cached: tuple[int, tuple[int, int]] = (0, (0, 0))

    def window_at(self, ts_ns: int) -> tuple[int, int]:
        """``(open_ns, close_ns)`` of the session containing ``ts_ns``, or else of the next
        session after it; the close is exclusive."""
        valid_from, window = self._cached
        if valid_from <= ts_ns < window[1]:
            return window
        day = exchange_date(ts_ns, self.hours.tz)
        while True:
            found = self._session_on(day)
            if found is not None and ts_ns < found[1]:
                # Nothing trades between ts_ns and this window's open (it would have been
                # found first), so the answer holds for every time from ts_ns to the close.
                self._cached = (ts_ns, found)
                return found
            day += timedelta(days=1)

    def _session_on(self, day: date) -> tuple[int, int] | None:
        hours = self.hours
        if not hours.weekends and day.weekday() >= _WEEKDAYS:
            return None
        open_ns = at_local_time(day, hours.open, hours.tz)
        if hours.close == _END_OF_DAY:
            close_ns = at_local_time(day + timedelta(days=1), "00:00", hours.tz)
        else:
            close_ns = at_local_time(day, hours.close, hours.tz)
        return open_ns, close_ns

    def intensity(self, ts_ns: int, window: tuple[int, int]) -> float:
        """Relative trading intensity at ``ts_ns`` inside ``window`` (mean 1 over a session)."""
        open_ns, close_ns = window
        x = (ts_ns - open_ns) / (close_ns - open_ns)
        centred = 2.0 * x - 1.0
        return (1.0 + self._k * centred * centred) / self._norm
