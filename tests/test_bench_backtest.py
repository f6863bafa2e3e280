"""The backtest bench: its figures' keys and types at the quick sizes, its bars, and the trade
comparison with backtrader (against an independent TA-Lib loop when backtrader is importable).
Its speeds are figures, never asserted."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import talib

import troupe.backtest
from bench import backtest, backtrader_peer
from bench.backtest import (
    FAST,
    QTY,
    QUICK,
    SLOW,
    DailyBars,
    OneRun,
    Results,
    daily_bars,
    our_trades,
    price,
    trades_equal,
    write_csv,
)
from bench.backtrader_peer import NOT_INSTALLED, Trade
from bench.figures import table
from engine.backtest.report import TradeRow
from troupe.cli import BENCHMARKS

NUMBERS = (
    "cpu_count",
    "bars_1x",
    "closes_moved_off_ties",
    "trades_1x",
    "bars_per_s_1x100k",
    "instruments_multi",
    "bars_per_instrument_multi",
)
BACKTRADER_KEYS = (
    "backtrader",
    "backtrader_bars_per_s",
    "ratio_vs_backtrader",
    "trades_backtrader",
    "trades_equal_backtrader",
)


def finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def reference_trades(bars: DailyBars, fast: int = FAST, slow: int = SLOW) -> list[Trade]:
    """sma_cross, long only, in a few lines (TA-Lib SMA): a cross on bar t's close trades at
    bar t+1's open; an order made on the last bar never fills."""
    closes = np.array(bars.closes, dtype=float) / 100
    f, s = talib.SMA(closes, fast), talib.SMA(closes, slow)
    trades, entry = [], None
    for t in range(1, len(bars) - 1):
        if np.isnan(s[t - 1]):
            continue
        up = f[t - 1] <= s[t - 1] and f[t] > s[t]
        down = f[t - 1] >= s[t - 1] and f[t] < s[t]
        if up and entry is None:
            entry = t + 1
        elif down and entry is not None:
            opened = (bars.day(entry), price(bars.opens[entry]))
            trades.append(Trade(*opened, bars.day(t + 1), price(bars.opens[t + 1]), QTY))
            entry = None
    return trades


@pytest.fixture(scope="module")
def figures() -> Results:
    return backtest.run(quick=True)


# -- the figures --------------------------------------------------------------------------------


def test_reports_the_sizes_and_finite_figures(figures: Results) -> None:
    for key in NUMBERS:
        assert finite(figures[key]), (key, figures[key])
    assert isinstance(figures["python"], str) and figures["python"].startswith("3.")
    assert figures["bars_1x"] == QUICK.bars_1x
    assert figures["instruments_multi"] == QUICK.instruments_multi
    assert figures["bars_per_instrument_multi"] == QUICK.bars_per_instrument_multi
    assert isinstance(figures["trades_1x"], int) and figures["trades_1x"] > 0


def test_the_multi_instrument_figure_is_a_number_or_null_with_a_reason(figures: Results) -> None:
    if backtest.plan_runner() is None:
        assert figures["bars_per_s_100x10k"] is None
        assert isinstance(figures["bars_per_s_100x10k_reason"], str)
    else:
        assert finite(figures["bars_per_s_100x10k"])
        assert isinstance(figures["trades_multi"], int) and figures["trades_multi"] > 0
        assert "bars_per_s_100x10k_reason" not in figures


def test_the_backtrader_figures_are_there_or_null(figures: Results) -> None:
    if not backtrader_peer.installed():
        assert figures["backtrader"] == NOT_INSTALLED
        assert all(figures[key] is None for key in BACKTRADER_KEYS[1:])
        return
    assert isinstance(figures["backtrader"], str) and figures["backtrader"] != NOT_INSTALLED
    for key in ("backtrader_bars_per_s", "ratio_vs_backtrader", "trades_backtrader"):
        assert finite(figures[key]), (key, figures[key])
    assert isinstance(figures["trades_equal_backtrader"], bool)


