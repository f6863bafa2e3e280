"""An exchange's calendar: weekly hours, holidays, half days and special sessions.

The data comes from a calendar file (:mod:`engine.calendars.calendar_file`); this module only
answers questions about it. Saturdays and Sundays are closed unless a special session says
otherwise (NSE trades on a Budget day that falls on a weekend). A special session also
overrides a holiday: NSE's Diwali Muhurat session is held on the Laxmi Pujan holiday.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta

import msgspec

from engine.calendars.market_calendar import CalendarRangeError, MarketCalendar, Session
from engine.timezones import at_local_time

_SATURDAY = 5
_NS_PER_US = 1_000
_ONE_US = timedelta(microseconds=1)


class TradingHours(msgspec.Struct, frozen=True, kw_only=True):
    """A session's wall-clock times in the exchange's time zone."""

    open: time
    close: time
    pre_open: time | None = None
    pre_open_end: time | None = None


class SpecialSession(msgspec.Struct, frozen=True, kw_only=True):
    """A session outside the weekly pattern: a weekend or holiday that trades."""

    hours: TradingHours
    note: str


class ExchangeCalendar(MarketCalendar):
    """The sessions of one exchange over the years its data covers."""

    def __init__(
        self,
        *,
        name: str,
        time_zone: str,
        years: Iterable[int],
        hours: TradingHours,
        half_day_close: time | None = None,
        holidays: Mapping[date, str] | None = None,
        half_days: Mapping[date, str] | None = None,
        special_sessions: Mapping[date, SpecialSession] | None = None,
        source: str = "",
    ) -> None:
        """``source`` names where the data came from, for error messages (a file path)."""
        super().__init__()
        self._name = name
        self._time_zone = time_zone
        self._years = frozenset(years)
        self._hours = hours
        self._half_day_close = half_day_close
        self._holidays = dict(holidays or {})
        self._half_days = dict(half_days or {})
        self._special = dict(special_sessions or {})
        self._source = source
        # Sessions are pure functions of the day; zoneinfo conversions are the costly part.
        self._sessions: dict[date, Session | None] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def time_zone(self) -> str:
        return self._time_zone

    @property
    def years(self) -> frozenset[int]:
        """The calendar years whose holidays the data lists."""
        return self._years

    @property
    def hours(self) -> TradingHours:
        """The regular wall-clock hours."""
        return self._hours

    @property
    def holidays(self) -> Mapping[date, str]:
        """Trading holidays and their names as the exchange publishes them."""
        return self._holidays

    @property
    def half_days(self) -> Mapping[date, str]:
        """Days that close early, with the occasion."""
        return self._half_days

    @property
    def source(self) -> str:
        return self._source

    def covers(self, day: date) -> bool:
        return day.year in self._years

    def session_for(self, day: date) -> Session | None:
        try:
            return self._sessions[day]
        except KeyError:
            pass
        if not self.covers(day):
            years = ", ".join(str(y) for y in sorted(self._years)) or "no years"
            where = f" in {self._source}" if self._source else ""
            raise CalendarRangeError(
                f"the {self._name} calendar has no holiday data for {day} (it covers {years}): "
                f"add {day.year}'s holidays and half days{where}"
            )
        session = self._compute(day)
        self._sessions[day] = session
        return session

    def _compute(self, day: date) -> Session | None:
        special = self._special.get(day)
        if special is not None:
            return self._session(day, special.hours, half_day=False, note=special.note)
        if day.weekday() >= _SATURDAY or day in self._holidays:
            return None
        occasion = self._half_days.get(day)
        if occasion is not None and self._half_day_close is not None:
            hours = msgspec.structs.replace(self._hours, close=self._half_day_close)
            return self._session(day, hours, half_day=True, note=occasion)
        return self._session(day, self._hours, half_day=False, note="")

    def _session(self, day: date, hours: TradingHours, *, half_day: bool, note: str) -> Session:
        tz = self._time_zone
        return Session(
            day=day,
            open_ns=at_local_time(day, hours.open, tz),
            close_ns=at_local_time(day, hours.close, tz),
            pre_open_ns=None if hours.pre_open is None else at_local_time(day, hours.pre_open, tz),
            pre_open_end_ns=(
                None if hours.pre_open_end is None else at_local_time(day, hours.pre_open_end, tz)
            ),
            is_half_day=half_day,
            note=note,
        )

    def _square_off_wall(self, session: Session, wall: time) -> int:
        # The distance before the regular close, in wall-clock time; no exchange here trades
        # across a daylight-saving change (they happen at 02:00), so it is also elapsed time.
        before_close = datetime.combine(session.day, self._hours.close) - datetime.combine(
            session.day, wall
        )
        if before_close.total_seconds() < 0:
            raise ValueError(
                f"square-off time {wall.isoformat('minutes')} is after the {self._name} close "
                f"{self._hours.close.isoformat('minutes')}"
            )
        return session.close_ns - (before_close // _ONE_US) * _NS_PER_US
