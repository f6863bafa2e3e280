"""Market calendars: NSE and NYSE sessions, holidays, half days, daylight saving, the
square-off time, ALWAYS, the registry, the user's own files and their problems."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.calendars import (
    CALENDAR_NAMES,
    CalendarRangeError,
    ExchangeCalendar,
    calendar,
    calendar_path,
    shipped_calendar_dir,
)
from engine.config.load import ConfigError
from engine.timezones import exchange_date

NS = 1_000_000_000


def utc_ns(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """Independent of the module under test: whole seconds are exact as float timestamps."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * NS


def ist_ns(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """IST is UTC+05:30 all year."""
    return utc_ns(year, month, day, hour, minute) - (5 * 60 + 30) * 60 * NS


NSE = calendar("NSE")
NYSE = calendar("NYSE")


# -- NSE --------------------------------------------------------------------------------------


def test_nse_is_open_from_0915_until_just_before_1530_ist_on_a_normal_weekday() -> None:
    day = (2026, 1, 27)  # a Tuesday, the day after Republic Day
    assert NSE.is_trading_day(date(*day))
    assert not NSE.is_open(ist_ns(*day, 9, 15) - 1)
    assert NSE.is_open(ist_ns(*day, 9, 15))
    assert ist_ns(*day, 9, 15) == utc_ns(*day, 3, 45)
    assert NSE.is_open(ist_ns(*day, 15, 30) - 1)
    assert not NSE.is_open(ist_ns(*day, 15, 30))


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2026, 1, 26), "Republic Day"),
        (date(2026, 1, 15), "Maharashtra municipal elections, declared by circular"),
        (date(2026, 3, 3), "Holi"),
        (date(2025, 10, 22), "Balipratipada"),
        (date(2025, 12, 25), "Christmas"),
        (date(2026, 1, 24), "a Saturday"),
        (date(2026, 1, 25), "a Sunday"),
    ],
)
def test_nse_is_closed_on_holidays_and_weekends(day: date, why: str) -> None:
    assert not NSE.is_trading_day(day), why
    assert NSE.session_for(day) is None
    assert not NSE.is_open(ist_ns(day.year, day.month, day.day, 11, 0))
    assert NSE.session_close(ist_ns(day.year, day.month, day.day, 11, 0)) is None


def test_nse_pre_open_is_0900_to_0908_ist_and_not_the_normal_market() -> None:
    day = (2026, 1, 27)
    assert not NSE.is_pre_open(ist_ns(*day, 9, 0) - 1)
    assert NSE.is_pre_open(ist_ns(*day, 9, 0))
    assert NSE.is_pre_open(ist_ns(*day, 9, 8) - 1)
    assert not NSE.is_pre_open(ist_ns(*day, 9, 8))
    assert not NSE.is_open(ist_ns(*day, 9, 5))
    session = NSE.session_for(date(*day))
    assert session is not None
    assert (session.pre_open_ns, session.pre_open_end_ns) == (
        ist_ns(*day, 9, 0),
        ist_ns(*day, 9, 8),
    )
    assert not NSE.is_pre_open(ist_ns(2026, 1, 26, 9, 2))  # Republic Day


def test_nse_special_sessions_trade_on_a_weekend_and_on_a_holiday() -> None:
    assert NSE.is_open(ist_ns(2026, 2, 1, 10, 0))  # Union Budget, a Sunday, regular hours
    assert NSE.is_pre_open(ist_ns(2026, 2, 1, 9, 1))
    muhurat = NSE.session_for(date(2025, 10, 21))  # Diwali Laxmi Pujan holiday
    assert muhurat is not None
    assert (muhurat.open_ns, muhurat.close_ns) == (
        ist_ns(2025, 10, 21, 13, 45),
        ist_ns(2025, 10, 21, 14, 45),
    )
    assert muhurat.note == "Muhurat trading (Diwali)"
    assert not NSE.is_open(ist_ns(2025, 10, 21, 10, 0))
    assert NSE.is_open(ist_ns(2025, 10, 21, 14, 0))


def test_nse_next_open_skips_a_weekend_and_a_holiday() -> None:
    # Friday 2026-01-23 after the close; Monday 2026-01-26 is Republic Day.
    assert NSE.next_open(ist_ns(2026, 1, 23, 16, 0)) == ist_ns(2026, 1, 27, 9, 15)


