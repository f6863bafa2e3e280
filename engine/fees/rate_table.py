"""The rates of Indian equity intraday charges, as a table with effective dates, in TOML.

The rates change by circular (NSE's transaction charge changed on 1 October 2024), so they
are data the user keeps up to date without a new release: ``config/fees/
india_equity_intraday.toml`` ships with troupe, and a file of the same format can be named in
the fee config instead. The format::

    time_zone = "Asia/Kolkata"      # a trade's date is read on this wall clock

    [rounding]                      # per contract-note line: "paisa" (0.01) or "rupee" (1),
    stt = "rupee"                   # always half-up; a line not listed rounds to the paisa

    [[rates]]                       # one row per set of rates, in force from its date until
    effective_from = 2024-10-01     # the next row's date (the last row: until replaced)
    brokerage_percent = 0.03        # of turnover, per executed order ...
    brokerage_cap = 20              # ... but never more than this many rupees per order
    stt_sell_percent = 0.025        # securities transaction tax, sell side only
    stamp_buy_percent = 0.003       # stamp duty, buy side only
    sebi_per_crore = 10             # SEBI turnover fee, rupees per crore (10^7) of turnover
    gst_percent = 18                # on brokerage + exchange transaction + SEBI charges
    exchange_txn_percent = { NSE = 0.00297, BSE = 0.00375 }
    source = "where these numbers come from"

Every row lists every rate (a row never inherits from the one before: what is in force on a
date is read from one row). Numbers may be written as TOML numbers or strings (``"0.00297"``);
they are read as exact decimals. Every problem is reported, one line each, naming the file,
the key, the value and what is allowed, raised together as
:class:`engine.config.load.ConfigError`.
"""

from __future__ import annotations

import bisect
import tomllib
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from engine.config.errors import ConfigError, shown
from engine.fees.model import FeeRateError
from engine.timezones import NSE_TZ, exchange_date

__all__ = [
    "LINES",
    "ROUNDING_UNITS",
    "IntradayRates",
    "RateTable",
    "read_rate_table",
    "shipped_rate_table",
]

LINES: tuple[str, ...] = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst")
"""The contract-note lines of an Indian equity trade, in the order a contract note lists them."""

ROUNDING_UNITS: dict[str, Decimal] = {"paisa": Decimal("0.01"), "rupee": Decimal("1")}
"""What each ``[rounding]`` value means: the unit a line is rounded to, half-up."""

_TOP_KEYS = ("time_zone", "rounding", "rates")
_RATE_KEYS = (
    "effective_from",
    "brokerage_percent",
    "brokerage_cap",
    "stt_sell_percent",
    "stamp_buy_percent",
    "sebi_per_crore",
    "gst_percent",
    "exchange_txn_percent",
    "source",
)
_DECIMAL_KEYS = _RATE_KEYS[1:7]


class IntradayRates(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the table: the rates in force from ``effective_from`` (the exchange's date).

    Percentages are in percent (``0.03`` is 0.03 %), money in rupees.
    """

    effective_from: date
    brokerage_percent: Decimal
    brokerage_cap: Decimal
    stt_sell_percent: Decimal
    stamp_buy_percent: Decimal
    sebi_per_crore: Decimal
    gst_percent: Decimal
    exchange_txn_percent: dict[str, Decimal]
    """Exchange transaction charge by exchange code (``"NSE"``, ``"BSE"``)."""
    source: str = ""


class RateTable:
    """The rows of a rate file, each in force from its date until the next row's date."""

    def __init__(
        self,
        rows: list[IntradayRates],
        *,
        rounding: Mapping[str, Decimal] | None = None,
        time_zone: str = NSE_TZ,
        source: str = "",
    ) -> None:
        """Raises ``ValueError`` if ``rows`` is empty or two rows share a date."""
        if not rows:
            raise ValueError(f"{source or 'rate table'}: no rates")
        self.rows = sorted(rows, key=lambda row: row.effective_from)
        dates = [row.effective_from for row in self.rows]
        if len(set(dates)) != len(dates):
            raise ValueError(f"{source or 'rate table'}: two rows share an effective_from date")
        self._dates = dates
        self.rounding = {line: ROUNDING_UNITS["paisa"] for line in LINES}
        self.rounding.update(rounding or {})
        self.time_zone = time_zone
        self.source = source

    def rates_at(self, ts_ns: int) -> IntradayRates:
        """The row in force at ``ts_ns`` (ns since the epoch, UTC), by the exchange's date.

        Raises :class:`FeeRateError` naming the date if it is before the first row.
        """
        day = exchange_date(ts_ns, self.time_zone)
        index = bisect.bisect_right(self._dates, day) - 1
        if index < 0:
            raise FeeRateError(
                f"{self.source or 'rate table'}: no fee rates in force on {day}; the first "
                f"row is in force from {self._dates[0]} (add a row for earlier dates)"
            )
        return self.rows[index]


def shipped_rate_table() -> Path:
    """Where troupe's own rate file is: ``config/fees/india_equity_intraday.toml`` beside the
    ``engine`` package (a source checkout), else under the working directory (the image)."""
    name = Path("config") / "fees" / "india_equity_intraday.toml"
    beside_package = Path(__file__).resolve().parents[2] / name
    return beside_package if beside_package.is_file() else Path.cwd() / name


def read_rate_table(path: str | Path | None = None) -> RateTable:
    """The rate table in the TOML file at ``path`` (the shipped one when ``None``).

    Raises :class:`ConfigError` listing every problem in the file.
    """
    file = shipped_rate_table() if path is None else Path(path)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{file}: fee rate table: no such file"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: not valid TOML: {exc}"]) from None
    return _Reader(str(file)).table(document)


