"""``DIR/report.html``: a backtest on one self-contained page a trader can read.

The page has the equity curve, the drawdown, each instrument's price with its trades marked
on it, and the statistics, trades and open positions tables. It is plain HTML with inline SVG
drawn by :mod:`engine.backtest.svg` and one ``<style>`` block: no script, no font, image or
style sheet fetched from anywhere (its Content-Security-Policy forbids them), so it opens
offline and from an e-mail attachment.

The input is :class:`HtmlReportInput` (from :mod:`engine.backtest.html_input`, re-exported
here), built by the caller from the run's results: curves as numbers, tables as strings
already formatted the way ``report.json`` writes them. Rendering is deterministic: the same
input gives the same bytes. Long curves are downsampled to ``ReportLimits.max_points`` per
line, keeping each bucket's minimum and maximum, so a 100,000-bar run gives a page of a few
hundred kB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

from engine.backtest import svg
from engine.backtest.html_input import (
    DEFAULT_LIMITS,
    EquitySample,
    HtmlReportInput,
    InstrumentPrices,
    Number,
    PricePoint,
    ReportLimits,
    Table,
    TradeMarker,
    with_drawdown,
)
from engine.timezones import to_exchange_time

__all__ = [
    "DEFAULT_LIMITS",
    "EquitySample",
    "HtmlReportInput",
    "InstrumentPrices",
    "Number",
    "PricePoint",
    "ReportLimits",
    "Table",
    "TradeMarker",
    "render_html_report",
    "with_drawdown",
    "write_html_report",
]

_WIDTH = 1160


def write_html_report(
    path: Path | str, data: HtmlReportInput, *, limits: ReportLimits = DEFAULT_LIMITS
) -> None:
    """Write :func:`render_html_report`'s page to ``path`` as UTF-8 (``\\n`` line ends).

    Raises ``ValueError`` as :func:`render_html_report` does, and ``OSError`` if the file
    cannot be written.
    """
    Path(path).write_bytes(render_html_report(data, limits=limits).encode("utf-8"))


def render_html_report(data: HtmlReportInput, *, limits: ReportLimits = DEFAULT_LIMITS) -> str:
    """The report page for ``data`` as one HTML document; every text in ``data`` is escaped.

    Points whose value is not finite (NaN, infinity) are left out of the charts.
    Raises ``ValueError`` naming the value if ``data.timezone`` is not a known time zone or
    ``limits.max_points`` is below 4.
    """
    to_exchange_time(0, data.timezone)  # fails early, naming the zone
    svg.bucket_bounds(0, limits.max_points)  # fails early, naming the cap
    body = [
        _header(data),
        _equity_section(data, limits),
        _drawdown_section(data, limits),
        _statistics_section(data, limits),
        _prices_section(data, limits),
        _trades_section(data, limits),
        _open_positions_section(data),
        '<footer class="note">Written by troupe backtest. '
        "Every trade, order and fill is in report.json.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        f"<title>{escape(data.title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        "<body>\n<main>\n"
        + "\n".join(part for part in body if part)
        + "\n</main>\n</body>\n</html>\n"
    )


def _header(data: HtmlReportInput) -> str:
    parts = [f"<header>\n<h1>{escape(data.title)}</h1>"]
    if data.subtitle:
        parts.append(f'<p class="meta">{escape(data.subtitle)}</p>')
    meta = [f"Times in {data.timezone}"]
    if data.equity:
        first, last = data.equity[0].ts_ns, data.equity[-1].ts_ns
        meta.append(f"{_when(first, data.timezone)} to {_when(last, data.timezone)}")
        meta.append(f"{len(data.equity):,} bars")
    parts.append(f'<p class="meta">{escape(" · ".join(meta))}</p>')
    if data.headline:
        tiles = "".join(
            f'<div class="tile"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div>'
            "</div>"
            for k, v in data.headline.items()
        )
        parts.append(f'<div class="tiles">{tiles}</div>')
    parts.append("</header>")
    return "\n".join(parts)


def _when(ts_ns: int, tz: str) -> str:
    return to_exchange_time(ts_ns, tz).strftime("%Y-%m-%d %H:%M")


def _finite(times: Sequence[int], values: Sequence[Number]) -> tuple[list[int], list[float]]:
    kept_times: list[int] = []
    kept_values: list[float] = []
    for ts, value in zip(times, values, strict=True):
        number = float(value)
        if math.isfinite(number):
            kept_times.append(ts)
            kept_values.append(number)
    return kept_times, kept_values


def _thin(times: list[int], values: list[float], cap: int) -> tuple[list[int], list[float]]:
    keep = svg.downsample_min_max(values, cap)
    return [times[i] for i in keep], [values[i] for i in keep]


def _equity_section(data: HtmlReportInput, limits: ReportLimits) -> str:
    times, values = _finite([p.ts_ns for p in data.equity], [p.equity for p in data.equity])
    if not times:
        return _section("equity", "Equity", '<p class="note">No equity points to draw.</p>')
    axis = svg.value_axis(min(values), max(values))
    frame = svg.Frame(_WIDTH, 320, times[0], times[-1], axis.lo, axis.hi)
    shown_times, shown = _thin(times, values, limits.max_points)
    chart = svg.chart(
        frame,
        label="Equity curve",
        x_ticks=svg.time_ticks(times[0], times[-1], data.timezone),
        y_axis=axis,
        y_suffix="",
        body=[svg.polyline(frame, shown_times, shown, "equity")],
    )
    title = f"Equity: {axis.label(values[0])} to {axis.label(values[-1])}"
    return _section("equity", title, chart)


def _drawdown_section(data: HtmlReportInput, limits: ReportLimits) -> str:
    times, values = _finite(
        [p.ts_ns for p in data.equity], [-abs(float(p.drawdown)) * 100 for p in data.equity]
    )
    if not times:
        return ""
    deepest = min(range(len(values)), key=values.__getitem__)
    # A run that never fell below its peak still gets a readable axis: 0 to -1 %.
    axis = svg.value_axis(values[deepest] if values[deepest] < 0 else -1.0, 0.0)
    frame = svg.Frame(_WIDTH, 200, times[0], times[-1], axis.lo, axis.hi)
    shown_times, shown = _thin(times, values, limits.max_points)
    chart = svg.chart(
        frame,
        label="Drawdown from the running peak, percent",
        x_ticks=svg.time_ticks(times[0], times[-1], data.timezone),
        y_axis=axis,
        y_suffix=" %",
        body=[
            svg.area(frame, shown_times, shown, 0.0, "drawdown-area"),
            svg.polyline(frame, shown_times, shown, "drawdown"),
        ],
    )
    title = (
        f"Drawdown: deepest {values[deepest]:.2f} % at {_when(times[deepest], data.timezone)}"
        if values[deepest] < 0
        else "Drawdown: none"
    )
    return _section("drawdown", title, chart)


def _statistics_section(data: HtmlReportInput, limits: ReportLimits) -> str:
    parts = []
    if data.statistics:
        rows = "".join(
            f"<tr><th>{escape(k)}</th>{_cell(v, pnl=False)}</tr>"
            for k, v in data.statistics.items()
        )
        parts.append(f'<table class="kv">{rows}</table>')
    for heading, first, groups in (
        ("By instrument", "Instrument", data.statistics_by_instrument),
        ("By exit reason", "Exit reason", data.statistics_by_exit_reason),
    ):
        if groups:
            labels = list(dict.fromkeys(label for stats in groups.values() for label in stats))
            rows_ = [
                [name, *(stats.get(label, "") for label in labels)]
                for name, stats in groups.items()
            ]
            table = Table([first, *labels], rows_)
            parts.append(f"<h3>{heading}</h3>")
            parts.append(_table(table, limits.max_group_rows, noun="rows"))
    if not parts:
        return ""
    return _section("statistics", "Statistics", "\n".join(parts))


def _prices_section(data: HtmlReportInput, limits: ReportLimits) -> str:
    if not data.instruments:
        return ""
    shown = data.instruments[: limits.max_price_charts]
    parts = [
        '<p class="legend"><span class="win">▲</span> entry <span class="win">▼</span> exit '
        'of a winning trade, <span class="loss">▲ ▼</span> of a losing one '
        "(hover a marker for its fill)</p>"
    ]
    for instrument in shown:
        parts.append(f"<h3>{escape(instrument.instrument)}</h3>")
        parts.append(_price_chart(instrument, data.timezone, limits))
    if len(data.instruments) > len(shown):
        parts.append(
            f'<p class="note">Price charts for the first {len(shown):,} of '
            f"{len(data.instruments):,} instruments; the statistics and trades tables "
            "cover them all.</p>"
        )
    return _section("prices", "Trades on price", "\n".join(parts))


def _price_chart(instrument: InstrumentPrices, tz: str, limits: ReportLimits) -> str:
    times, closes = _finite(
        [p.ts_ns for p in instrument.prices], [p.close for p in instrument.prices]
    )
    markers = [m for m in instrument.markers if math.isfinite(float(m.price))]
    drawn = markers[: limits.max_markers]
    if not times and not drawn:
        return '<p class="note">No prices to draw.</p>'
    all_times = times + [m.ts_ns for m in drawn]
    all_values = closes + [float(m.price) for m in drawn]
    low, high = min(all_values), max(all_values)
    pad = (high - low) * 0.04  # room for markers at the extremes
    axis = svg.value_axis(low - pad, high + pad)
    t0, t1 = min(all_times), max(all_times)
    frame = svg.Frame(_WIDTH, 260, t0, t1, axis.lo, axis.hi)
    shown_times, shown = _thin(times, closes, limits.max_points)
    body = [svg.polyline(frame, shown_times, shown, "price")]
    for m in drawn:
        outcome = "win" if m.won else "loss"
        note = m.note or f"{m.leg} at {m.price} ({outcome}), {_when(m.ts_ns, tz)}"
        body.append(
            svg.triangle(
                frame, m.ts_ns, float(m.price), up=m.leg == "entry", css=f"m {outcome}", note=note
            )
        )
    chart = svg.chart(
        frame,
        label=f"{instrument.instrument} close with trade entries and exits",
        x_ticks=svg.time_ticks(t0, t1, tz),
        y_axis=axis,
        y_suffix="",
        body=body,
    )
    if len(markers) > len(drawn):
        chart += (
            f'\n<p class="note">Markers for the first {len(drawn):,} of {len(markers):,} fills.</p>'
        )
    return chart


def _trades_section(data: HtmlReportInput, limits: ReportLimits) -> str:
    if not data.trades.rows:
        return _section("trades", "Trades", '<p class="note">No closed trades.</p>')
    return _section("trades", "Trades", _table(data.trades, limits.max_trade_rows, noun="trades"))


def _open_positions_section(data: HtmlReportInput) -> str:
    if not data.open_positions.rows:
        return _section("open-positions", "Open positions", '<p class="note">None.</p>')
    table = _table(data.open_positions, len(data.open_positions.rows), noun="positions")
    return _section("open-positions", "Open positions at the end", table)


def _section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n{content}\n</section>'


_NUMBER = re.compile(r"[+\-\u2212]?(?:\d[\d,]*)?(?:\.\d+)?(?:\s?%)?")


def _cell(text: str, *, pnl: bool) -> str:
    stripped = text.strip()
    if not (any(c.isdigit() for c in stripped) and _NUMBER.fullmatch(stripped)):
        return f"<td>{escape(text)}</td>"
    css = "num"
    if pnl and stripped[0] in "-\u2212":
        css += " neg"
    elif pnl and any(c in "123456789" for c in stripped):
        css += " pos"
    return f'<td class="{css}">{escape(text)}</td>'


def _table(table: Table, limit: int, *, noun: str) -> str:
    pnl = {i for i, name in enumerate(table.columns) if name in set(table.pnl_columns)}
    head = "".join(f"<th>{escape(name)}</th>" for name in table.columns)
    rows = "\n".join(
        "<tr>" + "".join(_cell(c, pnl=i in pnl) for i, c in enumerate(row)) + "</tr>"
        for row in table.rows[:limit]
    )
    html = (
        f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody>\n</table></div>"
    )
    if len(table.rows) > limit:
        html += (
            f'\n<p class="note">The first {limit:,} of {len(table.rows):,} {noun}; '
            "all of them are in report.json.</p>"
        )
    return html


_STYLE = """
:root { color-scheme: light; }
body { margin: 0; background: #f4f5f7; color: #1d2430;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 20px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 18px 0 6px; }
.meta { color: #5b6573; margin: 0; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 16px; }
.tile { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 10px 14px;
  min-width: 150px; }
.tile .k { color: #5b6573; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.tile .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
section { background: #fff; border: 1px solid #dde1e7; border-radius: 8px;
  padding: 16px 18px; margin: 16px 0; }
svg { display: block; width: 100%; height: auto; }
svg .plot { fill: #fff; }
svg .frame { fill: none; stroke: #9aa3af; stroke-width: 1; }
svg .grid { stroke: #e6e9ee; stroke-width: 1; }
svg .tick { font-size: 12px; fill: #5b6573; }
svg .equity { fill: none; stroke: #1f6feb; stroke-width: 2; stroke-linejoin: round; }
svg .drawdown-area { fill: #f3c4c0; }
svg .drawdown { fill: none; stroke: #c0392b; stroke-width: 1.2; stroke-linejoin: round; }
svg .price { fill: none; stroke: #46505e; stroke-width: 1.2; stroke-linejoin: round; }
svg .m { stroke: #fff; stroke-width: .8; }
svg .win { fill: #1a9850; }
svg .loss { fill: #d73027; }
.legend { color: #5b6573; margin: 0; }
.legend .win { color: #1a9850; }
.legend .loss { color: #d73027; }
.scroll { overflow-x: auto; max-height: 640px; overflow-y: auto; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eceff3; text-align: left;
  white-space: nowrap; }
thead th { background: #f0f2f5; position: sticky; top: 0; }
tbody tr:nth-child(even) { background: #fafbfc; }
table.kv th { font-weight: normal; color: #5b6573; }
td.num { text-align: right; }
td.pos { color: #137a3a; }
td.neg { color: #b42318; }
.note { color: #5b6573; font-size: 13px; margin: 8px 0 0; }
footer { margin-top: 24px; }
"""
