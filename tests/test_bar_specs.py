"""Bar intervals and bar specs: the strings a configuration names bars with."""

from __future__ import annotations

import re

import pytest

from engine.bars import (
    INTERVALS,
    BarsFromBars,
    TickBars,
    TimeBars,
    VolumeBars,
    parse_bar_spec,
    parse_bar_specs,
    parse_interval,
)
from engine.bars.interval import MINUTE_NS


def test_intervals_parse_and_a_bad_one_names_itself_and_the_allowed_ones() -> None:
    assert parse_interval("5m").ns == 5 * MINUTE_NS
    assert [parse_interval(name).ns for name in INTERVALS] == sorted(INTERVALS.values())

    with pytest.raises(ValueError) as error:
        parse_interval("2m")

    assert str(error.value) == (
        "bar interval '2m' is not supported; allowed: 1s, 5s, 15s, 30s, 1m, 3m, 5m, 15m, 30m, "
        "1h, 1d"
    )


def test_bar_spec_strings() -> None:
    assert parse_bar_spec("1m") == TimeBars("1m")
    assert parse_bar_spec("100t") == TickBars(100)
    assert parse_bar_spec("5000v") == VolumeBars(5000.0)
    assert parse_bar_spec("0.5v").label == "0.5v"
    assert parse_bar_spec("5m from 1m") == BarsFromBars("5m", "1m")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("7m", "bar spec '7m' is not an interval (1s, 5s"),
        ("0t", "bar spec '0t': tick bars need a whole number of trades >= 1, got 0"),
        ("-5v", "bar spec '-5v': volume bars need a finite volume > 0, got -5.0"),
        ("5m from 3m", "bar spec '5m from 3m': 5m bars cannot be built from 3m bars: the"),
        ("1m from 5m", "bar spec '1m from 5m': 1m bars cannot be built from 5m bars: the"),
        ("5m from 2m", "bar spec '5m from 2m': bar interval '2m' is not supported; allowed"),
    ],
)
def test_bad_bar_specs_are_refused_with_the_value(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_bar_spec(text)


def test_bar_spec_lists_need_their_sources_and_unique_labels() -> None:
    assert parse_bar_specs(["1m", "5m from 1m", "15m from 5m"])[2] == BarsFromBars("15m", "5m")
    with pytest.raises(ValueError, match=r"'5m from 1m' needs '1m' time bars"):
        parse_bar_specs(["5m from 1m"])
    with pytest.raises(ValueError, match=r"bars '5m' are configured more than once"):
        parse_bar_specs(["1m", "5m", "5m from 1m"])
