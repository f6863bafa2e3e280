"""Exchange time zones: fixed offsets, daylight saving, gaps, folds and round trips."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.timezones import (
    NSE_TZ,
    NYSE_TZ,
    at_local_time,
    exchange_date,
    from_exchange_time,
    iso,
    to_exchange_time,
)


def utc_ns(year: int, month: int, day: int, hour: int, minute: int) -> int:
    """Independent of the module under test: whole seconds are exact as float timestamps."""
    seconds = int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())
    return seconds * 1_000_000_000


# Instants from 1970 to 2100, at ns resolution.
instants = st.integers(min_value=0, max_value=4_102_444_800 * 1_000_000_000)


def test_ist_has_no_daylight_saving() -> None:
    for day in (date(2024, 1, 2), date(2024, 7, 1)):
        assert at_local_time(day, "09:15", NSE_TZ) == utc_ns(day.year, day.month, day.day, 3, 45)


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [(date(2024, 1, 2), 14), (date(2024, 7, 1), 13)],
    ids=["winter EST", "summer EDT"],
)
def test_new_york_open_moves_with_daylight_saving(day: date, utc_hour: int) -> None:
    assert at_local_time(day, time(9, 30), NYSE_TZ) == utc_ns(
        day.year, day.month, day.day, utc_hour, 30
    )


def test_a_time_in_the_spring_gap_is_refused() -> None:
    with pytest.raises(ValueError, match=r"2024-03-10T02:30:00 does not exist in America/New_York"):
        from_exchange_time("2024-03-10T02:30", NYSE_TZ)


def test_a_time_in_the_autumn_fold_is_refused() -> None:
    with pytest.raises(ValueError, match=r"2024-11-03T01:30:00 is ambiguous in America/New_York"):
        from_exchange_time(datetime(2024, 11, 3, 1, 30), NYSE_TZ)


def test_times_either_side_of_the_gap_and_fold_are_accepted() -> None:
    assert from_exchange_time("2024-03-10T01:59", NYSE_TZ) == utc_ns(2024, 3, 10, 6, 59)
    assert from_exchange_time("2024-03-10T03:00", NYSE_TZ) == utc_ns(2024, 3, 10, 7, 0)
    assert from_exchange_time("2024-11-03T00:59", NYSE_TZ) == utc_ns(2024, 11, 3, 4, 59)
    assert from_exchange_time("2024-11-03T02:00", NYSE_TZ) == utc_ns(2024, 11, 3, 7, 0)


def test_square_off_time_and_local_rendering() -> None:
    # Act
    square_off = at_local_time(date(2024, 1, 2), "15:15", NSE_TZ)

    # Assert
    assert square_off == utc_ns(2024, 1, 2, 9, 45)
    assert iso(square_off, NSE_TZ) == "2024-01-02T15:15:00+05:30"
    assert exchange_date(square_off, NSE_TZ) == date(2024, 1, 2)


def test_exchange_date_follows_the_exchange_not_utc() -> None:
    # 20:00 UTC on 2 January is already 3 January in India, still 2 January in New York.
    ts = utc_ns(2024, 1, 2, 20, 0)

    assert exchange_date(ts, NSE_TZ) == date(2024, 1, 3)
    assert exchange_date(ts, NYSE_TZ) == date(2024, 1, 2)


@pytest.mark.parametrize("tz", [NSE_TZ, NYSE_TZ])
@given(ts=instants)
def test_round_trip_is_exact_to_the_microsecond(tz: str, ts: int) -> None:
    # Arrange
    to_the_us = ts - ts % 1_000

    # Act
    local = to_exchange_time(ts, tz)

    # Assert
    assert local.utcoffset() is not None
    assert from_exchange_time(local, tz) == to_the_us
    assert from_exchange_time(iso(ts, tz), tz) == to_the_us


def test_an_offset_that_disagrees_with_the_zone_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\+05:30"):
        from_exchange_time("2024-01-02T09:30:00+05:30", NYSE_TZ)


@pytest.mark.parametrize(
    "call",
    [
        lambda: to_exchange_time(0, "Mars/Olympus_Mons"),
        lambda: from_exchange_time("2024-01-02T09:15", "Mars/Olympus_Mons"),
        lambda: exchange_date(0, "Mars/Olympus_Mons"),
        lambda: at_local_time(date(2024, 1, 2), "09:15", "Mars/Olympus_Mons"),
        lambda: iso(0, "Mars/Olympus_Mons"),
    ],
    ids=["to_exchange_time", "from_exchange_time", "exchange_date", "at_local_time", "iso"],
)
def test_unknown_zone_is_refused_by_name(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        call()


@pytest.mark.parametrize("bad", ["9.15", "25:00", "quarter past"])
def test_malformed_local_time_is_refused_by_value(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
        at_local_time(date(2024, 1, 2), bad, NSE_TZ)
