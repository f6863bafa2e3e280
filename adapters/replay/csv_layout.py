"""Which CSV column holds what: a replay source's configuration and its resolved layout.

Without configuration the common layouts are recognised from the header (names compared
without case or surrounding spaces):

========================================================  =====================================
header                                                    read as
========================================================  =====================================
``Date,Open,High,Low,Close,Adj Close,Volume``             daily bars; ``Adj Close`` an extra
``Date,Time,Open,High,Low,Close,Volume[,OpenInterest]``   intraday bars, local time in ``tz``
``ts,price,size``                                         trade ticks
========================================================  =====================================

``columns`` maps a field (``date``, ``time``, ``open``, ``high``, ``low``, ``close``,
``volume``, ``ts``, ``price``, ``size``) to a header name and overrides what was recognised;
every column not mapped is kept as an extra (a number) unless ``extras`` lists which to keep.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from adapters.replay.errors import ReplayError

BAR_FIELDS = ("date", "time", "open", "high", "low", "close", "volume")
TICK_FIELDS = ("ts", "price", "size")
_REQUIRED = {"bars": ("date", "open", "high", "low", "close"), "ticks": TICK_FIELDS}
# Header names recognised without configuration, lower case, first match wins.
_KNOWN_HEADERS: dict[str, tuple[str, ...]] = {
    "date": ("date", "datetime", "timestamp"),
    "time": ("time",),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume",),
    "ts": ("ts", "timestamp"),
    "price": ("price",),
    "size": ("size", "qty", "quantity"),
}
_NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_INTERVAL = re.compile(r"(\d+)([smhd])")


class CsvSource(msgspec.Struct, frozen=True, kw_only=True):
    """One CSV file of one instrument's history."""

    path: str
    """The file; named in every error about it."""
    instrument: str
    """The engine's instrument id the rows belong to, for example ``"NYSE:ORCL"``."""
    tz: str = "UTC"
    """IANA zone of dates and times written without an offset (exchange local time)."""
    columns: dict[str, str] = {}
    """Field -> header name, overriding the recognised layout (see the module's docstring)."""
    extras: list[str] | None = None
    """Columns kept as extra numbers on each bar; ``None``: every column not mapped."""
    interval: str | None = None
    """Bar length (``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``); ``None``: ``"1d"`` for dates
    without a time, else the smallest step between the first rows."""
    bar_time: Literal["start", "end"] = "start"
    """Whether an intraday bar's time stamp is its start or its end (a daily bar's date is
    always the day it covers: local midnight to midnight in ``tz``)."""
    ts_unit: Literal["s", "ms", "us", "ns"] | None = None
    """Unit of numeric tick time stamps since the epoch; ``None``: guessed from the number of
    digits (up to 11 s, up to 14 ms, up to 17 us, else ns)."""


class CsvLayout(msgspec.Struct, frozen=True, kw_only=True):
    """Where each field is in a file's rows (0-based cell indexes)."""

    kind: Literal["bars", "ticks"]
    header: list[str]
    fields: dict[str, int]
    """Field name -> cell index, for the fields the file has."""
    extras: dict[str, int]
    """Extra column name -> cell index."""

    def column(self, field: str) -> str:
        """The header name of ``field``'s column."""
        return self.header[self.fields[field]]


def resolve_layout(source: CsvSource, header: list[str]) -> CsvLayout:
    """The layout of ``source`` given its header row.

    Raises :class:`ReplayError` naming the file if ``columns`` names an unknown field or a
    column the header lacks, or a required field has no column.
    """
    where = f"{source.path}:1"
    shown = ",".join(header)
    problems: list[str] = []
    position = {name.strip().lower(): i for i, name in reversed(list(enumerate(header)))}
    fields: dict[str, int] = {}
    for field, names in _KNOWN_HEADERS.items():
        found = next((position[n] for n in names if n in position), None)
        if found is not None:
            fields[field] = found
    for field, name in source.columns.items():
        if field not in _KNOWN_HEADERS:
            problems.append(
                f"{source.path}: columns: unknown field {field!r}; "
                f"expected one of {', '.join(_KNOWN_HEADERS)}"
            )
        elif name.strip().lower() not in position:
            problems.append(f"{where}: columns.{field} = {name!r} is not in the header {shown!r}")
        else:
            fields[field] = position[name.strip().lower()]
    kind: Literal["bars", "ticks"] = (
        "ticks" if "price" in fields and "close" not in fields else "bars"
    )
    if not problems:
        missing = [f for f in _REQUIRED[kind] if f not in fields]
        if missing:
            problems.append(
                f"{where}: header {shown!r} has no column for {', '.join(missing)}: expected "
                "Date,Open,High,Low,Close[,Volume] (optionally with Time) or ts,price,size, "
                "or name the columns in the source's columns mapping"
            )
    if problems:
        raise ReplayError(problems)
    own = BAR_FIELDS if kind == "bars" else TICK_FIELDS
    fields = {f: i for f, i in fields.items() if f in own}
    used = set(fields.values())
    if kind == "ticks":
        extras: dict[str, int] = {}  # a TradeTick has nowhere to keep them
    elif source.extras is None:
        extras = {name: i for i, name in enumerate(header) if i not in used}
    else:
        absent = [name for name in source.extras if name not in header]
        if absent:
            raise ReplayError([f"{where}: extras {absent} are not in the header {shown!r}"])
        extras = {name: header.index(name) for name in source.extras}
    return CsvLayout(kind=kind, header=header, fields=fields, extras=extras)


def interval_ns(interval: str, where: str) -> int:
    """The length of a bar interval such as ``"5m"`` in ns. Raises :class:`ReplayError`
    naming ``where`` for anything but a positive count of s, m, h or d."""
    match = _INTERVAL.fullmatch(interval)
    if match is None or int(match[1]) == 0:
        raise ReplayError(
            [
                f"{where}: interval: expected a count and a unit like '30s', '5m', '1h' or '1d', "
                f"got {interval!r}"
            ]
        )
    return int(match[1]) * _NS[match[2]]


def interval_name(length_ns: int) -> str | None:
    """``"5m"`` for five minutes: the largest whole unit; ``None`` below a whole second."""
    for unit in ("d", "h", "m", "s"):
        if length_ns % _NS[unit] == 0:
            return f"{length_ns // _NS[unit]}{unit}"
    return None
