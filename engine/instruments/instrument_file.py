"""Reading instrument files: CSV or TOML, every problem reported.

Each problem is one line naming the file, the row or key, the column, the value and what is
allowed; all of a file's problems are raised together as :class:`ConfigError`::

    config/instruments.csv: row 4, column lot_size: expected an integer >= 1, got "0"

* **CSV**, UTF-8: a header row, then one instrument per row. Rows are the file's line
  numbers (the header on the first line is row 1). Lines that are empty or start with ``#``
  are skipped; cells are trimmed; a value may not span lines. The header names every one of
  :data:`REQUIRED_COLUMNS` and any of :data:`OPTIONAL_COLUMNS`, in any order; other columns
  are refused. An empty optional cell means none (no freeze quantity, no price band)::

      id,symbol,exchange,currency,tick_size,lot_size,freeze_quantity,band_lower,band_upper,time_zone,calendar
      NSE:INFY,INFY,NSE,INR,0.05,1,,,,Asia/Kolkata,NSE

* **TOML**: one table per instrument under ``instruments``, named by its id, with the other
  columns as keys (an optional key may be left out)::

      [instruments."NSE:INFY"]
      symbol = "INFY"
      exchange = "NSE"
      currency = "INR"
      tick_size = "0.05"     # a string keeps the decimal exact; 0.05 is accepted too
      lot_size = 1
      time_zone = "Asia/Kolkata"
      calendar = "NSE"

Rules across columns: ``id`` is ``exchange:symbol``; ``time_zone`` is the calendar's own
(any zone for ``ALWAYS``); ``freeze_quantity`` is at least ``lot_size``; ``band_lower`` and
``band_upper`` come together, lower below upper.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.calendars import CALENDAR_NAMES, CALENDAR_TIME_ZONES
from engine.config.errors import ConfigError, shown
from engine.instruments.instrument import Instrument, PriceBand

REQUIRED_COLUMNS = (
    "id",
    "symbol",
    "exchange",
    "currency",
    "tick_size",
    "lot_size",
    "time_zone",
    "calendar",
)
"""Columns an instrument file must have (a CSV header; keys of a TOML table, ``id`` being the
table's name)."""
OPTIONAL_COLUMNS = ("freeze_quantity", "band_lower", "band_upper")
"""Columns that may be left out, or empty in a CSV row: no freeze quantity, no price band."""
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_SYMBOL = re.compile(r"[^\s:]+")
_EXCHANGE = re.compile(r"[A-Z][A-Z0-9_]*")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL = re.compile(r"\d+(\.\d+)?")
_INTEGER = re.compile(r"\d+")


class _BadValueError(Exception):
    """A value a parser refuses; the caller reports it with its location."""


def _text(pattern: re.Pattern[str]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, str) and pattern.fullmatch(value):
            return value
        raise _BadValueError

    return parse


def _number_text(value: Any) -> str:
    # TOML gives numbers, CSV gives text; a float's repr is its shortest exact spelling.
    if isinstance(value, bool):
        raise _BadValueError
    return repr(value) if isinstance(value, float) else str(value)


def _positive_decimal(value: Any) -> Decimal:
    text = _number_text(value)
    if not _DECIMAL.fullmatch(text) or Decimal(text) <= 0:
        raise _BadValueError
    return Decimal(text)


def _positive_int(value: Any) -> int:
    text = _number_text(value)
    if not _INTEGER.fullmatch(text) or int(text) < 1:
        raise _BadValueError
    return int(text)


def _time_zone(value: Any) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _BadValueError from None
    return str(value)


def _calendar(value: Any) -> str:
    if value not in CALENDAR_TIME_ZONES:
        raise _BadValueError
    return str(value)


_PARSERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "id": (_text(re.compile(r"[A-Z][A-Z0-9_]*:[^\s:]+")), 'an id like "NSE:INFY"'),
    "symbol": (_text(_SYMBOL), "a trading symbol without spaces or ':'"),
    "exchange": (_text(_EXCHANGE), 'an exchange code in capitals like "NSE"'),
    "currency": (_text(_CURRENCY), 'a three-letter ISO 4217 code like "INR"'),
    "tick_size": (_positive_decimal, 'a decimal number > 0 like "0.05"'),
    "lot_size": (_positive_int, "an integer >= 1"),
    "time_zone": (_time_zone, 'an IANA time zone like "Asia/Kolkata"'),
    "calendar": (_calendar, "one of " + ", ".join(f'"{n}"' for n in CALENDAR_NAMES)),
    "freeze_quantity": (_positive_int, "an integer >= 1, or empty for no limit"),
    "band_lower": (_positive_decimal, "a price > 0, or empty for no band"),
    "band_upper": (_positive_decimal, "a price > 0, or empty for no band"),
}


