"""Inline SVG charts for the backtest report: scales, axis ticks, downsampling and shapes.

Everything here returns markup as ``str`` and is deterministic: the same input gives the same
characters (coordinates are written with one decimal). Times are ``int`` ns since the epoch,
UTC, labelled in the exchange's time zone; values are plain ``float``.

Text that reaches the markup goes through :func:`html.escape`; callers pass raw text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from html import escape

import numpy as np

from engine.timezones import to_exchange_time

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_S = 86_400
_NS_PER_S = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Tick steps a reader expects on a time axis, smallest first.
_SUBDAY_STEPS_S = (
    *(1, 2, 5, 10, 15, 30),
    *(60, 120, 300, 600, 900, 1800),
    *(3600, 7200, 10800, 21600, 43200),
)
_DAY_STEPS = (1, 2, 7, 14)
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200)
_MONTH_S = 30.44 * _DAY_S


def bucket_bounds(n: int, cap: int) -> list[tuple[int, int]]:
    """The index ranges ``[start, stop)`` that :func:`downsample_min_max` reduces to their
    minimum and maximum when ``n`` points exceed ``cap``; empty when they do not.

    The first and the last point are kept on their own, so the buckets cover ``1 .. n - 2``.
    Raises ``ValueError`` if ``cap`` is below 4.
    """
    if cap < 4:
        raise ValueError(f"a downsampling cap of {cap} points is too small: at least 4 allowed")
    if n <= cap:
        return []
    buckets = (cap - 2) // 2
    inner = n - 2
    edges = [1 + (k * inner) // buckets for k in range(buckets + 1)]
    return [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]


def downsample_min_max(values: Sequence[float] | np.ndarray, cap: int) -> list[int]:
    """Indices, ascending and at most ``cap`` of them, of the points to draw from ``values``.

    Up to ``cap`` points, all are kept. Beyond it the first and last points are kept and the
    rest is cut into ``(cap - 2) // 2`` equal runs of consecutive points, each reduced to its
    minimum and its maximum, so spikes and the deepest drawdown stay on the chart.
    Raises ``ValueError`` if ``cap`` is below 4.
    """
    n = len(values)
    bounds = bucket_bounds(n, cap)
    if not bounds:
        return list(range(n))
    array = np.asarray(values, dtype=np.float64)
    keep = {0, n - 1}
    for lo, hi in bounds:
        run = array[lo:hi]
        keep.add(lo + int(np.argmin(run)))
        keep.add(lo + int(np.argmax(run)))
    return sorted(keep)


@dataclass(frozen=True, slots=True)
class ValueAxis:
    """A value axis rounded out to whole ticks: ``lo`` and ``hi`` are the first and last."""

    lo: float
    hi: float
    ticks: tuple[float, ...]
    decimals: int

    def label(self, value: float, suffix: str = "") -> str:
        return f"{value:,.{self.decimals}f}{suffix}"


def value_axis(lo: float, hi: float, target: int = 5) -> ValueAxis:
    """About ``target`` ticks at 1, 2, 2.5 or 5 times a power of ten, covering ``lo .. hi``.

    A flat range (``lo == hi``) is widened around its value. Raises ``ValueError`` if a bound
    is not finite.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"value range {lo} .. {hi} is not finite")
    lo, hi = min(lo, hi), max(lo, hi)
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = abs(hi) * 0.01 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / target
    power = 10.0 ** math.floor(math.log10(raw))
    multiple = next(m for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * (1 - 1e-9))
    step = multiple * power
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    ticks = tuple(0.0 if k == 0 else k * step for k in range(first, last + 1))
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if multiple == 2.5 else 0)
    return ValueAxis(ticks[0], ticks[-1], ticks, decimals)


def time_ticks(start_ns: int, end_ns: int, tz: str, target: int = 6) -> list[tuple[int, str]]:
    """Between about ``target / 2`` and ``target + 2`` ticks at round wall-clock times in
    ``tz`` between ``start_ns`` and ``end_ns`` (inclusive), as ``(ts_ns, label)``: whole
    years, months, days or clock times, whichever fits the span.

    Raises ``ValueError`` if ``tz`` is not a known time zone.
    """
    first = to_exchange_time(start_ns, tz)
    zone = first.tzinfo
    assert zone is not None
    if end_ns <= start_ns:
        return [(start_ns, first.strftime("%Y-%m-%d %H:%M"))]
    span_s = (end_ns - start_ns) / _NS_PER_S
    wanted = span_s / (target + 2)  # the smallest round step giving at most target + 2 ticks
    for step_s in _SUBDAY_STEPS_S:
        if step_s >= wanted:
            return _clock_ticks(start_ns, end_ns, tz, first, step_s)
    for step_d in _DAY_STEPS:
        if step_d * _DAY_S >= wanted:
            return _day_ticks(start_ns, end_ns, first.date(), zone, step_d)
    step_m = next((m for m in _MONTH_STEPS if m * _MONTH_S >= wanted), _MONTH_STEPS[-1])
    return _month_ticks(start_ns, end_ns, first.date(), zone, step_m)


