"""What every market calendar answers: sessions, whether the market is open, when it opens,
closes and when to square off.

All instants are ``int`` nanoseconds since the Unix epoch, UTC (DESIGN §6); a ``date`` is the
exchange's own calendar date in its time zone. Nothing here reads the wall clock, so the same
answers hold live and in a backtest. A session is half-open: the market is open from
``open_ns`` inclusive to ``close_ns`` exclusive (at 15:30:00 IST the NSE is closed).
"""

from __future__ import annotations

import abc
from datetime import date, time, timedelta

import msgspec

from engine.timezones import at_local_time, exchange_date

_NS_PER_MINUTE = 60 * 1_000_000_000
# The longest run of closed days an exchange has had in modern times is well under a month;
# a year bounds the search for the next open even for a calendar that is mostly holidays.
_MAX_DAYS_AHEAD = 366
_MIDNIGHT = time(0, 0)
_ONE_DAY = timedelta(days=1)


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """One trading day of one market. Instants in ns since the epoch, UTC."""

    day: date
    """The exchange's calendar date of the session."""
    open_ns: int
    """Start of the normal market (continuous trading), inclusive."""
    close_ns: int
    """End of the normal market, exclusive."""
    pre_open_ns: int | None = None
    """Start of the pre-open call auction's order entry; ``None`` where none is modelled."""
    pre_open_end_ns: int | None = None
    """End of pre-open order entry, exclusive (NSE: 09:08 IST; matching follows)."""
    is_half_day: bool = False
    """The market closes early this day (NYSE: 13:00 ET)."""
    note: str = ""
    """Why the day is unusual, as the exchange names it ("Muhurat trading"); else empty."""


class CalendarRangeError(ValueError):
    """The calendar holds no holiday data for the date asked about.

    Raised rather than guessing that a weekday is a trading day: a missing year of holidays
    would otherwise send orders into a closed market.
    """


