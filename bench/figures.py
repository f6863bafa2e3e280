"""What every benchmark shares: figures, percentiles, quiet logs, and printing the result
(one JSON object with ``--json``, else progress lines on stderr and a table)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

Figures = dict[str, float | int | str | bool | None]
Progress = Callable[[str], None]


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Silence structlog below CRITICAL (crash and dead-letter logs) and restore it after."""
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (0-100) of ``samples``."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def rate(count: int, elapsed_ns: int) -> float:
    return count / (elapsed_ns / 1e9) if elapsed_ns > 0 else math.inf


def format_value(value: float | int | str | bool | None) -> str:
    """A figure for a table: ``null`` where there is none (a peer not installed), ``true``
    or ``false``, numbers with thousands separators."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


def rounded(figures: Figures) -> Figures:
    """Figures for JSON: rates to whole numbers, small values to three decimals; the rest
    (text, ``null``, booleans) as they are."""
    out: Figures = {}
    for key, value in figures.items():
        if isinstance(value, float) and math.isfinite(value):
            out[key] = round(value, 3) if abs(value) < 100 else round(value)
        else:
            out[key] = value
    return out


def table(figures: Figures) -> str:
    width = max(len(key) for key in figures)
    values = {key: format_value(value) for key, value in figures.items()}
    value_width = max(len(value) for value in values.values())
    return "\n".join(f"{key:<{width}}  {value:>{value_width}}" for key, value in values.items())


def report(measure: Callable[..., Figures], *, quick: bool, as_json: bool) -> int:
    """Run ``measure(quick=..., progress=...)`` and print its figures: one JSON object with
    ``as_json``, else progress lines on stderr and a table. Shared by every benchmark."""

    def to_stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    figures = measure(quick=quick, progress=None if as_json else to_stderr)
    print(json.dumps(rounded(figures)) if as_json else table(figures))
    return 0


def collector(figures: Figures, progress: Progress | None) -> Callable[[Figures], None]:
    """``add(new)``: put ``new`` into ``figures``, and say each figure to ``progress``."""

    def add(new: Figures) -> None:
        figures.update(new)
        if progress is not None:
            for key, value in new.items():
                progress(f"{key}: {format_value(value)}")

    return add


def bench_parser(name: str, description: str, quick_help: str) -> argparse.ArgumentParser:
    """The parser of ``troupe bench NAME``: ``--json`` and ``--quick``."""
    parser = argparse.ArgumentParser(
        prog=f"troupe bench {name}", description=f"{description} Figures, not pass/fail."
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser
