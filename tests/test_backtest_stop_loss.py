"""``--stop-loss-pct`` through the engine's actors: an SMA(10)/SMA(30) ``sma_cross`` run with a
protective stop P % below each entry's fill, against an independent few-line reference loop
that follows the fill rules for bars.

The reference, long only: a cross on bar t's close trades at bar t+1's open; an order made on
the last bar never fills. An entry at open E has its stop at S = floor_tick(E x (1 - P/100)),
live from the entry's fill: on the entry's bar, a low at or below S exits at S; on a later
bar, an exit signal of the bar before fills at the open (its close canceled the stop), else
an open at or below S exits at the open, else a low at or below S exits at S. An exit signal
for a position the stop already closed is ignored. A fill at a bar's open is stamped with the
bar's start, one inside the bar with its end (the next day's 00:00 for a daily bar).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import talib

from troupe.backtest import BacktestResult, BacktestRun, run_backtest

BARS = 500
P = 2.0
TICK = Decimal("0.01")
Row = dict[str, Any]
Trade = tuple[str, Decimal, str, Decimal, str]
"""(entry time, entry price, exit time, exit price, exit reason)."""


def write_gappy_daily_csv(path: Path, seed: int = 51) -> list[Row]:
    """A random-walk daily series (``Date,Open,...,Adj Close,Volume``) that gaps at the open
    and has wide ranges, so that 2 % stops are hit on entry bars, inside later bars and by
    gaps."""
    draw = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(draw.normal(0, 0.015, BARS)))
    gap = np.exp(draw.normal(0, 0.006, BARS))
    reach = np.abs(draw.normal(0, 0.008, (2, BARS)))
    rows: list[Row] = []
    day = dt.date(2021, 1, 4)
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for i in range(BARS):
        o = round(float((close[i - 1] if i else close[0]) * gap[i]), 2)
        c = round(float(close[i]), 2)
        h = round(max(o, c) * (1 + float(reach[0, i])), 2)
        low = round(min(o, c) * (1 - float(reach[1, i])), 2)
        rows.append({"date": day, "open": o, "high": h, "low": low, "close": c})
        lines.append(f"{day.isoformat()},{o},{h},{low},{c},{c},{1000 + i}")
        day += dt.timedelta(days=1)
    path.write_text("\n".join(lines) + "\n")
    return rows


def _at_open(row: Row) -> str:
    return f"{row['date'].isoformat()}T00:00:00+00:00"


def _at_close(row: Row) -> str:
    return f"{(row['date'] + dt.timedelta(days=1)).isoformat()}T00:00:00+00:00"


def reference_trades(rows: list[Row], fast: int, slow: int, pct: float) -> list[tuple[Trade, str]]:
    """sma_cross long only with a stop ``pct`` % below each entry (module doc); each trade
    with how it ended: ``entry bar``, ``gap``, ``in bar`` (stops) or ``signal`` (``signal,
    low through the stop`` when the exit's bar also reached the canceled stop)."""
    closes = np.array([r["close"] for r in rows], dtype=float)
    f, s = talib.SMA(closes, fast), talib.SMA(closes, slow)
    trades: list[tuple[Trade, str]] = []
    held: tuple[Row, Decimal, Decimal] | None = None  # entry bar, entry price, stop
    enter = leave = False  # decided on the bar before
    for t, row in enumerate(rows):
        o, low = Decimal(repr(row["open"])), Decimal(repr(row["low"]))  # as the file has them
        if enter:
            stop = (o * (1 - Decimal(repr(pct)) / 100) / TICK).to_integral(ROUND_FLOOR) * TICK
            held = (row, o, stop)
            if low <= stop:  # live from the fill: the rest of the entry's bar
                trades.append(((_at_open(row), o, _at_close(row), stop, "stop"), "entry bar"))
                held = None
        elif held is not None:
            first, entry, stop = held
            if leave:
                # The stop was canceled at the signal's close: a low through it changes nothing.
                how = "signal, low through the stop" if low <= stop else "signal"
                trades.append(((_at_open(first), entry, _at_open(row), o, "signal"), how))
                held = None
            elif o <= stop:
                trades.append(((_at_open(first), entry, _at_open(row), o, "stop"), "gap"))
                held = None
            elif low <= stop:
                trades.append(((_at_open(first), entry, _at_close(row), stop, "stop"), "in bar"))
                held = None
        enter = leave = False
        if t == 0 or t == len(rows) - 1 or np.isnan(s[t - 1]):
            continue  # no cross yet; or made on the last bar: it never fills
        up = f[t - 1] <= s[t - 1] and f[t] > s[t]
        down = f[t - 1] >= s[t - 1] and f[t] < s[t]
        enter, leave = up and held is None, down and held is not None
    return trades


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[BacktestResult, list[Row]]:
    folder = tmp_path_factory.mktemp("stop_loss")
    rows = write_gappy_daily_csv(folder / "daily.csv")
    result = run_backtest(
        BacktestRun(
            data=folder / "daily.csv",
            instrument="NSE:TEST",
            strategy="sma_cross",
            params={"fast": 10, "slow": 30},
            qty=10,
            cash=Decimal("100000"),
            out=folder / "out",
            risk=False,
            stop_loss_pct=P,
        )
    )
    return result, rows


def test_the_trades_with_a_stop_loss_are_the_reference_loops(
    run: tuple[BacktestResult, list[Row]],
) -> None:
    result, rows = run
    reference = reference_trades(rows, 10, 30, P)
    expected = [trade for trade, _ in reference]
    # The data exercises every path: stops on the entry's own bar, inside a later bar and at a
    # gapped open, and exits by signal, one on a bar that also reached the (canceled) stop.
    assert {how for _, how in reference} == {
        "entry bar",
        "in bar",
        "gap",
        "signal",
        "signal, low through the stop",
    }
    assert sum(1 for trade in expected if trade[4] == "stop") > 0
    # ... and an exit signal on the entry's own bar (its close comes before the ledger's
    # report of the entry reaches risk in the actors' order of events).
    assert any(
        reason == "signal" and _next_day(entry_time) == exit_time
        for entry_time, _, exit_time, _, reason in expected
    )

    got = [
        (t.entry_time, t.entry_price, t.exit_time, t.exit_price, t.exit_reason)
        for t in result.report.trades
    ]

    assert got == expected
    assert all(t.qty == 10 and t.side == "long" for t in result.report.trades)


def test_no_position_is_ever_reversed_or_doubled(run: tuple[BacktestResult, list[Row]]) -> None:
    result, _ = run
    position = 0
    for fill in result.fills:
        position += fill.last_qty if fill.side.value == "BUY" else -fill.last_qty
        assert position in (0, 10), fill
    assert len(result.report.open_positions) == (1 if position else 0)


def _next_day(iso: str) -> str:
    return f"{(dt.date.fromisoformat(iso[:10]) + dt.timedelta(days=1)).isoformat()}{iso[10:]}"
