"""A backtest configuration file (``troupe backtest -c FILE``) read into a checked
:class:`~engine.backtest.plan.BacktestPlan`.

The keys are in :mod:`engine.backtest.config_schema` and ``config/backtest.example.toml``.
Paths in the file (``[[data]] file``, ``backtest.out``, ``backtest.fees.table``) are relative
to the file's folder; ``out`` given to :func:`load_backtest_config` (``--out``) wins over
``backtest.out``, and one of them is required. Each data file's bar interval is read from
its first rows (the runner reads the rest): a strategy entry decides on it, so an entry
naming another interval is a problem, and one without an interval takes its data's.

Every problem is reported at once, one line each, naming the file, the key path, the value
and what is allowed::

    runs/nifty.toml: backtest.cash: expected a number > 0, got -5
    runs/nifty.toml: data[1].file: "data/TCS.csv": no such file (/home/me/runs/data/TCS.csv)
    runs/nifty.toml: strategies[0].instruments[0]: "NSE:SBIN" is not a [[data]] instrument; ...

The risk limits a backtest runs with are ``RiskLimits(sizing="fixed_qty", bracket_exits=False,
entry_timeout_s=0, trading_day_tz=backtest.timezone)``, then the ``[backtest]`` shorthands
(``qty``, ``stop_loss_pct``, ``square_off = false``), then ``[risk]`` (a shorthand and a
``[risk]`` key giving different values is a problem), and with ``risk = "off"`` every check
off but available cash (:func:`engine.risk.limits.checks_off`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tomllib
from collections.abc import Generator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from actors.strategies import strategy_class
from actors.strategy_host import StrategyPlan, check_plan, decode_params
from adapters.replay import BarRow, CsvSource, ReplayError, read_csv
from adapters.replay.csv_layout import interval_ns
from engine.backtest.config_schema import (
    BACKTEST_TOP_N,
    BacktestTable,
    DataTable,
    FeesTable,
    Key,
    Lenient,
    dates_as_text,
    exact,
    read_leniently,
    schema_problems,
)
from engine.backtest.plan import BacktestPlan, DataFile
from engine.calendars import CALENDAR_NAMES
from engine.config.errors import ConfigError, shown
from engine.config.load import dotted
from engine.config.schema import RankerConfig, StrategyConfig
from engine.fees.config import FeeConfig, FeeConfigError, make_fee_model
from engine.ledger.money import minor_unit_places
from engine.risk.limits import RiskLimits, checks_off
from engine.timezones import to_exchange_time
from troupe.backtest_settings import described, listed, plan_settings, plan_title

__all__ = ["load_backtest_config"]


def load_backtest_config(path: Path, *, out: Path | None = None) -> BacktestPlan:
    """The plan ``path`` describes, every value checked; ``out`` (``--out``) replaces
    ``backtest.out``.

    Raises :class:`ConfigError` listing every problem: of the file itself (missing, not TOML),
    of each key against the schema, and of the rules across keys.
    """
    return _PlanReader(path, _read(path), out).plan()


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problem = f"{path}: no such file"
    except OSError as exc:
        problem = f"{path}: cannot read: {exc.strerror or exc}"
    except tomllib.TOMLDecodeError as exc:
        problem = f"{path}: not valid TOML: {exc}"
    except UnicodeDecodeError:
        problem = f"{path}: not valid TOML: not UTF-8 text"
    raise ConfigError([problem])


class _PlanReader:
    """One file's checks; each adds its problems and returns what it could read."""

    def __init__(self, path: Path, document: dict[str, Any], out: Path | None) -> None:
        self._where = str(path)
        self._folder = path.resolve().parent
        self._document = dates_as_text(document)
        self._out = out
        self._problems: list[str] = []
        self._described: list[str] = []  # each strategy entry as the settings show it

    def _problem(self, key: Key, message: str) -> None:
        self._problems.append(f"{self._where}: {dotted(key)}: {message}")

    def plan(self) -> BacktestPlan:
        self._problems.extend(schema_problems(self._document, self._where))
        raw = self._document.get("backtest")
        # [backtest.fees] is read on its own: a bad fee key must not hide the other checks.
        backtest = read_leniently(
            {k: v for k, v in raw.items() if k != "fees"} if isinstance(raw, dict) else raw,
            BacktestTable,
        )
        fees_raw = raw.get("fees", {}) if isinstance(raw, dict) else {}
        fees = self._fees(read_leniently(fees_raw, FeesTable))
        timezone = self._timezone(backtest)
        cash = self._cash(backtest)
        start, end = self._dates(backtest)
        calendar = self._calendar(backtest)
        out = self._out_dir(backtest)
        data, instruments, intervals = self._data(timezone)
        strategies = self._strategies(instruments, intervals)
        limits = self._limits(backtest, timezone)
        ranker = self._ranker()
        if self._problems:
            raise ConfigError(self._problems)
        if (
            backtest is None
            or timezone is None
            or cash is None
            or fees is None
            or out is None
            or limits is None
            or ranker is None
        ):  # cannot happen: whatever is missing was reported as a problem
            raise ConfigError([f"{self._where}: cannot be read (an unreported problem)"])
        plan = BacktestPlan(
            data=tuple(data),
            strategies=tuple(strategies),
            out=out,
            limits=limits,
            cash=cash,
            currency=backtest.value.currency,
            timezone=timezone,
            fees=fees,
            ranker=ranker,
            calendar=calendar,
            start=start,
            end=end,
            seed=backtest.value.seed,
        )
        risk_on = backtest.value.risk == "on"
        return dataclasses.replace(
            plan,
            settings=plan_settings(plan, self._described, risk_on=risk_on),
            title=plan_title(plan),
        )

    # -- [backtest] ---------------------------------------------------------------------------

    def _timezone(self, backtest: Lenient[BacktestTable] | None) -> str | None:
        if backtest is None or "timezone" in backtest.bad:
            return None
        zone = backtest.value.timezone
        return zone if self._zone_ok(("backtest", "timezone"), zone) else None

    def _zone_ok(self, key: Key, zone: str) -> bool:
        try:
            to_exchange_time(0, zone)
        except ValueError as exc:
            self._problem(key, str(exc))
            return False
        return True

    def _cash(self, backtest: Lenient[BacktestTable] | None) -> Decimal | None:
        if backtest is None:
            return None
        table = backtest.value
        places = None
        if "currency" not in backtest.bad:
            try:
                places = minor_unit_places(table.currency)
            except ValueError as exc:
                self._problem(("backtest", "currency"), str(exc))
        if "cash" in backtest.bad:
            return None
        if not math.isfinite(table.cash):
            self._problem(("backtest", "cash"), f"expected a finite amount > 0, got {table.cash}")
            return None
        cash = exact(table.cash)
        exponent = cash.as_tuple().exponent
        if places is not None and isinstance(exponent, int) and -exponent > places:
            self._problem(
                ("backtest", "cash"),
                f"expected an amount to the {table.currency} minor unit ({places} decimal "
                f"places at most), got {shown(table.cash)}",
            )
        return cash

    def _dates(
        self, backtest: Lenient[BacktestTable] | None
    ) -> tuple[dt.date | None, dt.date | None]:
        if backtest is None:
            return None, None
        days: dict[str, dt.date | None] = {}
        for name, text in (("from", backtest.value.start), ("to", backtest.value.end)):
            days[name] = None
            if text is None or name in backtest.bad:
                continue
            try:
                days[name] = dt.date.fromisoformat(text)
            except ValueError:
                self._problem(
                    ("backtest", name), f'expected a date like "2024-01-01", got {shown(text)}'
                )
        start, end = days["from"], days["to"]
        if start is not None and end is not None and end < start:
            self._problem(
                ("backtest", "to"),
                f'expected a day on or after from = "{start}", got "{end}"',
            )
        return start, end

    def _calendar(self, backtest: Lenient[BacktestTable] | None) -> str | None:
        if backtest is None or backtest.value.calendar is None:
            return None
        name = backtest.value.calendar
        if name not in CALENDAR_NAMES:
            allowed = ", ".join(shown(n) for n in CALENDAR_NAMES)
            self._problem(
                ("backtest", "calendar"),
                f"expected one of {allowed} (or leave it out), got {shown(name)}",
            )
            return None
        return name

    def _out_dir(self, backtest: Lenient[BacktestTable] | None) -> Path | None:
        if self._out is not None:
            return self._out
        if backtest is None or "out" in backtest.bad:
            return None
        if not backtest.value.out:
            self._problem(
                ("backtest", "out"),
                "missing: give the report's folder as out (relative to this file's folder) "
                "or --out",
            )
            return None
        return self._folder / Path(backtest.value.out).expanduser()

    def _fees(self, fees: Lenient[FeesTable] | None) -> FeeConfig | None:
        if fees is None or fees.bad:
            return None
        table = fees.value
        config = FeeConfig(
            model=table.model,
            rate=None if table.rate is None else exact(table.rate),
            minimum=None if table.minimum is None else exact(table.minimum),
            maximum=None if table.maximum is None else exact(table.maximum),
            table=None if table.table is None else str(self._folder / table.table),
        )
        try:
            make_fee_model(config, where="backtest.fees")
        except FeeConfigError as exc:  # its message starts with the key path
            self._problems.append(f"{self._where}: {exc}")
            return None
        except ConfigError as exc:  # the rate file's own problems
            for line in exc.problems:
                self._problem(("backtest", "fees", "table"), line)
            return None
        return config

    # -- [[data]] -----------------------------------------------------------------------------

    def _data(self, timezone: str | None) -> tuple[list[DataFile], list[str], dict[str, str]]:
        """The usable data files, every instrument named (usable or not: a strategy naming
        one is not wrong), and each file's bar interval, read from its first rows.
        ``timezone``: backtest.timezone, ``None`` when it is bad (reported)."""
        raw = self._document.get("data")
        if raw is None or raw == []:
            self._problem(("data",), "missing: at least one [[data]] table (instrument, file)")
        files: list[DataFile] = []
        named: dict[str, int] = {}
        intervals: dict[str, str] = {}
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            entry = read_leniently(item, DataTable)
            if entry is None:
                continue
            key: Key = ("data", index)
            table = entry.value
            usable = not entry.bad
            if "instrument" not in entry.bad:
                if not table.instrument.strip():
                    self._problem((*key, "instrument"), 'expected an id like "NSE:INFY", got ""')
                    usable = False
                elif table.instrument in named:
                    self._problem(
                        (*key, "instrument"),
                        f"{shown(table.instrument)} is also data[{named[table.instrument]}]; "
                        "expected one [[data]] table per instrument",
                    )
                    usable = False
                named.setdefault(table.instrument, index)
            zone = table.timezone or timezone
            if table.timezone is not None and "timezone" not in entry.bad:
                zone = table.timezone if self._zone_ok((*key, "timezone"), table.timezone) else None
            if not math.isfinite(table.tick_size):
                self._problem(
                    (*key, "tick_size"), f"expected a finite number > 0, got {table.tick_size}"
                )
                usable = False
            path = self._folder / Path(table.file).expanduser()
            if "file" in entry.bad:
                continue
            if not path.is_file():
                what = "not a file" if path.exists() else "no such file"
                self._problem((*key, "file"), f"{shown(table.file)}: {what} ({path})")
                continue
            try:  # a bad time zone is reported; the interval does not hang on it
                intervals[table.instrument] = _bar_interval(path, table.instrument, zone or "UTC")
            except ReplayError as exc:
                for line in exc.problems:
                    self._problem((*key, "file"), line)
                continue
            if usable and zone is not None:
                files.append(
                    DataFile(
                        instrument=table.instrument,
                        path=path,
                        timezone=zone,
                        tick_size=exact(table.tick_size),
                        lot_size=table.lot_size,
                    )
                )
        return files, list(named), intervals

    # -- [[strategies]] -----------------------------------------------------------------------

    def _strategies(
        self, instruments: list[str], intervals: dict[str, str]
    ) -> list[StrategyConfig]:
        raw = self._document.get("strategies")
        if raw is None or raw == []:
            self._problem(
                ("strategies",), "missing: at least one [[strategies]] entry (use = a strategy)"
            )
        entries: list[StrategyConfig] = []
        ids: dict[str, int] = {}
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            entry = read_leniently(item, StrategyConfig)
            if entry is None:
                continue
            key: Key = ("strategies", index)
            runs_on = self._instruments_of(key, entry, instruments)
            config = entry.value
            if "interval" not in item:
                config, interval_ok = self._data_interval(key, config, runs_on, intervals)
            else:
                interval_ok = "interval" not in entry.bad and self._interval_ok(
                    key, config.interval, runs_on, intervals
                )
            entries.append(config)
            if "use" in entry.bad:
                continue
            try:
                strategy = strategy_class(config.use)
            except (ValueError, ImportError, AttributeError, TypeError) as exc:
                self._problem((*key, "use"), str(exc))
                continue
            strategy_id = config.id or strategy.name
            if "id" not in entry.bad and strategy_id in ids:
                self._problem(
                    (*key, "id"),
                    f"{shown(strategy_id)} is taken by strategies[{ids[strategy_id]}]; "
                    "expected an id of its own for each entry of the same strategy",
                )
            ids.setdefault(strategy_id, index)
            if "params" in entry.bad:
                continue
            try:
                params = decode_params(strategy, config.params)
                if interval_ok:  # the strategy's indicators may refuse the values too
                    instrument = runs_on[0] if runs_on else "CHECK:CHECK"
                    check_plan(
                        StrategyPlan(strategy_id, strategy, params, instrument, config.interval)
                    )
            except ValueError as exc:
                self._problem((*key, "params"), str(exc))
                continue
            self._described.append(described(config, strategy_id, msgspec.to_builtins(params)))
        return entries

    def _instruments_of(
        self, key: Key, entry: Lenient[StrategyConfig], instruments: list[str]
    ) -> list[str]:
        """The instruments the entry runs on; each one it names checked."""
        if "instruments" in entry.bad:
            return []
        seen: set[str] = set()
        for index, name in enumerate(entry.value.instruments):
            if name in seen:
                self._problem((*key, "instruments", index), f"{shown(name)} is listed twice")
            elif name not in instruments:
                self._problem(
                    (*key, "instruments", index),
                    f"{shown(name)} is not a [[data]] instrument; expected one of "
                    f"{listed([shown(i) for i in instruments])} (or none: all of them)",
                )
            seen.add(name)
        return list(entry.value.instruments) or instruments

    def _data_interval(
        self, key: Key, config: StrategyConfig, runs_on: list[str], intervals: dict[str, str]
    ) -> tuple[StrategyConfig, bool]:
        """``config``, whose interval was left out, deciding on its data's bars (as in the
        one-instrument form: the service's default, 1m, means nothing for a file), and
        whether that interval is known."""
        theirs = sorted({intervals[name] for name in runs_on if name in intervals})
        if len(theirs) == 1:
            return msgspec.structs.replace(config, interval=theirs[0]), True
        if theirs:
            self._problem(
                (*key, "interval"),
                f"missing: its data's bars are {', '.join(shown(i) for i in theirs)}; "
                "expected the interval it decides on (or an entry per interval)",
            )
        return config, False  # else the data's problems are reported

    def _interval_ok(
        self, key: Key, interval: str, runs_on: list[str], intervals: dict[str, str]
    ) -> bool:
        """Whether ``interval`` names a bar length; each data file's that differs is a
        problem (its bars would never reach the strategy)."""
        try:
            interval_ns(interval, "")
        except ReplayError:
            self._problem(
                (*key, "interval"),
                f'expected the bar interval of its data ("5m", "1h", "1d"), got {shown(interval)}',
            )
            return False
        differ: dict[str, list[str]] = {}
        for name in runs_on:
            if intervals.get(name, interval) != interval:
                differ.setdefault(intervals[name], []).append(name)
        for theirs, names in sorted(differ.items()):
            self._problem(
                (*key, "interval"),
                f"expected the interval of its data's bars, {shown(theirs)} "
                f"({listed(names)}), got {shown(interval)}",
            )
        return True

    # -- [risk], [ranker] ---------------------------------------------------------------------

    def _limits(
        self, backtest: Lenient[BacktestTable] | None, timezone: str | None
    ) -> RiskLimits | None:
        raw = self._document.get("risk", {})
        risk = read_leniently(raw, RiskLimits)
        if backtest is None or not isinstance(raw, dict):
            return None
        table, given = backtest.value, self._document["backtest"]
        limits: dict[str, Any] = {
            "sizing": "fixed_qty",
            "bracket_exits": False,
            "entry_timeout_s": 0.0,
            "trading_day_tz": timezone,
        }
        shorthands: list[tuple[str, str, Any]] = []  # (backtest key, risk key, value)
        if table.qty is not None:
            shorthands += [("qty", "sizing", "fixed_qty"), ("qty", "sizing_quantity", table.qty)]
        if table.stop_loss_pct is not None:
            shorthands.append(("stop_loss_pct", "stop_loss_pct", table.stop_loss_pct))
        if not table.square_off:
            shorthands.append(("square_off", "square_off", {}))
        conflict = False
        for name, risk_key, value in shorthands:
            limits[risk_key] = value
            if risk_key in raw and raw[risk_key] != value:
                self._conflict(name, given[name], risk_key, shown(value), raw[risk_key])
                conflict = True
        if table.square_off and "square_off" in given and raw.get("square_off", None) == {}:
            self._conflict("square_off", True, "square_off", "its default times", {})
            conflict = True
        if risk is None or risk.bad or timezone is None or conflict:
            return None
        try:
            final = msgspec.convert({**limits, **raw}, RiskLimits)
        except msgspec.ValidationError as exc:
            self._problem(("risk",), str(exc))
            return None
        return final if table.risk == "on" else checks_off(final)

    def _conflict(self, name: str, value: Any, risk_key: str, implied: str, theirs: Any) -> None:
        self._problem(
            ("backtest", name),
            f"{shown(value)} means risk.{risk_key} = {implied}, but [risk] has {risk_key} = "
            f"{shown(theirs)}; expected only one of them, or the same value",
        )

    def _ranker(self) -> RankerConfig | None:
        raw = self._document.get("ranker", {})
        if not isinstance(raw, dict):
            return None
        ranker = read_leniently({"top_n": BACKTEST_TOP_N, **raw}, RankerConfig)
        return None if ranker is None or ranker.bad else ranker.value


def _bar_interval(path: Path, instrument: str, timezone: str) -> str:
    """The bar interval of the CSV at ``path``, from its first rows (the runner reads the
    rest). Raises ``ReplayError`` naming the file and the problem."""
    rows = read_csv(CsvSource(path=str(path), instrument=instrument, tz=timezone))
    try:
        first = next(rows, None)
    finally:
        if isinstance(rows, Generator):
            rows.close()  # closes the file now, not when collected
    if first is None:
        raise ReplayError([f"{path}: no bars to test on"])
    if not isinstance(first, BarRow):
        raise ReplayError(
            [f"{path}: holds trades (ts,price,size); expected bars (Date,Open,High,Low,Close)"]
        )
    return first.interval
