"""Bars held as columns give back the bars they were made from, field for field."""

from __future__ import annotations

import msgspec
import pytest

from adapters.replay.bar_series import BarSeries
from tests.test_bars_replay import bars


def test_the_bars_come_back_as_they_went_in() -> None:
    # Arrange: bars as a file's replay makes them (no trade count, known at the close, the
    # typical price as vwap), one of them without volume (its vwap is the close)
    made = []
    for i, bar in enumerate(bars("A", 5)):
        volume = 0.0 if i == 2 else bar.volume
        made.append(
            msgspec.structs.replace(
                bar,
                volume=volume,
                trade_count=0,
                ts_init=bar.ts_close,
                vwap=(bar.high + bar.low + bar.close) / 3 if volume else bar.close,
            )
        )

    # Act
    series = BarSeries.of_bars("A", "1m", made)
    copy = BarSeries(
        "A",
        "1m",
        series.ts_event.tolist(),
        series.ts_close.tolist(),
        (
            series.open.tolist(),
            series.high.tolist(),
            series.low.tolist(),
            series.close.tolist(),
            series.volume.tolist(),
        ),
    )

    # Assert
    assert len(series) == 5
    assert list(series) == made == list(copy)
    assert series[-1] == made[-1]
    assert series[1:3] == made[1:3]
    with pytest.raises(IndexError):
        series[5]