def _instrument(
    raw: Mapping[str, Any], locate: Callable[[str], str], problems: list[str]
) -> Instrument | None:
    """The instrument described by ``raw`` (column -> value), or ``None`` after reporting
    every problem in it, each located by ``locate(column)``."""
    before = len(problems)

    def report(column: str, expected: str) -> None:
        problems.append(f"{locate(column)}: expected {expected}, got {shown(raw.get(column))}")

    values: dict[str, Any] = {}
    for column, (parse, expected) in _PARSERS.items():
        value = raw.get(column)
        if column in OPTIONAL_COLUMNS and value in (None, ""):
            values[column] = None
            continue
        try:
            values[column] = parse(value)
        except _BadValueError:
            report(column, expected)
            values[column] = None
    v = values
    if v["exchange"] and v["symbol"] and v["id"] and v["id"] != f"{v['exchange']}:{v['symbol']}":
        report("id", f'"{v["exchange"]}:{v["symbol"]}" (exchange:symbol of the same row)')
    zone = CALENDAR_TIME_ZONES.get(v["calendar"] or "")
    if v["time_zone"] and v["calendar"] not in (None, "ALWAYS") and v["time_zone"] != zone:
        report("time_zone", f'"{zone}", the time zone of the {v["calendar"]} calendar')
    if v["freeze_quantity"] and v["lot_size"] and v["freeze_quantity"] < v["lot_size"]:
        report("freeze_quantity", f"an integer >= lot_size ({v['lot_size']}), or empty")
    lower, upper = v["band_lower"], v["band_upper"]
    for column, other in (("band_lower", upper), ("band_upper", lower)):
        if raw.get(column) in (None, "") and other is not None:
            report(column, "a price too: band_lower and band_upper go together")
    if lower is not None and upper is not None and lower >= upper:
        report("band_upper", f"a price above band_lower ({lower})")
    if len(problems) > before:
        return None
    return Instrument(
        id=v["id"],
        symbol=v["symbol"],
        exchange=v["exchange"],
        currency=v["currency"],
        tick_size=v["tick_size"],
        time_zone=v["time_zone"],
        calendar=v["calendar"],
        lot_size=v["lot_size"],
        freeze_quantity=v["freeze_quantity"],
        price_band=None if lower is None else PriceBand(lower=lower, upper=upper),
    )


def read_instruments(path: str | Path) -> list[Instrument]:
    """The instruments in ``path``, a ``.csv`` or ``.toml`` file, in file order.

    Raises :class:`ConfigError` listing every problem in the file.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".toml":
        return read_toml(path)
    raise ConfigError([f"{path}: expected an instrument file ending in .csv or .toml"])


def read_csv(path: str | Path) -> list[Instrument]:
    """The instruments in the CSV file at ``path`` (format in the module docstring).

    Raises :class:`ConfigError` listing every problem in the file.
    """
    problems: list[str] = []
    lines = [
        (number, line)
        for number, line in enumerate(_read_text(Path(path)).splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise ConfigError([f"{path}: no header row; expected {','.join(COLUMNS)}"])
    header_row, header_line = lines[0]
    header = _cells(header_line)
    where = f"{path}: row {header_row}"
    for column in header:
        if column not in COLUMNS:
            allowed = ", ".join(COLUMNS)
            problems.append(f"{where}: column {shown(column)}: unknown; allowed: {allowed}")
    for column in sorted({c for c in header if header.count(c) > 1}):
        problems.append(f"{where}: column {shown(column)}: appears more than once")
    for column in REQUIRED_COLUMNS:
        if column not in header:
            problems.append(f"{where}: column {shown(column)}: missing; it is required")
    if problems:
        raise ConfigError(problems)

    instruments: list[Instrument] = []
    first_row: dict[str, int] = {}
    for row, line in lines[1:]:
        cells = _cells(line)
        if len(cells) != len(header):
            problems.append(
                f"{path}: row {row}: expected {len(header)} cells as in the header, "
                f"got {len(cells)}"
            )
            continue
        raw = dict(zip(header, cells, strict=True))

        def locate(column: str, row: int = row) -> str:
            return f"{path}: row {row}, column {column}"

        instrument = _instrument(raw, locate, problems)
        if instrument is None:
            continue
        if instrument.id in first_row:
            problems.append(
                f"{locate('id')}: duplicate id {shown(instrument.id)}; "
                f"first on row {first_row[instrument.id]}"
            )
            continue
        first_row[instrument.id] = row
        instruments.append(instrument)
    if problems:
        raise ConfigError(problems)
    return instruments


def read_toml(path: str | Path) -> list[Instrument]:
    """The instruments in the TOML file at ``path`` (format in the module docstring).

    Raises :class:`ConfigError` listing every problem in the file.
    """
    try:
        document = tomllib.loads(_read_text(Path(path)))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    problems = [
        f"{path}: {key}: unknown key; allowed: instruments"
        for key in document
        if key != "instruments"
    ]
    table = document.get("instruments", {})
    if not isinstance(table, dict):
        problems.append(f"{path}: instruments: expected a table, got {shown(table)}")
        table = {}
    keys = COLUMNS[1:]
    instruments: list[Instrument] = []
    for key, entry in table.items():
        where = f'{path}: instruments."{key}"'
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a table, got {shown(entry)}")
            continue
        bad_keys = [k for k in entry if k not in keys]
        missing = [k for k in REQUIRED_COLUMNS[1:] if k not in entry]
        problems.extend(f"{where}.{k}: unknown key; allowed: {', '.join(keys)}" for k in bad_keys)
        problems.extend(f"{where}.{k}: missing; it is required" for k in missing)
        if bad_keys or missing:
            continue

        def locate(column: str, where: str = where) -> str:
            return where if column == "id" else f"{where}.{column}"

        instrument = _instrument({**entry, "id": key}, locate, problems)
        if instrument is not None:
            instruments.append(instrument)
    if problems:
        raise ConfigError(problems)
    return instruments


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in next(csv.reader([line]))]
