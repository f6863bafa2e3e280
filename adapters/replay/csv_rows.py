"""Reading a CSV file of bars or trades into rows in engine time, checking every value.

Prices are the file's Open/High/Low/Close (or price) columns as they are: never adjusted.
A bar's prices must be > 0 with Low <= Open, Close <= High; volumes and sizes >= 0 (0 is
valid). Rows must be in time order: bars strictly, ticks may share a time stamp. A problem
is reported as ``path:line: column 'Name': expected ..., got 'value'``.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import chain, islice, pairwise
from typing import Literal, NamedTuple

import msgspec

from adapters.replay.csv_layout import (
    CsvLayout,
    CsvSource,
    interval_name,
    interval_ns,
    resolve_layout,
)
from adapters.replay.errors import ReplayError
from engine.timezones import at_local_time, from_exchange_time

MAX_PROBLEMS = 20
"""Problems listed per file before the rest are only counted."""
_INFER_FROM = 50  # rows looked at to infer a bar interval
_EPOCH_NUMBER = re.compile(r"\d+(\.\d+)?")
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


class BarRow(msgspec.Struct, frozen=True, kw_only=True):
    """One bar from a file, over ``[ts_event, ts_close)`` (ns since the epoch, UTC)."""

    line: int
    ts_event: int
    ts_close: int
    interval: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    extras: dict[str, float]
    """The extra columns (``Adj Close``, ``OpenInterest``, ...) by header name; kept, never
    traded on."""


class TickRow(msgspec.Struct, frozen=True, kw_only=True):
    """One trade from a file at ``ts_event`` (ns since the epoch, UTC)."""

    line: int
    ts_event: int
    price: float
    size: float


Row = BarRow | TickRow


class CsvSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a whole-file check found."""

    kind: Literal["bars", "ticks"]
    rows: int
    interval: str | None
    """The bar interval, configured or inferred; ``None`` for ticks or a file without rows."""


class _RowError(Exception):
    """One bad row; its message is the complete problem line."""


class _RawBar(NamedTuple):
    line: int
    label_ns: int
    day: date | None  # set for a daily bar (a date without a time)
    prices: tuple[float, float, float, float]
    volume: float
    extras: dict[str, float]


def check_csv(source: CsvSource) -> CsvSummary:
    """Read all of ``source`` and report every problem at once.

    Raises :class:`ReplayError` listing up to :data:`MAX_PROBLEMS` problems (and how many more
    there were) if the file cannot be read, its header has no usable layout or a row is bad.
    """
    lines = _lines(source)
    layout = _layout(source, lines)
    parser = _RowParser(source, layout)
    problems: list[str] = []
    rows = 0
    labels: list[int] = []
    daily = False
    for line, cells in lines:
        try:
            raw = parser.parse(line, cells)
        except _RowError as problem:
            problems.append(str(problem))
            continue
        rows += 1
        if isinstance(raw, _RawBar):
            daily = raw.day is not None
            if len(labels) < _INFER_FROM:
                labels.append(raw.label_ns)
    interval = None
    if layout.kind == "bars" and rows:
        try:
            interval = _interval(source, labels, daily)
        except _RowError as problem:
            problems.append(str(problem))
    if problems:
        more = len(problems) - MAX_PROBLEMS
        shown = problems[:MAX_PROBLEMS]
        raise ReplayError([*shown, f"{source.path}: {more} more problems"] if more > 0 else shown)
    return CsvSummary(kind=layout.kind, rows=rows, interval=interval)


def read_csv(source: CsvSource) -> Iterator[Row]:
    """The rows of ``source`` one by one, oldest first, read as they are needed.

    Raises :class:`ReplayError` at the first problem (:func:`check_csv` lists them all).
    """
    lines = _lines(source)
    layout = _layout(source, lines)
    parser = _RowParser(source, layout)

    def parsed() -> Iterator[_RawBar | TickRow]:
        for line, cells in lines:
            try:
                yield parser.parse(line, cells)
            except _RowError as problem:
                raise ReplayError([str(problem)]) from None

    raws = parsed()
    if layout.kind == "ticks":
        for raw in raws:
            assert isinstance(raw, TickRow)
            yield raw
        return
    # An interval to infer needs the first rows before the first bar can be finished.
    head = list(islice(raws, _INFER_FROM))
    bars = [raw for raw in head if isinstance(raw, _RawBar)]
    if not bars:
        return
    try:
        interval = _interval(source, [b.label_ns for b in bars], bars[0].day is not None)
    except _RowError as problem:
        raise ReplayError([str(problem)]) from None
    length = interval_ns(interval, f"{source.path}")
    for raw in chain(bars, raws):
        assert isinstance(raw, _RawBar)
        yield _finish(raw, interval, length, source)


