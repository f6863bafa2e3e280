"""Market calendars: when each market trades, by name.

``calendar("NSE")`` answers is-it-open, next open, session close and square-off questions in
ns since the epoch, UTC (see :class:`MarketCalendar`). The names:

* ``"NSE"``: pre-open 09:00-09:08, normal market 09:15-15:30 Asia/Kolkata;
* ``"NYSE"``: 09:30-16:00 America/New_York, half days closing 13:00;
* ``"NASDAQ"``: NYSE's hours and holidays (they publish the same ones);
* ``"ALWAYS"``: open around the clock, the synthetic market's default.

Holidays, half days and special sessions are data files (format in
:mod:`engine.calendars.calendar_file`), read once per process: ``config/calendars/nse.toml``
and ``nyse.toml`` ship with troupe. To update them without a new release, edit those files,
or pass a directory of your own: a file found there (``nse.toml``, ``nyse.toml``, or
``nasdaq.toml`` to give NASDAQ its own) is used instead of the shipped one; a missing one
falls back to the shipped file.
"""

from __future__ import annotations

import functools
from pathlib import Path

from engine.calendars.always import AlwaysOpenCalendar
from engine.calendars.calendar_file import read_calendar_file
from engine.calendars.exchange import ExchangeCalendar, SpecialSession, TradingHours
from engine.calendars.market_calendar import CalendarRangeError, MarketCalendar, Session
from engine.config.errors import ConfigError
from engine.timezones import NSE_TZ, NYSE_TZ

__all__ = [
    "CALENDAR_NAMES",
    "CALENDAR_TIME_ZONES",
    "AlwaysOpenCalendar",
    "CalendarRangeError",
    "ExchangeCalendar",
    "MarketCalendar",
    "Session",
    "SpecialSession",
    "TradingHours",
    "calendar",
    "calendar_path",
    "shipped_calendar_dir",
]

CALENDAR_TIME_ZONES: dict[str, str] = {
    "ALWAYS": "UTC",
    "NASDAQ": NYSE_TZ,
    "NSE": NSE_TZ,
    "NYSE": NYSE_TZ,
}
"""Each calendar name and the time zone of its wall clock."""

CALENDAR_NAMES: tuple[str, ...] = tuple(sorted(CALENDAR_TIME_ZONES))
"""The names :func:`calendar` accepts."""

# The file names each calendar is looked up under, in order, in each directory searched.
_FILE_NAMES: dict[str, tuple[str, ...]] = {
    "NSE": ("nse.toml",),
    "NYSE": ("nyse.toml",),
    "NASDAQ": ("nasdaq.toml", "nyse.toml"),
}


def calendar(name: str, directory: str | Path | None = None) -> MarketCalendar:
    """The market calendar called ``name``, one of :data:`CALENDAR_NAMES`.

    ``directory`` holds the user's calendar files, searched before the shipped ones. Each
    (name, directory) is read once per process and shared; calendars are immutable.

    Raises ``ValueError`` listing the allowed names if ``name`` is unknown;
    :class:`ConfigError` with one line per problem if a calendar file is missing or wrong.
    """
    if name not in CALENDAR_TIME_ZONES:
        allowed = ", ".join(f'"{n}"' for n in CALENDAR_NAMES)
        raise ValueError(f"unknown market calendar {name!r}: expected one of {allowed}")
    return _load(name, None if directory is None else Path(directory).resolve())


@functools.cache
def _load(name: str, directory: Path | None) -> MarketCalendar:
    if name == "ALWAYS":
        return AlwaysOpenCalendar()
    return read_calendar_file(
        calendar_path(name, directory), name=name, time_zone=CALENDAR_TIME_ZONES[name]
    )


def calendar_path(name: str, directory: str | Path | None = None) -> Path:
    """The file the exchange calendar ``name`` is read from: the first of its file names in
    ``directory``, else in :func:`shipped_calendar_dir`.

    Raises :class:`ConfigError` if ``directory`` is not a directory or no file is found.
    """
    searched: list[Path] = []
    if directory is not None:
        user = Path(directory)
        if not user.is_dir():
            raise ConfigError([f"{user}: calendar directory: no such directory"])
        searched.append(user)
    searched.append(shipped_calendar_dir())
    for folder in searched:
        for file_name in _FILE_NAMES[name]:
            if (folder / file_name).is_file():
                return folder / file_name
    tried = ", ".join(str(folder / f) for folder in searched for f in _FILE_NAMES[name])
    raise ConfigError([f"the {name} calendar: no calendar file found; looked for {tried}"])


def shipped_calendar_dir() -> Path:
    """Where troupe's own calendar files are: ``config/calendars`` beside the ``engine``
    package (a source checkout or editable install), else under the working directory (the
    Docker image runs from its copy of the repository)."""
    beside_package = Path(__file__).resolve().parents[2] / "config" / "calendars"
    if beside_package.is_dir():
        return beside_package
    return Path.cwd() / "config" / "calendars"