def test_next_open_is_strictly_after_the_instant() -> None:
    assert NSE.next_open(ist_ns(2026, 1, 27, 9, 0)) == ist_ns(2026, 1, 27, 9, 15)
    assert NSE.next_open(ist_ns(2026, 1, 27, 9, 15)) == ist_ns(2026, 1, 28, 9, 15)
    assert NSE.next_open(ist_ns(2026, 1, 27, 12, 0)) == ist_ns(2026, 1, 28, 9, 15)


def test_session_close_is_that_days_close_before_during_and_after_the_session() -> None:
    close = ist_ns(2026, 1, 27, 15, 30)
    for hour in (8, 12, 18):
        assert NSE.session_close(ist_ns(2026, 1, 27, hour, 0)) == close


def test_nse_squares_off_at_1515_ist_by_local_time_or_minutes_before_close() -> None:
    day = date(2026, 1, 27)
    expected = utc_ns(2026, 1, 27, 9, 45)
    assert NSE.square_off_at(day, local_time="15:15") == expected
    assert NSE.square_off_at(day, minutes_before_close=15) == expected


def test_square_off_on_a_short_session_keeps_its_distance_from_the_close() -> None:
    muhurat = date(2025, 10, 21)  # closes 14:45 IST
    assert NSE.square_off_at(muhurat, local_time="15:15") == ist_ns(2025, 10, 21, 14, 30)
    # Never before the open: 120 minutes before a one-hour session's close is its open.
    assert NSE.square_off_at(muhurat, minutes_before_close=120) == ist_ns(2025, 10, 21, 13, 45)


@pytest.mark.parametrize(
    ("day", "kwargs", "message"),
    [
        (date(2026, 1, 26), {"local_time": "15:15"}, "2026-01-26 is not a trading day on the NSE"),
        (date(2026, 1, 27), {}, "give exactly one of minutes_before_close and local_time"),
        (
            date(2026, 1, 27),
            {"local_time": "15:15", "minutes_before_close": 15},
            "give exactly one of minutes_before_close and local_time",
        ),
        (date(2026, 1, 27), {"local_time": "3pm"}, "'3pm' is not a time of day like '15:15'"),
        (
            date(2026, 1, 27),
            {"local_time": "16:00"},
            "square-off time 16:00 is after the NSE close 15:30",
        ),
        (date(2026, 1, 27), {"minutes_before_close": -5}, "minutes_before_close must be >= 0"),
    ],
)
def test_square_off_refuses_what_it_cannot_answer(
    day: date, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        NSE.square_off_at(day, **kwargs)  # type: ignore[arg-type]


def test_a_day_beyond_the_data_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarRangeError) as caught:
        NSE.is_open(ist_ns(2027, 1, 4, 10, 0))
    assert str(caught.value) == (
        "the NSE calendar has no holiday data for 2027-01-04 (it covers 2025, 2026): "
        f"add 2027's holidays and half days in {shipped_calendar_dir() / 'nse.toml'}"
    )
    with pytest.raises(CalendarRangeError):
        NSE.next_open(ist_ns(2026, 12, 31, 16, 0))


# -- NYSE -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [date(2025, 12, 25), date(2026, 7, 3), date(2025, 1, 9), date(2026, 11, 26)],
)
def test_nyse_is_closed_on_its_holidays(day: date) -> None:
    assert not NYSE.is_trading_day(day)
    assert not NYSE.is_open(utc_ns(day.year, day.month, day.day, 16, 0))


def test_nyse_half_day_closes_at_1300_et() -> None:
    session = NYSE.session_for(date(2025, 11, 28))
    assert session is not None
    assert session.is_half_day
    assert session.close_ns == utc_ns(2025, 11, 28, 18, 0)  # EST, UTC-5
    assert NYSE.is_open(utc_ns(2025, 11, 28, 18, 0) - 1)
    assert not NYSE.is_open(utc_ns(2025, 11, 28, 18, 0))
    assert NYSE.square_off_at(date(2025, 11, 28), local_time="15:45") == utc_ns(
        2025, 11, 28, 17, 45
    )
    regular = NYSE.session_for(date(2026, 7, 2))  # no early close before the observed 4th
    assert regular is not None
    assert not regular.is_half_day


