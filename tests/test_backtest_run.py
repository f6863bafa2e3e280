"""A one-instrument backtest through the engine's actors on the simulated runtime, against an
independent few-line reference loop that follows the fill rules; and the same inputs giving
the same report.json bytes."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import talib

from troupe.backtest import BacktestRun, run_backtest
from troupe.cli import main

BARS = 400


def write_daily_csv(
    path: Path, seed: int = 4, start: dt.date = dt.date(2021, 1, 4)
) -> list[dict[str, Any]]:
    """A random-walk daily series in the common ``Date,Open,...,Adj Close,Volume`` layout."""
    draw = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(draw.normal(0, 0.015, BARS)))
    opens = close * np.exp(draw.normal(0, 0.004, BARS))
    rows = []
    day = start
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for i in range(BARS):
        o, c = round(float(opens[i]), 2), round(float(close[i]), 2)
        h, low = round(max(o, c) * 1.005, 2), round(min(o, c) * 0.995, 2)
        rows.append({"date": day, "open": o, "close": c})
        lines.append(f"{day.isoformat()},{o},{h},{low},{c},{c},{1000 + i}")
        day += dt.timedelta(days=1)
    path.write_text("\n".join(lines) + "\n")
    return rows


def reference_trades(
    rows: list[dict[str, Any]], fast: int, slow: int, first: int = 1, last: int | None = None
) -> list[tuple[Any, ...]]:
    """sma_cross, long only, in a few lines: a cross on bar t's close trades at bar t+1's
    open; an order made on the last bar never fills. ``first``..``last``: the rows traded
    (the averages warm from the rows before)."""
    closes = np.array([r["close"] for r in rows], dtype=float)
    f, s = talib.SMA(closes, fast), talib.SMA(closes, slow)
    trades, entry = [], None
    for t in range(max(first, 1), len(rows) - 1 if last is None else last):
        if np.isnan(s[t - 1]):
            continue
        up = f[t - 1] <= s[t - 1] and f[t] > s[t]
        down = f[t - 1] >= s[t - 1] and f[t] < s[t]
        if up and entry is None:
            entry = rows[t + 1]
        elif down and entry is not None:
            trades.append((entry["date"], entry["open"], rows[t + 1]["date"], rows[t + 1]["open"]))
            entry = None
    return trades


def trade_tuples(report: Any) -> list[tuple[Any, ...]]:
    """A report's trades as the reference loop gives them: entry day and price, exit day
    and price."""
    return [
        (
            dt.date.fromisoformat(t.entry_time[:10]),
            float(t.entry_price),
            dt.date.fromisoformat(t.exit_time[:10]),
            float(t.exit_price),
        )
        for t in report.trades
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("backtest")
    rows = write_daily_csv(folder / "daily.csv")

    def run(out: str) -> Any:
        return run_backtest(
            BacktestRun(
                data=folder / "daily.csv",
                instrument="NSE:TEST",
                strategy="sma_cross",
                params={"fast": 10, "slow": 30},
                qty=10,
                cash=Decimal("100000"),
                out=folder / out,
                risk=False,
            )
        )

    return run("first"), run("second"), rows


def test_the_trades_are_the_reference_loops(runs: tuple[Any, Any, list[dict[str, Any]]]) -> None:
    first, _, rows = runs
    expected = reference_trades(rows, 10, 30)
    assert len(expected) >= 3
    assert trade_tuples(first.report) == expected
    assert all(t.qty == 10 and t.exit_reason == "signal" for t in first.report.trades)
    # Every file report.json names is there: 2 orders (entry, exit) per trade in orders.csv.
    out = first.files[0].parent
    for name in (first.report.equity, first.report.orders, first.report.fills):
        assert (out / name).is_file(), name
    orders = (out / first.report.orders).read_text().splitlines()
    assert len(orders) - 1 == 2 * len(expected)


def test_the_same_inputs_give_the_same_report_bytes(
    runs: tuple[Any, Any, list[dict[str, Any]]],
) -> None:
    first, second, _ = runs
    one = (first.files[0]).read_bytes()
    two = (second.files[0]).read_bytes()
    assert one == two


def one_instrument_args(tmp_path: Path) -> list[str]:
    """The one-instrument form over a daily file written into ``tmp_path``, report in
    ``tmp_path/out``."""
    write_daily_csv(tmp_path / "daily.csv")
    return [
        "--data", str(tmp_path / "daily.csv"), "--instrument", "NSE:TEST",
        "--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=30",
        "--qty", "10", "--cash", "100000", "--risk", "off", "--out", str(tmp_path / "out"),
    ]  # fmt: skip


def test_the_command_runs_the_one_instrument_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = one_instrument_args(tmp_path)

    assert main(["backtest", *args]) == 0

    # A progress bar on stderr while it ran (the bar count), a summary on stdout after
    out, err = capsys.readouterr()
    assert "backtest: 100%" in err and "400/400" in err
    assert "Trades" in out and "report.json" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    page = (tmp_path / "out" / "report.html").read_text()
    assert (
        "<svg" in page
        and "<script" not in page
        and "http" not in page.lower().replace("http-equiv", "")
    )
    assert len(report["trades"]) == len(
        reference_trades(write_daily_csv(tmp_path / "x.csv"), 10, 30)
    )
    assert main(["backtest", *args[:-2], "--out", str(tmp_path / "o2"), "--param", "nope"]) == 2


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (
            ["--stop-loss-pct", "150"],
            "--stop-loss-pct: expected a percentage above 0 and below 100, got 150.0",
        ),
        (["--from", "2021-13-01"], "--from: expected a date YYYY-MM-DD, got '2021-13-01'"),
        (
            ["--from", "2021-03-01", "--to", "2021-02-01"],
            "--from 2021-03-01 is after --to 2021-02-01",
        ),
        (["--timezone", "Mars/Olympus"], "--timezone: 'Mars/Olympus' is not a known time zone"),
        (
            ["-c", "backtest.toml"],
            "--data, --instrument, --strategy, --param, --qty, --cash, --risk: not with -c",
        ),
        (["--qty", "0"], "--qty: expected a whole number of units >= 1, got 0"),
    ],
)
def test_the_command_refuses_bad_options_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], named: str
) -> None:
    args = one_instrument_args(tmp_path)

    assert main(["backtest", *args, *extra]) == 2

    assert named in capsys.readouterr().err
    assert not (tmp_path / "out" / "report.json").exists()


def test_the_summary_says_why_signals_did_not_trade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: 2021 bars with the Indian fee table, whose rates start on 2023-04-01
    args = [*one_instrument_args(tmp_path), "--fees", "indian_equity_intraday", "--quiet"]

    # Act
    assert main(["backtest", *args]) == 0

    # Assert: no trade, and the summary names the broker's reason
    out = capsys.readouterr().out
    assert "Trades: none closed" in out
    assert "orders rejected" in out and "no fee rates in force on 2021-" in out
