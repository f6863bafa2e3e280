"""``troupe trades-to-ohlcv``: OHLCV bars from a CSV file of trades.

Reads ``ts,price,size`` (a header naming the three columns, in any order): ``ts`` in integer
ns since the epoch UTC or ISO 8601 with an offset (``2024-01-02T09:15:00.123456789+05:30``,
``...Z``), ``price`` a finite number, ``size`` a finite number ``>= 0``, possibly fractional.
Writes ``start,open,high,low,close,volume,trades,vwap``, one row per interval with trades
(every interval from the first to the last with ``--fill-empty``: flat at the last close,
volume 0, 0 trades), ``start`` in ISO 8601 UTC. The bars come from the engine's own
:class:`engine.bars.TimeBarBuilder`, so they are those the bar aggregator would publish.

The input must be sorted by ``ts`` (equal times are fine): an out-of-order row is refused,
naming its line, rather than sorted in memory, so a file of any length streams through. A
bad row stops the run with exit 2 and one line on stderr naming the file, the line, the
column and the value; nothing is written then. ``-`` reads stdin or writes stdout. With
stderr on a terminal and an input file of at least 32 MiB, a progress line is shown there.

Exit codes: 0 written; 2 a usage error or a bad input (nothing written).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO

from engine.bars import Interval, TimeBarBuilder, parse_interval
from engine.messages.market import Bar

PROG = "troupe trades-to-ohlcv"
EXIT_OK = 0
EXIT_USAGE = 2
COLUMNS = ("ts", "price", "size")
OUTPUT_HEADER = "start,open,high,low,close,volume,trades,vwap"
PROGRESS_MIN_BYTES = 32 * 1024 * 1024
_PROGRESS_EVERY_ROWS = 1 << 16

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INTEGER = re.compile(r"-?[0-9]+")
_ISO = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<fraction>\d{1,9}))?(?P<offset>Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


class InputError(Exception):
    """A problem with the input, already worded for the user: ``file:line: ...``."""


def parse_timestamp(text: str) -> int:
    """``text`` as ns since the epoch UTC: an integer of ns, or ISO 8601 with an offset (up
    to 9 fractional digits, kept exactly). Raises ``ValueError`` saying what is expected."""
    text = text.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    match = _ISO.fullmatch(text)
    if match is None:
        raise ValueError("expected integer ns since the epoch or an ISO 8601 time")
    if match["offset"] is None:
        raise ValueError("an ISO 8601 time needs an offset (Z or +HH:MM)")
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    try:
        moment = datetime.fromisoformat(match["base"] + offset)
    except ValueError:
        raise ValueError("not a valid ISO 8601 time") from None
    fraction_ns = int((match["fraction"] or "").ljust(9, "0"))
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000 + fraction_ns


def format_timestamp(ts_ns: int) -> str:
    """``ts_ns`` as ISO 8601 UTC with a ``Z``; a fraction of a second only if there is one."""
    seconds, fraction_ns = divmod(ts_ns, 1_000_000_000)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction_ns:
        text += "." + f"{fraction_ns:09d}".rstrip("0")
    return text + "Z"


def _number(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def bar_row(bar: Bar) -> str:
    """One output line (without its newline) for ``bar``."""
    return ",".join(
        (
            format_timestamp(bar.ts_event),
            _number(bar.open),
            _number(bar.high),
            _number(bar.low),
            _number(bar.close),
            _number(bar.volume),
            str(bar.trade_count),
            _number(bar.vwap),
        )
    )


def _interval(text: str) -> Interval:
    try:
        return parse_interval(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _origin(text: str) -> int:
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}, got {json.dumps(text)}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Aggregate a CSV of trades (ts,price,size) into OHLCV bars with the "
        "engine's own bar code. The input must be sorted by ts.",
        epilog="Exit codes: 0 written, 2 usage error or bad input (nothing written).",
    )
    parser.add_argument("--input", required=True, metavar="TICKS.csv", help="trades; - is stdin")
    parser.add_argument(
        "--interval", required=True, type=_interval, help="bar interval: 1s 5s 15s ... 1h 1d"
    )
    parser.add_argument("--output", required=True, metavar="BARS.csv", help="bars; - is stdout")
    parser.add_argument(
        "--fill-empty",
        action="store_true",
        help="write a flat bar (last close, volume 0) for each interval without trades",
    )
    parser.add_argument(
        "--origin",
        type=_origin,
        default=0,
        metavar="TIME",
        help="align bars to this instant (ISO 8601 or ns), e.g. a session open, instead of "
        "the Unix epoch",
    )
    return parser


def aggregate(
    lines: Iterable[str], name: str, interval: Interval, *, origin: int = 0, fill_empty: bool
) -> list[str]:
    """The output lines (header first) for the CSV ``lines`` of the file called ``name``.

    Raises :class:`InputError` at the first bad or out-of-order row."""
    rows = [OUTPUT_HEADER]
    builder = TimeBarBuilder(
        name,
        interval,
        lambda bar: rows.append(bar_row(bar)),
        origin=origin,
        empty="flat" if fill_empty else "skip",
    )
    reader = csv.reader(lines)
    header = next(reader, None)
    names = [column.strip() for column in header or ()]
    if sorted(names) != sorted(COLUMNS):
        got = json.dumps(",".join(header)) if header else "an empty file"
        raise InputError(f"{name}:1: expected the header ts,price,size (any order), got {got}")
    at_ts, at_price, at_size = (names.index(column) for column in COLUMNS)
    previous_ts: int | None = None
    previous_line = 0
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) != len(COLUMNS):
            raise InputError(
                f"{name}:{line}: expected 3 fields (ts,price,size), got {len(row)}: "
                f"{json.dumps(','.join(row))}"
            )
        try:
            ts = parse_timestamp(row[at_ts])
        except ValueError as error:
            raise _bad(name, line, "ts", str(error), row[at_ts]) from None
        price = _finite(row[at_price], name, line, "price")
        size = _finite(row[at_size], name, line, "size")
        if size < 0:
            raise _bad(name, line, "size", "expected a number >= 0", row[at_size])
        if previous_ts is not None and ts < previous_ts:
            problem = f"out of order, before the time on line {previous_line} (sort by ts)"
            raise _bad(name, line, "ts", problem, row[at_ts])
        previous_ts, previous_line = ts, line
        builder.update(ts, price, size)
    builder.flush()
    return rows


def _bad(name: str, line: int, column: str, problem: str, value: str) -> InputError:
    return InputError(f"{name}:{line}: column {column}: {problem}, got {json.dumps(value)}")


def _finite(text: str, name: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _bad(name, line, column, "expected a number", text)
    return value


class _Progress:
    """``\\r``-updated percentage of the input read, on a terminal's stderr."""

    def __init__(self, name: str, total_bytes: int, stream: IO[str]) -> None:
        self.name = name
        self.total = total_bytes
        self.done = 0
        self.rows = 0
        self.stream = stream

    def count(self, lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            self.done += len(line)
            self.rows += 1
            if not self.rows % _PROGRESS_EVERY_ROWS:
                self.show()
            yield line

    def show(self, end: str = "") -> None:
        percent = min(100.0, 100.0 * self.done / self.total)
        self.stream.write(f"\r{self.name}: {percent:5.1f}% ({self.rows:,} lines){end}")
        self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (without the program name); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        rows = _read(args.input, args.interval, args.origin, args.fill_empty)
        _write(args.output, rows)
    except InputError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _read(path: str, interval: Interval, origin: int, fill_empty: bool) -> list[str]:
    if path == "-":
        return aggregate(sys.stdin, "<stdin>", interval, origin=origin, fill_empty=fill_empty)
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            lines: Iterable[str] = file
            progress = None
            if sys.stderr.isatty() and os.fstat(file.fileno()).st_size >= PROGRESS_MIN_BYTES:
                progress = _Progress(path, os.fstat(file.fileno()).st_size, sys.stderr)
                lines = progress.count(file)
            rows = aggregate(lines, path, interval, origin=origin, fill_empty=fill_empty)
            if progress is not None:
                progress.done = progress.total
                progress.show("\n")
            return rows
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason})") from None


def _write(path: str, rows: list[str]) -> None:
    text = "\n".join(rows) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    except OSError as error:
        raise InputError(f"{path}: cannot write: {error.strerror or error}") from None