def test_nyse_open_moves_with_daylight_saving_in_march_and_november() -> None:
    assert NYSE.next_open(utc_ns(2026, 3, 6, 0, 0)) == utc_ns(2026, 3, 6, 14, 30)  # EST
    assert NYSE.next_open(utc_ns(2026, 3, 9, 0, 0)) == utc_ns(2026, 3, 9, 13, 30)  # EDT
    assert NYSE.next_open(utc_ns(2026, 10, 30, 0, 0)) == utc_ns(2026, 10, 30, 13, 30)
    assert NYSE.next_open(utc_ns(2026, 11, 2, 0, 0)) == utc_ns(2026, 11, 2, 14, 30)
    assert NYSE.session_close(utc_ns(2026, 3, 9, 15, 0)) == utc_ns(2026, 3, 9, 20, 0)


def test_nyse_next_open_skips_a_holiday_and_a_weekend() -> None:
    # Thursday 2026-07-02 after the close; Friday 2026-07-03 is Independence Day observed.
    assert NYSE.next_open(utc_ns(2026, 7, 2, 21, 0)) == utc_ns(2026, 7, 6, 13, 30)


def test_nasdaq_has_the_nyse_sessions() -> None:
    nasdaq = calendar("NASDAQ")
    assert nasdaq.name == "NASDAQ"
    for day in (date(2025, 11, 28), date(2026, 7, 3), date(2026, 3, 9)):
        assert nasdaq.session_for(day) == NYSE.session_for(day)


@given(
    st.lists(
        st.integers(min_value=utc_ns(2025, 1, 1, 0, 0), max_value=utc_ns(2026, 12, 30, 0, 0)),
        min_size=1,
        max_size=30,
    )
)
def test_is_open_agrees_with_the_session_of_the_exchange_date(instants: list[int]) -> None:
    # In any order, so the remembered last day is both reused and replaced.
    for ts in instants:
        for market in (NSE, NYSE):
            session = market.session_for(exchange_date(ts, market.time_zone))
            expected = session is not None and session.open_ns <= ts < session.close_ns
            assert market.is_open(ts) == expected


# -- ALWAYS -----------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=4_102_444_800 * NS))
def test_always_is_open_at_every_instant(ts_ns: int) -> None:
    always = calendar("ALWAYS")
    assert always.is_open(ts_ns)
    assert not always.is_pre_open(ts_ns)
    assert always.next_open(ts_ns) > ts_ns
    close = always.session_close(ts_ns)
    assert close is not None
    assert close > ts_ns


def test_always_trades_on_weekends_and_holidays_and_squares_off_on_the_utc_clock() -> None:
    always = calendar("ALWAYS")
    assert always.is_trading_day(date(2026, 1, 26))
    assert always.is_trading_day(date(2031, 1, 4))
    assert always.square_off_at(date(2026, 1, 24), local_time="15:15") == utc_ns(
        2026, 1, 24, 15, 15
    )
    assert always.square_off_at(date(2026, 1, 24), minutes_before_close=15) == utc_ns(
        2026, 1, 24, 23, 45
    )


# -- the registry and the files ---------------------------------------------------------------


def test_an_unknown_calendar_name_lists_the_allowed_ones() -> None:
    assert CALENDAR_NAMES == ("ALWAYS", "NASDAQ", "NSE", "NYSE")
    with pytest.raises(ValueError) as caught:
        calendar("BSE")
    assert str(caught.value) == (
        'unknown market calendar \'BSE\': expected one of "ALWAYS", "NASDAQ", "NSE", "NYSE"'
    )


def test_calendars_are_read_once_and_shared() -> None:
    assert calendar("NSE") is calendar("NSE")


NSE_2027 = """
years = [2027]
[hours]
pre_open = "09:00"
pre_open_end = "09:08"
open = "09:15"
close = "15:30"
[holidays]
2027-01-26 = "Republic Day"
"""


def test_a_users_directory_overrides_the_shipped_file_and_falls_back_for_the_rest(
    tmp_path: Path,
) -> None:
    (tmp_path / "nse.toml").write_text(NSE_2027, encoding="utf-8")
    nse = calendar("NSE", tmp_path)
    assert nse.is_open(ist_ns(2027, 1, 25, 10, 0))
    assert not nse.is_trading_day(date(2027, 1, 26))
    assert calendar_path("NYSE", tmp_path) == shipped_calendar_dir() / "nyse.toml"
    assert calendar_path("NASDAQ", tmp_path) == shipped_calendar_dir() / "nyse.toml"
    assert calendar("NYSE", tmp_path).is_open(utc_ns(2026, 3, 9, 14, 0))


