"""``troupe backtest -c FILE``: several instruments in one run through the actors, each
instrument's trades those of the reference loop, and the same report bytes run after run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_backtest_run import reference_trades, write_daily_csv
from troupe.cli import main

CONFIG = """
[backtest]
cash = 1000000
currency = "INR"
risk = "off"
qty = 10

[[data]]
instrument = "NSE:AAA"
file = "aaa.csv"

[[data]]
instrument = "NSE:BBB"
file = "bbb.csv"

[[strategies]]
use = "sma_cross"
params = { fast = 10, slow = 30 }
"""


def test_a_configured_run_trades_each_instrument_as_the_reference_loop(tmp_path: Path) -> None:
    # Arrange: two instruments' daily bars, one strategy on both
    rows = {
        "NSE:AAA": write_daily_csv(tmp_path / "aaa.csv", seed=4),
        "NSE:BBB": write_daily_csv(tmp_path / "bbb.csv", seed=5),
    }
    (tmp_path / "backtest.toml").write_text(CONFIG)

    # Act: twice, into two folders
    for out in ("one", "two"):
        assert (
            main(
                [
                    "backtest",
                    "-c",
                    str(tmp_path / "backtest.toml"),
                    "--out",
                    str(tmp_path / out),
                    "--quiet",
                ]
            )
            == 0
        )

    # Assert: per instrument, the reference loop's trades; byte-identical reports
    report = json.loads((tmp_path / "one" / "report.json").read_text())
    for instrument, series in rows.items():
        expected = [
            (str(entry), float(entry_price), str(exit_), float(exit_price))
            for entry, entry_price, exit_, exit_price in reference_trades(series, 10, 30)
        ]
        got = [
            (
                t["entry_time"][:10],
                float(t["entry_price"]),
                t["exit_time"][:10],
                float(t["exit_price"]),
            )
            for t in report["trades"]
            if t["instrument"] == instrument
        ]
        assert expected and got == expected, instrument
    assert sorted(report["statistics"]["by_instrument"]) == ["NSE:AAA", "NSE:BBB"]
    assert (tmp_path / "one" / "report.json").read_bytes() == (
        tmp_path / "two" / "report.json"
    ).read_bytes()
    assert "NSE:BBB" in (tmp_path / "one" / "report.html").read_text()


def test_a_bad_configuration_is_refused_with_every_problem(tmp_path: Path, capsys: object) -> None:
    # Arrange: a missing file and an unknown strategy
    (tmp_path / "backtest.toml").write_text(
        CONFIG.replace('use = "sma_cross"', 'use = "no_such_strategy"')
    )

    # Act
    code = main(["backtest", "-c", str(tmp_path / "backtest.toml"), "--out", str(tmp_path / "o")])

    # Assert
    assert code == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "aaa.csv" in err and "no_such_strategy" in err
    assert not (tmp_path / "o" / "report.json").exists()


def test_the_configured_stop_loss_exits_at_stops(tmp_path: Path) -> None:
    # Arrange: the same file with a 1 % stop-loss
    write_daily_csv(tmp_path / "aaa.csv", seed=4)
    write_daily_csv(tmp_path / "bbb.csv", seed=5)
    config = CONFIG.replace("qty = 10\n", "qty = 10\nstop_loss_pct = 1.0\n")
    (tmp_path / "backtest.toml").write_text(config)

    # Act
    code = main(
        ["backtest", "-c", str(tmp_path / "backtest.toml"), "--out", str(tmp_path / "o"), "--quiet"]
    )

    # Assert: stops hit, each exit at or below its stop on a long, never a short
    assert code == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    stops = [t for t in report["trades"] if t["exit_reason"] == "stop"]
    assert stops
    for trade in stops:
        assert float(trade["exit_price"]) <= float(trade["entry_price"]) * 0.99 + 1e-9
    assert {t["side"] for t in report["trades"]} == {"long"}
