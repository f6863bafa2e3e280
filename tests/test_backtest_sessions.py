"""A backtest's date range and market sessions: ``--from``/``--to`` with the bars before the
range as warm-up history, and ``--calendar`` with square-off (or ``--no-square-off``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.test_backtest_run import reference_trades, trade_tuples, write_daily_csv
from troupe.backtest import BacktestRun, run_backtest

IST = "Asia/Kolkata"


def test_from_and_to_trade_only_inside_the_range_warm_from_the_bars_before(
    tmp_path: Path,
) -> None:
    # Arrange: 400 daily bars; the range starts on bar 100 and ends on bar 300
    rows = write_daily_csv(tmp_path / "daily.csv")
    first, last = 100, 300

    # Act
    result = run_backtest(
        BacktestRun(
            data=tmp_path / "daily.csv",
            instrument="NSE:TEST",
            strategy="sma_cross",
            params={"fast": 10, "slow": 30},
            qty=10,
            cash=Decimal("100000"),
            risk=False,
            start=rows[first]["date"],
            end=rows[last]["date"],
            out=tmp_path / "out",
        )
    )

    # Assert: the trades of a run whose averages were warm on the first day
    expected = reference_trades(rows, 10, 30, first, last)
    got = trade_tuples(result.report)
    assert expected and got == expected
    assert result.bars == last - first + 1
    assert result.report.run.start is not None and result.report.run.start[:10] > str(
        rows[0]["date"]
    )


def test_history_before_1970_trades_as_the_reference_loop(tmp_path: Path) -> None:
    # Arrange: daily bars from 1962 (times before the epoch are negative nanoseconds)
    rows = write_daily_csv(tmp_path / "old.csv", start=dt.date(1962, 1, 1))

    # Act
    result = run_backtest(
        BacktestRun(
            data=tmp_path / "old.csv",
            instrument="NSE:OLD",
            strategy="sma_cross",
            params={"fast": 10, "slow": 30},
            qty=10,
            risk=False,
            out=tmp_path / "out",
        )
    )

    # Assert
    expected = reference_trades(rows, 10, 30)
    got = trade_tuples(result.report)
    assert expected and got == expected


def write_intraday_csv(path: Path) -> None:
    """Two NSE sessions of 1-minute bars: flat, then rising from 14:00 on the first day (an
    entry that is still open at 15:15); flat, then falling from 10:00 on the second."""
    lines = ["Date,Time,Open,High,Low,Close,Volume"]
    price = 100.0
    for day, turn, step in (
        (dt.date(2025, 1, 15), dt.time(14, 0), 0.1),
        (dt.date(2025, 1, 16), dt.time(10, 0), -0.1),
    ):
        moment = dt.datetime.combine(day, dt.time(9, 15))
        end = dt.datetime.combine(day, dt.time(15, 30))
        while moment < end:
            if moment.time() >= turn:
                price = round(price + step, 2)
            lines.append(
                f"{day.isoformat()},{moment.strftime('%H:%M')},{price},{price + 0.05},"
                f"{price - 0.05},{price},1000"
            )
            moment += dt.timedelta(minutes=1)
    path.write_text("\n".join(lines) + "\n")


def intraday_run(tmp_path: Path, *, square_off: bool) -> Any:
    write_intraday_csv(tmp_path / "minutes.csv")
    return run_backtest(
        BacktestRun(
            data=tmp_path / "minutes.csv",
            instrument="NSE:TEST",
            strategy="sma_cross",
            params={"fast": 3, "slow": 5},
            qty=10,
            cash=Decimal("100000"),
            risk=False,
            timezone=IST,
            calendar="NSE",
            square_off=square_off,
            out=tmp_path / ("squared" if square_off else "kept"),
        )
    )


def test_with_the_nse_calendar_an_open_position_is_squared_off_at_1515(tmp_path: Path) -> None:
    # Act
    result = intraday_run(tmp_path, square_off=True)

    # Assert: entered after 14:00, closed at market at 15:15 IST; flat overnight
    trades = result.report.trades
    assert [(t.exit_reason, t.exit_time) for t in trades] == [
        ("square_off", "2025-01-15T15:15:00+05:30")
    ]
    assert trades[0].entry_time.startswith("2025-01-15T14:0")
    assert result.report.open_positions == []


def test_no_square_off_keeps_the_position_overnight_until_its_signal(tmp_path: Path) -> None:
    # Act
    result = intraday_run(tmp_path, square_off=False)

    # Assert: the same entry, held overnight, closed by the next day's cross
    trades = result.report.trades
    assert len(trades) == 1
    assert trades[0].entry_time.startswith("2025-01-15T14:0")
    assert trades[0].exit_reason == "signal"
    assert trades[0].exit_time.startswith("2025-01-16T10:0")