def test_json_is_one_object_with_every_figure(
    figures: Results, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(backtest, "run", lambda quick, progress: figures)

    assert backtest.main(["--json", "--quick"]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == set(figures)
    assert printed["backtrader"] == figures["backtrader"]
    assert isinstance(printed["bars_per_s_1x100k"], int | float)
    assert BENCHMARKS["backtest"] == "bench.backtest"


def test_the_table_shows_null_and_booleans() -> None:
    shown = table({"a": None, "bb": True, "c": 1234.5, "d": "x"}).splitlines()
    assert [line.split() for line in shown] == [
        ["a", "null"],
        ["bb", "true"],
        ["c", "1,234"],
        ["d", "x"],
    ]


def test_without_backtrader_its_figures_are_null(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backtrader_peer, "installed", lambda: False)
    one = OneRun(figures={"bars_per_s_1x100k": 1.0}, data=Path("unused.csv"), trades=[])

    got = backtest.bench_backtrader(one)

    assert got["backtrader"] == NOT_INSTALLED
    assert all(got[key] is None for key in BACKTRADER_KEYS[1:])


def test_without_run_plan_the_multi_figure_is_null_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delattr(troupe.backtest, "run_plan", raising=False)

    got = backtest.bench_multi(tmp_path, 2, 50)

    assert got["bars_per_s_100x10k"] is None
    assert got["bars_per_s_100x10k_reason"] == "troupe.backtest.run_plan does not exist yet"


def test_the_multi_instrument_plan(tmp_path: Path) -> None:
    plan = backtest.multi_plan(tmp_path, 3, 40)

    assert [d.instrument for d in plan.data] == ["BENCH:S000", "BENCH:S001", "BENCH:S002"]
    assert all(d.path.is_file() for d in plan.data)
    assert len(plan.data[0].path.read_text().splitlines()) == 41
    (strategy,) = plan.strategies
    assert (strategy.use, strategy.interval, strategy.params) == (
        "sma_cross",
        "1d",
        {"fast": 10, "slow": 30},
    )
    assert plan.limits.sizing_quantity == QTY and not plan.limits.bracket_exits
    assert plan.limits.max_open_trades == 0  # checks off
    assert plan.cash == Decimal("300000")


# -- the bars -----------------------------------------------------------------------------------


def test_the_bars_are_seeded_whole_cents_from_1970_with_no_equal_averages(tmp_path: Path) -> None:
    bars = daily_bars(3000)
    assert bars == daily_bars(3000)
    assert bars != daily_bars(3000, seed=8)
    for o, h, low, c in zip(bars.opens, bars.highs, bars.lows, bars.closes, strict=True):
        assert 1 <= low <= min(o, c) and h >= max(o, c)
    closes = bars.closes
    for t in range(SLOW - 1, len(closes)):
        assert SLOW * sum(closes[t - FAST + 1 : t + 1]) != FAST * sum(closes[t - SLOW + 1 : t + 1])
    lines = write_csv(tmp_path / "d.csv", bars).read_text().splitlines()
    assert lines[0] == "Date,Open,High,Low,Close,Adj Close,Volume"
    assert lines[1].startswith("1970-01-01,")
    assert lines[-1].startswith(bars.day(2999).isoformat())
    assert bars.day(99_999) == dt.date(2243, 10, 16)  # 100k days fit in int64 nanoseconds


def test_a_tie_is_moved_up_a_cent() -> None:
    closes = [100] * 40
    moved = backtest._move_off_ties(closes, FAST, SLOW)
    assert moved > 0
    assert closes[SLOW - 1] == 101


# -- the trade comparison -----------------------------------------------------------------------


def _trade(entry: str, exit_price: str, qty: int = 10) -> Trade:
    return Trade(dt.date(2024, 1, 2), Decimal(entry), dt.date(2024, 1, 9), Decimal(exit_price), qty)


def test_trades_compare_prices_as_numbers_and_everything_else_exactly() -> None:
    ours = [_trade("101.20", "99.00"), _trade("98.10", "99.50")]
    assert trades_equal(ours, [_trade("101.2", "99"), _trade("98.1", "99.5")])
    assert not trades_equal(ours, ours[::-1])
    assert not trades_equal(ours, ours[:1])
    assert not trades_equal(ours, [ours[0], _trade("98.10", "99.50", qty=20)])
    assert not trades_equal(ours, [ours[0], _trade("98.11", "99.50")])


def test_our_trades_come_from_the_report_rows() -> None:
    row = TradeRow(
        instrument="BENCH:ONE",
        strategy="sma_cross",
        side="long",
        qty=10,
        entry_time="1970-02-01T00:00:00+00:00",
        entry_price=Decimal("101.25"),
        exit_time="1970-03-01T00:00:00+00:00",
        exit_price=Decimal("99.00"),
        pnl=Decimal("-22.50"),
        gross_pnl=Decimal("-22.50"),
        fees=Decimal("0"),
        exit_reason="signal",
    )
    assert our_trades([row]) == [
        Trade(dt.date(1970, 2, 1), Decimal("101.25"), dt.date(1970, 3, 1), Decimal("99"), 10)
    ]
    short = TradeRow(**{**{f: getattr(row, f) for f in row.__struct_fields__}, "side": "short"})
    assert our_trades([short])[0].qty == -10


def _backtrader() -> None:
    if not backtrader_peer.installed():
        pytest.skip("backtrader is not installed (make bench-backtest installs it in .venv-bench)")


def test_backtraders_trades_are_the_reference_loops_on_the_quick_bars(tmp_path: Path) -> None:
    _backtrader()
    bars = daily_bars(QUICK.bars_1x)
    data = write_csv(tmp_path / "quick.csv", bars)

    peer = backtrader_peer.run_peer(data, fast=FAST, slow=SLOW, qty=QTY, cash=Decimal("100000"))

    expected = reference_trades(bars)
    assert len(expected) > 100
    assert peer.bars == QUICK.bars_1x
    assert trades_equal(peer.trades, expected)
    assert not trades_equal(peer.trades, expected[:-1])


def test_trades_equal_backtrader_says_whether_ours_are_backtraders(tmp_path: Path) -> None:
    _backtrader()
    one = backtest.bench_one(tmp_path, QUICK.bars_1x)

    got = backtest.bench_backtrader(one)

    # backtrader's trades are the reference loop's (the test above): ours equal theirs exactly
    # when ours are the reference loop's.
    expected = reference_trades(daily_bars(QUICK.bars_1x))
    assert got["trades_equal_backtrader"] is (one.trades == expected)
    assert got["trades_backtrader"] == len(expected)