def test_a_missing_calendar_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        calendar("NSE", tmp_path / "nope")
    assert caught.value.problems == [f"{tmp_path / 'nope'}: calendar directory: no such directory"]


HOURS = '[hours]\nopen = "09:30"\nclose = "16:00"\n'

BAD_CALENDAR_FILES = [
    (HOURS, ["years: missing: expected a non-empty list of years within [1970, 2200]"]),
    (
        'years = "2026"\n' + HOURS,
        ['years: expected a non-empty list of years within [1970, 2200], got "2026"'],
    ),
    ("years = [2026]\n", ["hours: missing: expected a table with open and close"]),
    (
        'years = [2026]\nweekend = ["Fri"]\n' + HOURS,
        ["weekend: unknown key; allowed: years, hours, holidays, half_days, special_sessions"],
    ),
    (
        'years = [2026]\n[hours]\nopen = "9.30"\nclose = "16:00"\n',
        ['hours.open: expected a time like "09:15", got "9.30"'],
    ),
    (
        'years = [2026]\n[hours]\nopen = "16:00"\nclose = "09:30"\n',
        ["hours: expected pre_open < pre_open_end <= open < close, got open=16:00, close=09:30"],
    ),
    (
        'years = [2026]\n[hours]\npre_open = "09:00"\nopen = "09:15"\nclose = "15:30"\n',
        ["hours: pre_open and pre_open_end go together; give both or neither"],
    ),
    (
        "years = [2026]\n" + HOURS + '[holidays]\n2026-02-30 = "Nope"\n',
        ['holidays.2026-02-30: expected a date YYYY-MM-DD, got "2026-02-30"'],
    ),
    (
        "years = [2026]\n" + HOURS + '[holidays]\n2027-01-01 = "New Year"\n',
        ["holidays.2027-01-01: 2027 is not in years (2026); add it there"],
    ),
    (
        "years = [2026]\n" + HOURS + '[holidays]\n2026-01-01 = ""\n',
        ['holidays.2026-01-01: expected the occasion\'s name, got ""'],
    ),
    (
        "years = [2026]\n" + HOURS + '[half_days]\n2026-11-27 = "Day after Thanksgiving"\n',
        ["hours.half_day_close: missing: half_days needs the early close time"],
    ),
    (
        "years = [2026]\n"
        + HOURS
        + 'half_day_close = "13:00"\n[holidays]\n2026-12-24 = "X"\n[half_days]\n2026-12-24 = "Y"\n',
        ["half_days.2026-12-24: is also listed as a holiday; keep one of them"],
    ),
    (
        "years = [2026]\n" + HOURS + 'half_day_close = "13:00"\n[half_days]\n2026-11-28 = "Y"\n',
        ["half_days.2026-11-28: Saturday is closed anyway; remove it"],
    ),
    (
        "years = [2026]\n" + HOURS + 'half_day_close = "17:00"\n',
        [
            "hours.half_day_close: expected a time after open (09:30) and before close (16:00), "
            'got "17:00"'
        ],
    ),
    (
        "years = [2026]\n" + HOURS + '[special_sessions]\n2026-02-01 = { open = "10:00" }\n',
        [
            "special_sessions.2026-02-01.note: expected why the session is held, got null",
            'special_sessions.2026-02-01.close: missing: expected a time like "09:15"',
        ],
    ),
]


@pytest.mark.parametrize(("text", "problems"), BAD_CALENDAR_FILES)
def test_each_problem_in_a_calendar_file_gets_its_exact_line(
    tmp_path: Path, text: str, problems: list[str]
) -> None:
    (tmp_path / "nyse.toml").write_text(text, encoding="utf-8")
    path = calendar_path("NYSE", tmp_path)
    with pytest.raises(ConfigError) as caught:
        calendar("NYSE", tmp_path)
    assert caught.value.problems == [f"{path}: {p}" for p in problems]


def test_the_shipped_files_list_whole_years_of_weekday_holidays() -> None:
    nse, nyse = calendar("NSE"), calendar("NYSE")
    assert isinstance(nse, ExchangeCalendar)
    assert isinstance(nyse, ExchangeCalendar)
    assert {2025, 2026} <= nse.years
    assert {2025, 2026} <= nyse.years
    assert sum(d.year == 2026 for d in nse.holidays) == 16
    assert sum(d.year == 2026 for d in nyse.holidays) == 10
    assert all(d.weekday() < 5 for d in [*nse.holidays, *nyse.holidays])