class _Reader:
    """Collects problems while it converts a parsed document."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: {key}: {message}")

    def table(self, document: dict[str, Any]) -> RateTable:
        for key in document:
            if key not in _TOP_KEYS:
                self.problem(key, f"unknown key; allowed: {', '.join(_TOP_KEYS)}")
        time_zone = document.get("time_zone", NSE_TZ)
        if not isinstance(time_zone, str):
            self.problem("time_zone", f"expected an IANA time zone name, got {shown(time_zone)}")
            time_zone = NSE_TZ
        rounding = self.rounding(document.get("rounding", {}))
        rows = self.rows(document.get("rates"))
        dates = [row.effective_from for row in rows]
        for day in sorted({d for d in dates if dates.count(d) > 1}):
            self.problem("rates", f"two rows are in force from {day}; keep one")
        if self.problems:
            raise ConfigError(self.problems)
        try:
            return RateTable(rows, rounding=rounding, time_zone=time_zone, source=self.source)
        except ValueError as exc:  # an unknown time zone
            raise ConfigError([f"{self.source}: time_zone: {exc}"]) from None

    def rounding(self, value: Any) -> dict[str, Decimal]:
        if not isinstance(value, dict):
            self.problem("rounding", f"expected a table of line = unit, got {shown(value)}")
            return {}
        units: dict[str, Decimal] = {}
        allowed_units = ", ".join(f'"{u}"' for u in ROUNDING_UNITS)
        for line, unit in value.items():
            if line not in LINES:
                self.problem(f"rounding.{line}", f"unknown line; allowed: {', '.join(LINES)}")
            elif unit not in ROUNDING_UNITS:
                self.problem(f"rounding.{line}", f"expected {allowed_units}, got {shown(unit)}")
            else:
                units[line] = ROUNDING_UNITS[unit]
        return units

    def rows(self, value: Any) -> list[IntradayRates]:
        if not isinstance(value, list) or not value:
            self.problem("rates", f"expected one or more [[rates]] rows, got {shown(value)}")
            return []
        rows = []
        for number, row in enumerate(value, start=1):
            parsed = self.row(row, f"rates[{number}]")
            if parsed is not None:
                rows.append(parsed)
        return rows

    def row(self, value: Any, where: str) -> IntradayRates | None:
        if not isinstance(value, dict):
            self.problem(where, f"expected a table, got {shown(value)}")
            return None
        before = len(self.problems)
        for key in value:
            if key not in _RATE_KEYS:
                self.problem(f"{where}.{key}", f"unknown key; allowed: {', '.join(_RATE_KEYS)}")
        effective_from = value.get("effective_from")
        if not isinstance(effective_from, date):
            self.problem(
                f"{where}.effective_from",
                f"expected a date such as 2024-10-01, got {shown(effective_from)}",
            )
        numbers = {key: self.number(value, key, where) for key in _DECIMAL_KEYS}
        exchanges = self.exchange_rates(value.get("exchange_txn_percent"), where)
        source = value.get("source", "")
        if not isinstance(source, str):
            self.problem(f"{where}.source", f"expected a string, got {shown(source)}")
        if len(self.problems) > before or not isinstance(effective_from, date):
            return None
        return IntradayRates(
            effective_from=effective_from,
            brokerage_percent=numbers["brokerage_percent"],
            brokerage_cap=numbers["brokerage_cap"],
            stt_sell_percent=numbers["stt_sell_percent"],
            stamp_buy_percent=numbers["stamp_buy_percent"],
            sebi_per_crore=numbers["sebi_per_crore"],
            gst_percent=numbers["gst_percent"],
            exchange_txn_percent=exchanges,
            source=str(source),
        )

    def number(self, table: dict[str, Any], key: str, where: str) -> Decimal:
        if key not in table:
            self.problem(f"{where}.{key}", "missing: every row lists every rate")
            return Decimal(0)
        parsed = _decimal(table[key])
        if parsed is None or parsed < 0:
            self.problem(f"{where}.{key}", f"expected a number >= 0, got {shown(table[key])}")
            return Decimal(0)
        return parsed

    def exchange_rates(self, value: Any, where: str) -> dict[str, Decimal]:
        key = f"{where}.exchange_txn_percent"
        if not isinstance(value, dict) or not value:
            self.problem(key, f"expected a table such as {{ NSE = 0.00297 }}, got {shown(value)}")
            return {}
        rates: dict[str, Decimal] = {}
        for exchange, rate in value.items():
            parsed = _decimal(rate)
            if parsed is None or parsed < 0:
                self.problem(f"{key}.{exchange}", f"expected a number >= 0, got {shown(rate)}")
            else:
                rates[exchange] = parsed
        return rates


def _decimal(value: Any) -> Decimal | None:
    """A TOML number or numeric string as an exact decimal; ``None`` if it is neither.

    A float goes through ``str``: ``0.00297`` is read as written, not as the binary fraction
    nearest to it.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None
