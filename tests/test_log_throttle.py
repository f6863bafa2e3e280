"""Bounded-rate logging: one line per key per interval, with the count held back."""

from __future__ import annotations

import pytest

from engine.log_throttle import LogThrottle

MINUTE = 60_000_000_000


def test_first_line_of_each_key_is_written_then_one_per_interval() -> None:
    # Arrange
    throttle = LogThrottle(MINUTE)

    # Act
    first = [throttle.admit("nan", 0), throttle.admit("crossed", 0)]
    quiet = [throttle.admit("nan", t) for t in range(1, 100)]
    held = throttle.held_back("nan")
    late = throttle.admit("nan", MINUTE)

    # Assert: 99 held back, then said in the next line
    assert first == [0, 0]
    assert quiet == [None] * 99
    assert held == 99
    assert late == 99
    assert throttle.held_back("nan") == 0
    assert throttle.admit("nan", MINUTE + 1) is None


def test_a_zero_interval_writes_every_line() -> None:
    throttle = LogThrottle(0)

    assert [throttle.admit("k", 5) for _ in range(3)] == [0, 0, 0]


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="-1"):
        LogThrottle(-1)