def _finish(raw: _RawBar, interval: str, length: int, source: CsvSource) -> BarRow:
    if raw.day is not None:
        start, end = raw.label_ns, at_local_time(raw.day + timedelta(days=1), "00:00", source.tz)
    elif source.bar_time == "start":
        start, end = raw.label_ns, raw.label_ns + length
    else:
        start, end = raw.label_ns - length, raw.label_ns
    o, h, low, c = raw.prices
    return BarRow(
        line=raw.line,
        ts_event=start,
        ts_close=end,
        interval=interval,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=raw.volume,
        extras=raw.extras,
    )


def _interval(source: CsvSource, labels: list[int], daily: bool) -> str:
    if source.interval is not None:
        interval_ns(source.interval, f"{source.path}")  # refuses a malformed one
        return source.interval
    if daily:
        return "1d"
    steps = [b - a for a, b in pairwise(labels) if b > a]
    name = interval_name(min(steps)) if steps else None
    if name is None:
        raise _RowError(
            f"{source.path}: cannot infer the bar interval from the first rows: "
            "set the source's interval (for example '5m')"
        )
    return name


def _lines(source: CsvSource) -> Iterator[tuple[int, list[str]]]:
    try:
        with open(source.path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            try:
                for cells in reader:
                    if any(cell.strip() for cell in cells):
                        yield reader.line_num, cells
            except (csv.Error, UnicodeDecodeError) as error:
                raise ReplayError([f"{source.path}:{reader.line_num + 1}: {error}"]) from None
    except OSError as error:
        raise ReplayError([f"{source.path}: cannot read: {error.strerror or error}"]) from None


def _layout(source: CsvSource, lines: Iterator[tuple[int, list[str]]]) -> CsvLayout:
    header = next(lines, None)
    if header is None:
        raise ReplayError(
            [f"{source.path}: empty file: expected a header line such as {_EXAMPLE!r}"]
        )
    return resolve_layout(source, [cell.strip() for cell in header[1]])


_EXAMPLE = "Date,Open,High,Low,Close,Volume"


class _RowParser:
    """Turns one row's cells into a raw bar or a tick, or raises :class:`_RowError`."""

    def __init__(self, source: CsvSource, layout: CsvLayout) -> None:
        self._source = source
        self._layout = layout
        self._fields = layout.fields
        self._width = len(layout.header)
        self._previous: tuple[int, str] | None = None  # the last good row's time and text

    def parse(self, line: int, cells: list[str]) -> _RawBar | TickRow:
        if len(cells) != self._width:
            raise _RowError(
                f"{self._source.path}:{line}: expected {self._width} cells as in the header, "
                f"got {len(cells)}"
            )
        if self._layout.kind == "ticks":
            ts = self._tick_time(line, cells)
            self._in_order(line, cells, ts, strictly=False)
            price = self._number(line, cells, "price", "price", positive=True)
            size = self._number(line, cells, "size", "size", positive=False)
            return TickRow(line=line, ts_event=ts, price=price, size=size)
        label, day = self._bar_time(line, cells)
        prices = (
            self._number(line, cells, "open", "price", positive=True),
            self._number(line, cells, "high", "price", positive=True),
            self._number(line, cells, "low", "price", positive=True),
            self._number(line, cells, "close", "price", positive=True),
        )
        self._check_range(line, cells, prices)
        volume = 0.0
        if "volume" in self._fields:
            volume = self._number(line, cells, "volume", "volume", positive=False)
        extras = {
            name: self._value(line, name, cells[i], "a number")
            for name, i in self._layout.extras.items()
        }
        self._in_order(line, cells, label, strictly=True)
        return _RawBar(line, label, day, prices, volume, extras)

    def _problem(self, line: int, column: str, expected: str, value: str) -> _RowError:
        return _RowError(
            f"{self._source.path}:{line}: column {column!r}: {expected}, got {value!r}"
        )

    def _value(self, line: int, column: str, text: str, expected: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or "_" in text:
            raise self._problem(line, column, f"expected {expected}", text)
        return value

    def _number(
        self, line: int, cells: list[str], field: str, what: str, *, positive: bool
    ) -> float:
        index = self._fields[field]
        column, text = self._layout.header[index], cells[index]
        value = self._value(line, column, text, "a number")
        if positive and value <= 0:
            raise self._problem(line, column, f"expected a {what} > 0", text)
        if value < 0:
            raise self._problem(line, column, f"expected a {what} >= 0", text)
        return value

    def _check_range(self, line: int, cells: list[str], prices: tuple[float, ...]) -> None:
        o, h, low, c = prices
        if h < max(o, low, c):
            column = self._layout.column("high")
            expected = f"expected a high >= open, low and close ({max(o, low, c)})"
            raise self._problem(line, column, expected, cells[self._fields["high"]])
        if low > min(o, c):
            column = self._layout.column("low")
            expected = f"expected a low <= open and close ({min(o, c)})"
            raise self._problem(line, column, expected, cells[self._fields["low"]])

    def _bar_time(self, line: int, cells: list[str]) -> tuple[int, date | None]:
        tz = self._source.tz
        column = self._layout.column("date")
        text = cells[self._fields["date"]].strip()
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
        if "time" in self._fields:
            if day is None:
                raise self._problem(line, column, "expected a date like 2024-01-02", text)
            time_column = self._layout.column("time")
            time_text = cells[self._fields["time"]].strip()
            try:
                wall = time.fromisoformat(time_text)
            except ValueError:
                raise self._problem(
                    line, time_column, "expected a time like 09:15:00", time_text
                ) from None
            return self._instant(line, time_column, datetime.combine(day, wall), tz), None
        if day is not None:
            return self._instant(line, column, datetime.combine(day, time()), tz), day
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self._problem(
                line, column, "expected a date like 2024-01-02 or a date-time", text
            ) from None
        return self._instant(line, column, moment, tz), None

    def _tick_time(self, line: int, cells: list[str]) -> int:
        column = self._layout.column("ts")
        text = cells[self._fields["ts"]].strip()
        if _EPOCH_NUMBER.fullmatch(text):
            unit = self._source.ts_unit or _guess_unit(text)
            return int(Decimal(text) * _UNIT_NS[unit])
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or len(text) <= len("2024-01-02"):
            raise self._problem(
                line, column, "expected a time since the epoch or an ISO 8601 date-time", text
            )
        return self._instant(line, column, moment, self._source.tz)

    def _instant(self, line: int, column: str, moment: datetime, tz: str) -> int:
        try:
            if moment.tzinfo is not None:  # an explicit offset names the instant by itself
                return from_exchange_time(moment.astimezone(UTC).replace(tzinfo=None), "UTC")
            return from_exchange_time(moment, tz)
        except ValueError as error:
            raise _RowError(f"{self._source.path}:{line}: column {column!r}: {error}") from None

    def _in_order(self, line: int, cells: list[str], ts: int, *, strictly: bool) -> None:
        key = "ts" if self._layout.kind == "ticks" else "date"
        text = " ".join(cells[self._fields[f]].strip() for f in (key, "time") if f in self._fields)
        previous = self._previous
        if previous is not None and (ts < previous[0] or (strictly and ts == previous[0])):
            raise _RowError(
                f"{self._source.path}:{line}: column {self._layout.column(key)!r}: {text!r} "
                f"is not after {previous[1]!r} on the row before: rows must be oldest first"
            )
        self._previous = (ts, text)


def _guess_unit(digits: str) -> Literal["s", "ms", "us", "ns"]:
    whole = len(digits.split(".", maxsplit=1)[0])
    if whole <= 11:
        return "s"
    if whole <= 14:
        return "ms"
    return "us" if whole <= 17 else "ns"
