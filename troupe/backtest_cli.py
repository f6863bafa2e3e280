"""``troupe backtest``: a configured multi-instrument run, or the one-instrument form.

    troupe backtest -c FILE [--out DIR] [--quiet]
    troupe backtest --data FILE --instrument SYMBOL --strategy NAME [--param KEY=VALUE ...]
                    --qty N --cash AMOUNT [--stop-loss-pct P] [--fees MODEL] [--timezone TZ]
                    [--from DATE] [--to DATE] [--calendar NAME] [--risk off]
                    [--no-square-off] --out DIR

Writes ``DIR/report.json``, ``equity.csv``, ``fills.csv``, ``orders.csv`` and ``report.html``,
draws a progress bar on stderr while it runs (not with ``--quiet``) and prints a summary.
Exit codes as ``troupe``'s: 0 done, 2 a bad option or file (one line per problem).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.replay import ReplayError
from engine.backtest.plan import BacktestPlan
from engine.backtest.report import console_summary
from engine.calendars import CALENDAR_NAMES
from engine.config.errors import ConfigError
from engine.logs import configure_logging
from troupe.backtest import BacktestResult, BacktestRun, plan_of, run_plan
from troupe.backtest_config import load_backtest_config

EXIT_OK = 0
EXIT_USAGE = 2
FEE_MODELS = ("zero", "indian_equity_intraday")
ONE_INSTRUMENT = (
    "data", "instrument", "strategy", "param", "qty", "cash", "stop_loss_pct", "fees",
    "timezone", "start", "end", "calendar", "risk", "no_square_off",
)  # fmt: skip
REQUIRED = ("data", "instrument", "strategy", "qty", "cash", "out")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="troupe backtest",
        description="Run strategies over CSV files of bars through the engine's own actors on "
        "the simulated runtime, and write report.json, equity.csv, fills.csv, orders.csv and "
        "report.html. Either -c FILE (instruments, strategies, risk, fees, dates in TOML; see "
        "config/backtest.example.toml) or the one-instrument options.",
    )
    p.add_argument("-c", "--config", type=Path, help="a backtest configuration (TOML)")
    p.add_argument("--out", type=Path, help="folder for the report (with -c: overrides its out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    one = p.add_argument_group("the one-instrument form")
    one.add_argument("--data", type=Path, help="CSV of bars (Date,Open,High,Low,Close,...)")
    one.add_argument("--instrument", help="the id the bars are for: NSE:INFY")
    one.add_argument("--strategy", help="a built-in name or package.module:Class")
    one.add_argument(
        "--param", action="append", default=None, metavar="KEY=VALUE", help="a strategy parameter"
    )
    one.add_argument("--qty", type=int, help="units per entry")
    one.add_argument("--cash", help="start cash")
    one.add_argument(
        "--stop-loss-pct", type=float, metavar="P", help="each entry's stop P%% from its fill"
    )
    one.add_argument("--fees", choices=FEE_MODELS, help="fee model (default zero)")
    one.add_argument("--timezone", help="time zone of the file's dates (default UTC)")
    one.add_argument("--from", dest="start", metavar="DATE", help="first day traded, YYYY-MM-DD")
    one.add_argument("--to", dest="end", metavar="DATE", help="last day traded, YYYY-MM-DD")
    one.add_argument(
        "--calendar",
        choices=[n for n in CALENDAR_NAMES if n != "ALWAYS"],
        help="the market's sessions, holidays and square-off (default: every bar in session)",
    )
    one.add_argument("--risk", choices=("on", "off"), help="off: only available cash checked")
    one.add_argument(
        "--no-square-off", action="store_true", default=None, help="keep positions overnight"
    )
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    configure_logging("warning")  # the progress bar and the summary, not the actors' chatter
    problems: list[str] = []
    plan = _plan(args, problems)
    if plan is None or problems:
        for problem in problems:
            print(f"troupe backtest: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = run_plan(plan)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"troupe backtest: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, ReplayError, ImportError) as exc:
        print(f"troupe backtest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _print_summary(result)
    return EXIT_OK


def _plan(args: argparse.Namespace, problems: list[str]) -> BacktestPlan | None:
    if args.config is not None:
        given = [f"--{name.replace('_', '-')}" for name in ONE_INSTRUMENT if _given(args, name)]
        if given:
            problems.append(f"{', '.join(given)}: not with -c (put them in {args.config} instead)")
            return None
        try:
            plan = load_backtest_config(args.config, out=args.out)
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None
        return dataclasses.replace(plan, progress=not args.quiet)
    missing = [f"--{name}" for name in REQUIRED if getattr(args, name) is None]
    if missing:
        problems.append(
            f"missing {', '.join(missing)} (the one-instrument form needs --data, --instrument, "
            "--strategy, --qty, --cash and --out; or give -c FILE)"
        )
        return None
    run = BacktestRun(
        data=args.data,
        instrument=args.instrument,
        strategy=args.strategy,
        params=_params(args.param or [], problems),
        qty=_qty(args.qty, problems),
        cash=_cash(args.cash, problems),
        fees=args.fees or "zero",
        timezone=_timezone(args.timezone or "UTC", problems),
        risk=(args.risk or "on") == "on",
        stop_loss_pct=_stop_loss(args.stop_loss_pct, problems),
        calendar=args.calendar,
        square_off=not args.no_square_off,
        start=_date("--from", args.start, problems),
        end=_date("--to", args.end, problems),
        out=args.out,
        progress=not args.quiet,
    )
    if run.start and run.end and run.start > run.end:
        problems.append(f"--from {run.start} is after --to {run.end}")
    if problems:
        return None
    try:
        return plan_of(run)
    except ValueError as exc:
        problems.append(str(exc))
        return None


def _given(args: argparse.Namespace, name: str) -> bool:
    return getattr(args, name) is not None


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


def _qty(value: int, problems: list[str]) -> int:
    if value < 1:
        problems.append(f"--qty: expected a whole number of units >= 1, got {value}")
    return value


def _cash(text: str, problems: list[str]) -> Decimal:
    try:
        cash = Decimal(text)
        if not cash.is_finite() or cash <= 0:
            raise InvalidOperation
    except InvalidOperation:
        problems.append(f"--cash: expected an amount > 0, got {text!r}")
        return Decimal(1)
    return cash


def _stop_loss(value: float | None, problems: list[str]) -> float:
    if value is None:
        return 0.0
    if not (math.isfinite(value) and 0 < value < 100):
        problems.append(
            f"--stop-loss-pct: expected a percentage above 0 and below 100, got {value}"
        )
        return 0.0
    return value


def _timezone(name: str, problems: list[str]) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            f"--timezone: {name!r} is not a known time zone (an IANA name such as "
            "'Asia/Kolkata' or 'America/New_York')"
        )
        return "UTC"
    return name


def _date(flag: str, text: str | None, problems: list[str]) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problems.append(f"{flag}: expected a date YYYY-MM-DD, got {text!r}")
        return None


def _print_summary(result: BacktestResult) -> None:
    print(console_summary(result.report))
    for line in result.refusals():  # why signals did not trade, if any did not
        print(line)
    print(f"{result.bars} bars; written: {', '.join(str(p) for p in result.files)}")
