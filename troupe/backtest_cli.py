"""``troupe backtest``: the one-instrument form (the configured multi-instrument form is not
built yet).

    troupe backtest --data FILE --instrument SYMBOL --strategy NAME [--param KEY=VALUE ...]
                    --qty N --cash AMOUNT [--fees MODEL] [--timezone TZ] [--risk off] --out DIR

Writes ``DIR/report.json``, ``DIR/equity.csv`` and ``DIR/fills.csv``, and prints a summary.
Exit codes as ``troupe``'s: 0 done, 2 a bad option or file (one line per problem).
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from adapters.replay import ReplayError
from engine.backtest.report import console_summary
from troupe.backtest import BacktestRun, run_backtest

EXIT_OK = 0
EXIT_USAGE = 2
FEE_MODELS = ("zero", "indian_equity_intraday")
NOT_YET = ("--stop-loss-pct", "--from", "--to", "--calendar", "--no-square-off", "-c", "--config")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="troupe backtest",
        description="Run a strategy over a CSV of bars through the engine's own actors on the "
        "simulated runtime, and write report.json, equity.csv and fills.csv.",
    )
    p.add_argument("--data", required=True, type=Path, help="CSV of bars (Date,Open,...)")
    p.add_argument("--instrument", required=True, help="the id the bars are for: NSE:INFY")
    p.add_argument("--strategy", required=True, help="a built-in name or package.module:Class")
    p.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a strategy parameter"
    )
    p.add_argument("--qty", required=True, type=int, help="units per entry")
    p.add_argument("--cash", required=True, help="start cash")
    p.add_argument("--fees", default="zero", choices=FEE_MODELS, help="fee model")
    p.add_argument("--timezone", default="UTC", help="time zone of the file's dates")
    p.add_argument("--risk", default="on", choices=("on", "off"), help="off: only cash checked")
    p.add_argument("--out", required=True, type=Path, help="folder for the report")
    return p


def main(argv: list[str]) -> int:
    for flag in NOT_YET:
        if flag in argv:
            print(
                f"troupe backtest: {flag} is not supported yet (the one-instrument form takes "
                "--data --instrument --strategy --param --qty --cash --fees --timezone --risk "
                "--out)",
                file=sys.stderr,
            )
            return EXIT_USAGE
    args = parser().parse_args(argv)
    problems: list[str] = []
    params = _params(args.param, problems)
    try:
        cash = Decimal(args.cash)
        if not cash.is_finite() or cash <= 0:
            raise InvalidOperation
    except InvalidOperation:
        problems.append(f"--cash: expected an amount > 0, got {args.cash!r}")
        cash = Decimal(0)
    if args.qty < 1:
        problems.append(f"--qty: expected a whole number of units >= 1, got {args.qty}")
    if problems:
        for problem in problems:
            print(f"troupe backtest: {problem}", file=sys.stderr)
        return EXIT_USAGE
    run = BacktestRun(
        data=args.data,
        instrument=args.instrument,
        strategy=args.strategy,
        params=params,
        qty=args.qty,
        cash=cash,
        fees=args.fees,
        timezone=args.timezone,
        risk=args.risk == "on",
        out=args.out,
    )
    try:
        result = run_backtest(run)
    except (ValueError, ReplayError, ImportError) as exc:
        print(f"troupe backtest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(console_summary(result.report))
    print(f"{result.bars} bars; written: {', '.join(str(p) for p in result.files)}")
    return EXIT_OK


def _params(items: list[str], problems: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a value is read as JSON when it can be (numbers, true/false),
    else kept as text."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            problems.append(f"--param: expected KEY=VALUE, got {item!r}")
            continue
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params