class MarketCalendar(abc.ABC):
    """The trading sessions of one market. Subclasses say which days trade and when
    (:meth:`session_for`); the questions built on that are answered here."""

    def __init__(self) -> None:
        # The last exchange day asked about: its bounds in UTC ns and its session.
        self._last_day: tuple[int, int, Session | None] = (0, 0, None)

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The registry name: ``"NSE"``, ``"NYSE"``, ``"NASDAQ"`` or ``"ALWAYS"``."""

    @property
    @abc.abstractmethod
    def time_zone(self) -> str:
        """The IANA time zone of the exchange's wall clock."""

    @abc.abstractmethod
    def covers(self, day: date) -> bool:
        """Whether the calendar has holiday data for ``day``."""

    @abc.abstractmethod
    def session_for(self, day: date) -> Session | None:
        """The session on ``day`` (the exchange's date), or ``None`` if the market does not
        trade that day (weekend or holiday).

        Raises :class:`CalendarRangeError` if the calendar has no data for ``day``.
        """

    @abc.abstractmethod
    def _square_off_wall(self, session: Session, wall: time) -> int:
        """The instant of the wall-clock square-off time ``wall`` on ``session``'s day."""

    def is_trading_day(self, day: date) -> bool:
        """Whether the market holds a session on ``day``.

        Raises :class:`CalendarRangeError` if the calendar has no data for ``day``.
        """
        return self.session_for(day) is not None

    def session_at(self, ts_ns: int) -> Session | None:
        """The session of the exchange's date at ``ts_ns``, open or not at that instant.

        Raises :class:`CalendarRangeError` if the calendar has no data for that date.
        """
        # Ticks arrive by the thousand within one exchange day: remembering the last day's
        # bounds in UTC skips the time-zone conversion, the costly part, for all but the first.
        # One tuple, replaced whole, so a reader on another thread sees a consistent day.
        start_ns, end_ns, session = self._last_day
        if start_ns <= ts_ns < end_ns:
            return session
        day = exchange_date(ts_ns, self.time_zone)
        session = self.session_for(day)
        try:
            bounds = (
                at_local_time(day, _MIDNIGHT, self.time_zone),
                at_local_time(day + _ONE_DAY, _MIDNIGHT, self.time_zone),
            )
        except ValueError:  # midnight skipped by daylight saving in this zone: do not cache
            return session
        self._last_day = (*bounds, session)
        return session

    def is_open(self, ts_ns: int) -> bool:
        """Whether the normal market is open at ``ts_ns`` (continuous trading; not pre-open).

        Raises :class:`CalendarRangeError` if the calendar has no data for that date.
        """
        session = self.session_at(ts_ns)
        return session is not None and session.open_ns <= ts_ns < session.close_ns

    def is_pre_open(self, ts_ns: int) -> bool:
        """Whether ``ts_ns`` falls in the pre-open order-entry window (NSE 09:00-09:08 IST).

        Raises :class:`CalendarRangeError` if the calendar has no data for that date.
        """
        session = self.session_at(ts_ns)
        if session is None or session.pre_open_ns is None or session.pre_open_end_ns is None:
            return False
        return session.pre_open_ns <= ts_ns < session.pre_open_end_ns

    def next_open(self, ts_ns: int) -> int:
        """The first normal-market open strictly after ``ts_ns``, in ns since the epoch UTC.

        While the market is open this is the next session's open, not the current one's
        (as ``exchange_calendars`` does); ask :meth:`is_open` first to know whether it is
        open now.

        Raises :class:`CalendarRangeError` if the search runs past the calendar's data.
        """
        day = exchange_date(ts_ns, self.time_zone)
        for offset in range(_MAX_DAYS_AHEAD):
            session = self.session_for(day + timedelta(days=offset))
            if session is not None and session.open_ns > ts_ns:
                return session.open_ns
        raise CalendarRangeError(
            f"the {self.name} calendar has no session within {_MAX_DAYS_AHEAD} days after {day}"
        )

    def session_close(self, ts_ns: int) -> int | None:
        """The close (ns since the epoch, UTC) of the session on the exchange's date at
        ``ts_ns``, whether ``ts_ns`` is before, inside or after it; ``None`` if the market
        does not trade that day.

        Raises :class:`CalendarRangeError` if the calendar has no data for that date.
        """
        session = self.session_at(ts_ns)
        return None if session is None else session.close_ns

    def square_off_at(
        self,
        day: date,
        *,
        minutes_before_close: int | None = None,
        local_time: str | time | None = None,
    ) -> int:
        """When intraday positions must be flat on ``day``, in ns since the epoch, UTC.

        Give exactly one of:

        * ``minutes_before_close``: that many minutes before the day's close (half days
          included);
        * ``local_time``: a wall-clock time such as ``"15:15"`` in the exchange's time zone.
          It is read as a distance before the regular close, so a day that closes early
          (a NYSE half day, a special session) squares off the same distance before its own
          close: ``"15:45"`` on a 13:00 NYSE half day is 12:45 ET.

        The answer is never before the session's open.

        Raises ``ValueError`` naming the value if ``day`` is not a trading day, neither or
        both options are given, the minutes are negative, or ``local_time`` is malformed or
        after the regular close; :class:`CalendarRangeError` if the calendar has no data for
        ``day``.
        """
        if (minutes_before_close is None) == (local_time is None):
            raise ValueError("give exactly one of minutes_before_close and local_time")
        session = self.session_for(day)
        if session is None:
            raise ValueError(f"{day} is not a trading day on the {self.name} calendar")
        if minutes_before_close is not None:
            if minutes_before_close < 0:
                raise ValueError(f"minutes_before_close must be >= 0, got {minutes_before_close}")
            at = session.close_ns - minutes_before_close * _NS_PER_MINUTE
        else:
            assert local_time is not None  # narrowed by the exactly-one check above
            at = self._square_off_wall(session, _wall_time(local_time))
        return max(session.open_ns, at)


def _wall_time(value: str | time) -> time:
    if isinstance(value, time):
        wall = value
    else:
        try:
            wall = time.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a time of day like '15:15'") from error
    if wall.tzinfo is not None:
        raise ValueError(f"{wall.isoformat()} carries a time zone; give the wall-clock time")
    return wall
