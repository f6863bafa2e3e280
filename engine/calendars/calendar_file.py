"""Reading a market calendar file: hours, holidays, half days and special sessions, in TOML.

The files are data the user keeps up to date (a new year's holidays, a declared closure)
without a new release of troupe. The format, with times as ``"HH:MM"`` on the exchange's wall
clock and dates as bare TOML keys::

    years = [2025, 2026]                  # the years whose holidays are listed completely

    [hours]
    pre_open = "09:00"                    # optional, with pre_open_end: pre-open order entry
    pre_open_end = "09:08"
    open = "09:15"                        # the normal market, open inclusive, close exclusive
    close = "15:30"
    half_day_close = "13:00"              # needed only if there are half days

    [holidays]
    2026-01-26 = "Republic Day"

    [half_days]
    2025-11-28 = "Day after Thanksgiving"

    [special_sessions]                    # weekend or holiday sessions; regular hours unless
    2026-02-01 = { note = "Union Budget" }        # open and close (and pre-open) are given
    2025-10-21 = { note = "Muhurat trading", open = "13:45", close = "14:45" }

Every problem is reported, one line each, naming the file, the key, the value and what is
allowed, and raised together as :class:`engine.config.load.ConfigError`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Any

from engine.calendars.exchange import ExchangeCalendar, SpecialSession, TradingHours
from engine.config.errors import ConfigError, shown

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2})?")
_TOP_KEYS = ("years", "hours", "holidays", "half_days", "special_sessions")
_HOURS_KEYS = ("pre_open", "pre_open_end", "open", "close", "half_day_close")
_SPECIAL_KEYS = ("note", "pre_open", "pre_open_end", "open", "close")
_SATURDAY = 5
_FIRST_YEAR, _LAST_YEAR = 1970, 2200


def read_calendar_file(path: Path, *, name: str, time_zone: str) -> ExchangeCalendar:
    """The calendar described by the TOML file at ``path``, for the market ``name`` whose
    wall clock is ``time_zone``.

    Raises :class:`ConfigError` listing every problem in the file.
    """
    reader = _Reader(str(path))
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    calendar = reader.calendar(document, name=name, time_zone=time_zone)
    if reader.problems or calendar is None:
        raise ConfigError(reader.problems)
    return calendar


class _Reader:
    """Collects problems while it converts a parsed document."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: {key}: {message}")

    def calendar(
        self, document: dict[str, Any], *, name: str, time_zone: str
    ) -> ExchangeCalendar | None:
        for key in document:
            if key not in _TOP_KEYS:
                self.problem(key, f"unknown key; allowed: {', '.join(_TOP_KEYS)}")
        years = self.years(document.get("years"))
        hours, half_day_close = self.hours(document.get("hours"))
        holidays = self.named_days(document.get("holidays", {}), "holidays", years)
        half_days = self.named_days(document.get("half_days", {}), "half_days", years)
        special = self.special_sessions(document.get("special_sessions", {}), years, hours)
        for day in sorted(holidays.keys() & half_days.keys()):
            self.problem(f"half_days.{day}", "is also listed as a holiday; keep one of them")
        for day in sorted(half_days):
            if day.weekday() >= _SATURDAY:
                self.problem(f"half_days.{day}", f"{day:%A} is closed anyway; remove it")
        hours_table = document.get("hours")
        no_close = isinstance(hours_table, dict) and "half_day_close" not in hours_table
        if half_days and no_close:
            self.problem("hours.half_day_close", "missing: half_days needs the early close time")
        if hours is None or self.problems:
            return None
        return ExchangeCalendar(
            name=name,
            time_zone=time_zone,
            years=years,
            hours=hours,
            half_day_close=half_day_close,
            holidays=holidays,
            half_days=half_days,
            special_sessions=special,
            source=self.source,
        )

    def years(self, value: Any) -> set[int]:
        expected = f"a non-empty list of years within [{_FIRST_YEAR}, {_LAST_YEAR}]"
        if value is None:
            self.problem("years", f"missing: expected {expected}")
            return set()
        ok = isinstance(value, list) and value and all(_is_year(v) for v in value)
        if not ok:
            self.problem("years", f"expected {expected}, got {shown(value)}")
            return set()
        return set(value)

    def hours(self, value: Any) -> tuple[TradingHours | None, time | None]:
        if value is None:
            self.problem("hours", "missing: expected a table with open and close")
            return None, None
        table = self.table(value, "hours", _HOURS_KEYS)
        if table is None:
            return None, None
        hours = self.trading_hours(table, "hours")
        half_day_close = self.time(table, "hours", "half_day_close")
        if (
            hours is not None
            and half_day_close is not None
            and not hours.open < half_day_close < hours.close
        ):
            self.problem(
                "hours.half_day_close",
                f"expected a time after open ({hours.open:%H:%M}) and before close "
                f"({hours.close:%H:%M}), got {shown(table['half_day_close'])}",
            )
        return hours, half_day_close

    def trading_hours(self, table: Mapping[str, Any], where: str) -> TradingHours | None:
        times = {k: self.time(table, where, k) for k in ("pre_open", "pre_open_end")}
        for key in ("open", "close"):
            if key not in table:
                self.problem(f"{where}.{key}", 'missing: expected a time like "09:15"')
            times[key] = self.time(table, where, key)
        if ("pre_open" in table) != ("pre_open_end" in table):
            self.problem(where, "pre_open and pre_open_end go together; give both or neither")
            return None
        open_, close = times["open"], times["close"]
        if open_ is None or close is None:
            return None
        pre, pre_end = times["pre_open"], times["pre_open_end"]
        in_order = open_ < close and (pre is None or pre_end is None or pre < pre_end <= open_)
        if not in_order:
            given = ", ".join(f"{k}={table[k]}" for k in _HOURS_KEYS[:4] if k in table)
            self.problem(where, f"expected pre_open < pre_open_end <= open < close, got {given}")
            return None
        return TradingHours(
            open=open_, close=close, pre_open=times["pre_open"], pre_open_end=times["pre_open_end"]
        )

    def named_days(self, value: Any, where: str, years: set[int]) -> dict[date, str]:
        table = self.table(value, where, None)
        days: dict[date, str] = {}
        for key, name in (table or {}).items():
            day = self.day(key, where, years)
            if not isinstance(name, str) or not name.strip():
                self.problem(f"{where}.{key}", f"expected the occasion's name, got {shown(name)}")
            elif day is not None:
                days[day] = name
        return days

    def special_sessions(
        self, value: Any, years: set[int], regular: TradingHours | None
    ) -> dict[date, SpecialSession]:
        table = self.table(value, "special_sessions", None)
        sessions: dict[date, SpecialSession] = {}
        for key, item in (table or {}).items():
            where = f"special_sessions.{key}"
            day = self.day(key, "special_sessions", years)
            entry = self.table(item, where, _SPECIAL_KEYS)
            if entry is None:
                continue
            note = entry.get("note")
            if not isinstance(note, str) or not note.strip():
                self.problem(
                    f"{where}.note", f"expected why the session is held, got {shown(note)}"
                )
            own_times = any(k in entry for k in _SPECIAL_KEYS[1:])
            hours = self.trading_hours(entry, where) if own_times else regular
            if day is not None and hours is not None and isinstance(note, str):
                sessions[day] = SpecialSession(hours=hours, note=note)
        return sessions

    def table(
        self, value: Any, where: str, allowed: tuple[str, ...] | None
    ) -> Mapping[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(where, f"expected a table, got {shown(value)}")
            return None
        for key in value:
            if allowed is not None and key not in allowed:
                self.problem(f"{where}.{key}", f"unknown key; allowed: {', '.join(allowed)}")
        return value

    def day(self, key: str, where: str, years: set[int]) -> date | None:
        try:
            day = date.fromisoformat(key) if _DATE.fullmatch(key) else None
        except ValueError:
            day = None
        if day is None:
            self.problem(f"{where}.{key}", f"expected a date YYYY-MM-DD, got {shown(key)}")
        elif years and day.year not in years:
            listed = ", ".join(str(y) for y in sorted(years))
            self.problem(f"{where}.{key}", f"{day.year} is not in years ({listed}); add it there")
            return None
        return day

    def time(self, table: Mapping[str, Any], where: str, key: str) -> time | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, time) and value.tzinfo is None:
            return value
        if isinstance(value, str) and _TIME.fullmatch(value):
            try:
                return time.fromisoformat(value)
            except ValueError:
                pass
        self.problem(f"{where}.{key}", f'expected a time like "09:15", got {shown(value)}')
        return None


def _is_year(value: Any) -> bool:
    return type(value) is int and _FIRST_YEAR <= value <= _LAST_YEAR
