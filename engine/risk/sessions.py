"""When a market takes entries and when its positions are squared off, from its calendar.

Pure functions over :class:`~engine.calendars.MarketCalendar` and instants in ns since the
epoch, UTC. A calendar without data for a date (:class:`~engine.calendars.CalendarRangeError`)
answers "closed" and "no square-off": the engine refuses to guess that a day trades.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time, timedelta

from engine.calendars import CalendarRangeError, MarketCalendar, calendar
from engine.config.errors import ConfigError
from engine.risk.limits import RiskLimits
from engine.timezones import exchange_date

_DAYS_AHEAD = 15
"""How far the next square-off is searched for: past the longest run of closed days."""


def market_status(calendar: MarketCalendar, now_ns: int) -> tuple[bool, str]:
    """Whether the normal market is open at ``now_ns``, and why not when it is not."""
    try:
        if calendar.is_open(now_ns):
            return True, ""
        session = calendar.session_at(now_ns)
    except CalendarRangeError as error:
        return False, str(error)
    if session is None:
        return False, "not a trading day"
    return False, "outside the session"


def cutoff_at(calendar: MarketCalendar, wall: time | None, now_ns: int) -> int | None:
    """The entry cutoff (ns, UTC) of the session at ``now_ns`` for the wall-clock time
    ``wall``; ``None`` when there is no cutoff, no session, or ``wall`` is after the close."""
    if wall is None:
        return None
    try:
        session = calendar.session_at(now_ns)
        if session is None:
            return None
        return calendar.square_off_at(session.day, local_time=wall)
    except ValueError:  # CalendarRangeError, or a time after the regular close
        return None


def next_square_off(
    calendar: MarketCalendar, wall: time, now_ns: int, done: date | None = None
) -> tuple[date, int] | None:
    """The next square-off of ``calendar`` at the wall-clock time ``wall``, as (the session's
    date, the instant in ns UTC), skipping sessions up to ``done`` (already squared off).

    A session whose square-off time has passed while it is still open is due at once
    (``now_ns``): a process started at 15:20 IST squares off its NSE positions then. ``None``
    when the calendar has no data that far, or ``wall`` is after the regular close (the
    calendar refuses it).
    """
    today = exchange_date(now_ns, calendar.time_zone)
    for offset in range(_DAYS_AHEAD):
        day = today + timedelta(days=offset)
        if done is not None and day <= done:
            continue
        try:
            session = calendar.session_for(day)
            if session is None:
                continue
            at = calendar.square_off_at(day, local_time=wall)
        except ValueError:  # CalendarRangeError, or a time after the regular close
            return None
        if at >= now_ns:
            return day, at
        if now_ns < session.close_ns:
            return day, now_ns
    return None


class MarketHours:
    """Every market's calendar by name, and what the risk supervisor asks of it: open or
    not, today's entry cutoff, the next square-off.

    ``calendars`` overrides calendars by name (the synthetic market trades NSE symbols around
    the clock); the others are read with :func:`engine.calendars.calendar` from
    ``calendar_dir``. A calendar that cannot be had makes its market count as closed, with the
    reason, rather than raising.
    """

    def __init__(
        self,
        limits: RiskLimits,
        calendars: Mapping[str, MarketCalendar] | None = None,
        calendar_dir: str | None = None,
    ) -> None:
        self.limits = limits
        self.calendar_dir = calendar_dir
        self._calendars: dict[str, MarketCalendar | str] = dict(calendars or {})
        self._cutoffs: dict[tuple[str, date], int | None] = {}

    def calendar(self, name: str) -> MarketCalendar | str:
        """The calendar called ``name``, or why there is none."""
        found = self._calendars.get(name)
        if found is None:
            try:
                found = calendar(name, self.calendar_dir)
            except (ValueError, ConfigError) as error:
                found = f"no calendar {name!r}: {error}"
            self._calendars[name] = found
        return found

    def status(self, name: str, now_ns: int) -> tuple[bool, str, int | None]:
        """Whether the market ``name`` is open at ``now_ns``, why not, and its entry cutoff
        today (ns, UTC; ``None``: none)."""
        cal = self.calendar(name)
        if isinstance(cal, str):
            return False, cal, None
        is_open, note = market_status(cal, now_ns)
        if not is_open:
            return False, note, None
        session = cal.session_at(now_ns)
        if session is None:  # open means a session; this keeps the type checker content
            return True, "", None
        key = (name, session.day)
        if key not in self._cutoffs:
            self._cutoffs[key] = cutoff_at(cal, self.limits.entry_cutoff_time(name), now_ns)
        return True, "", self._cutoffs[key]

    def next_square_off(
        self, name: str, now_ns: int, done: date | None
    ) -> tuple[date, int] | str | None:
        """The next square-off of the market ``name`` after the session ``done``: (its date,
        the instant); ``None`` when the market has none configured; a string saying why none
        can be set."""
        wall = self.limits.square_off_time(name)
        if wall is None:
            return None
        cal = self.calendar(name)
        if isinstance(cal, str):
            return cal
        due = next_square_off(cal, wall, now_ns, done)
        return "no session with data within two weeks" if due is None else due
