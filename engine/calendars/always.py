"""A market that never closes: the synthetic market's default, so a demo shows activity at any
hour. Its sessions are UTC calendar days, midnight to midnight, with no pre-open."""

from __future__ import annotations

from datetime import date, time, timedelta

from engine.calendars.market_calendar import MarketCalendar, Session
from engine.timezones import at_local_time

_UTC = "UTC"


class AlwaysOpenCalendar(MarketCalendar):
    """Open around the clock, every day, in every year."""

    @property
    def name(self) -> str:
        return "ALWAYS"

    @property
    def time_zone(self) -> str:
        return _UTC

    def covers(self, day: date) -> bool:
        return True

    def session_for(self, day: date) -> Session:
        return Session(
            day=day,
            open_ns=at_local_time(day, time(0, 0), _UTC),
            close_ns=at_local_time(day + timedelta(days=1), time(0, 0), _UTC),
        )

    def _square_off_wall(self, session: Session, wall: time) -> int:
        # There is no regular close to measure from: the time is read on the UTC clock.
        return at_local_time(session.day, wall, _UTC)