def _ns(moment: datetime) -> int:
    return ((moment - _EPOCH) // timedelta(microseconds=1)) * 1_000


def _clock_ticks(
    start_ns: int, end_ns: int, tz: str, first: datetime, step_s: int
) -> list[tuple[int, str]]:
    zone = first.tzinfo
    wall = first.replace(tzinfo=None)
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    into_day = int((wall - midnight).total_seconds())
    tick = midnight + timedelta(seconds=into_day // step_s * step_s)
    days = to_exchange_time(end_ns, tz).date() != first.date()
    fmt = ("%m-%d " if days else "") + ("%H:%M:%S" if step_s < 60 else "%H:%M")
    ticks: dict[int, str] = {}
    while True:
        ts = _ns(tick.replace(tzinfo=zone))
        if ts > end_ns:
            break
        if ts >= start_ns:
            ticks.setdefault(ts, tick.strftime(fmt))
        tick += timedelta(seconds=step_s)
    return sorted(ticks.items())


def _day_ticks(
    start_ns: int, end_ns: int, first: date, zone: tzinfo, step_d: int
) -> list[tuple[int, str]]:
    anchor = first.toordinal()
    # Weekly ticks fall on Mondays; other steps on days a whole number of steps from day one.
    anchor -= first.weekday() if step_d in (7, 14) else anchor % step_d
    ticks: list[tuple[int, str]] = []
    day = date.fromordinal(anchor)
    while True:
        ts = _ns(datetime(day.year, day.month, day.day, tzinfo=zone))
        if ts > end_ns:
            break
        if ts >= start_ns:
            ticks.append((ts, day.isoformat()))
        day += timedelta(days=step_d)
    return ticks


def _month_ticks(
    start_ns: int, end_ns: int, first: date, zone: tzinfo, step_m: int
) -> list[tuple[int, str]]:
    month = (first.year * 12 + first.month - 1) // step_m * step_m
    ticks: list[tuple[int, str]] = []
    while True:
        year, index = divmod(month, 12)
        ts = _ns(datetime(year, index + 1, 1, tzinfo=zone))
        if ts > end_ns:
            break
        if ts >= start_ns:
            label = str(year) if step_m % 12 == 0 else f"{_MONTHS[index]} {year}"
            ticks.append((ts, label))
        month += step_m
    return ticks


@dataclass(frozen=True, slots=True)
class Frame:
    """A chart's canvas (in SVG user units) and the time and value ranges it maps onto the
    plot area inside the margins."""

    width: int
    height: int
    t0: int
    t1: int
    lo: float
    hi: float
    left: int = 84
    right: int = 40
    top: int = 12
    bottom: int = 28

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    def x(self, ts_ns: int) -> float:
        if self.t1 == self.t0:
            return self.left + self.plot_width / 2
        return self.left + (ts_ns - self.t0) / (self.t1 - self.t0) * self.plot_width

    def y(self, value: float) -> float:
        return self.top + (self.hi - value) / (self.hi - self.lo) * self.plot_height


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def points(frame: Frame, times: Sequence[int], values: Sequence[float]) -> str:
    """The ``points`` attribute of a polyline through ``(times[i], values[i])``."""
    return " ".join(
        f"{_num(frame.x(t))},{_num(frame.y(v))}" for t, v in zip(times, values, strict=True)
    )


def polyline(frame: Frame, times: Sequence[int], values: Sequence[float], css: str) -> str:
    return f'<polyline class="{escape(css)}" points="{points(frame, times, values)}"/>'


def area(frame: Frame, times: Sequence[int], values: Sequence[float], base: float, css: str) -> str:
    """A closed shape between the line through the points and the level ``base``."""
    if not times:
        return ""
    y0 = _num(frame.y(base))
    line = points(frame, times, values)
    start, end = _num(frame.x(times[0])), _num(frame.x(times[-1]))
    return f'<polygon class="{escape(css)}" points="{start},{y0} {line} {end},{y0}"/>'


def triangle(frame: Frame, ts_ns: int, price: float, *, up: bool, css: str, note: str) -> str:
    """A marker whose tip touches ``(ts_ns, price)``: pointing up from below (``up``) or down
    from above, with ``note`` as its hover text."""
    x, y = frame.x(ts_ns), frame.y(price)
    base = y + 10 if up else y - 10
    shape = f"{_num(x)},{_num(y)} {_num(x - 5.5)},{_num(base)} {_num(x + 5.5)},{_num(base)}"
    title = f"<title>{escape(note)}</title>" if note else ""
    return f'<polygon class="{escape(css)}" points="{shape}">{title}</polygon>'


def chart(
    frame: Frame,
    *,
    label: str,
    x_ticks: Sequence[tuple[int, str]],
    y_axis: ValueAxis,
    y_suffix: str,
    body: Sequence[str],
) -> str:
    """A whole ``<svg>``: grid, tick labels, the plot's frame and ``body`` (shapes from this
    module), scaling to its container's width.

    The ``data-*`` attributes give the plot area and its ranges, so the chart can be read back.
    """
    left, top = frame.left, frame.top
    right, bottom = frame.left + frame.plot_width, frame.top + frame.plot_height
    parts = [
        f'<svg viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet" '
        f'data-plot="{left} {top} {frame.plot_width} {frame.plot_height}" '
        f'data-time="{frame.t0} {frame.t1}" data-value="{frame.lo!r} {frame.hi!r}">',
        f'<rect class="plot" x="{left}" y="{top}" '
        f'width="{frame.plot_width}" height="{frame.plot_height}"/>',
    ]
    for value in y_axis.ticks:
        y = _num(frame.y(value))
        parts.append(f'<line class="grid" x1="{left}" y1="{y}" x2="{right}" y2="{y}"/>')
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(y_axis.label(value, y_suffix))}</text>'
        )
    for ts, text in x_ticks:
        x = _num(frame.x(ts))
        parts.append(f'<line class="grid" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/>')
        parts.append(
            f'<text class="tick" x="{x}" y="{bottom + 18}" text-anchor="middle">'
            f"{escape(text)}</text>"
        )
    parts.extend(body)
    parts.append(
        f'<rect class="frame" x="{left}" y="{top}" '
        f'width="{frame.plot_width}" height="{frame.plot_height}"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)
