"""A backtest's ``report.html``: the report's figures mapped onto the page's input."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import msgspec

from adapters.replay.bar_series import BarSeries
from engine.backtest.html_report import (
    HtmlReportInput,
    InstrumentPrices,
    PricePoint,
    Table,
    TradeMarker,
    with_drawdown,
    write_html_report,
)
from engine.backtest.report import Report
from engine.ledger.equity_curve import EquityPoint

TRADE_COLUMNS = (
    "instrument", "side", "qty", "entry_time", "entry_price", "exit_time", "exit_price", "pnl",
    "fees", "exit_reason",
)  # fmt: skip
OPEN_COLUMNS = ("instrument", "qty", "avg_price", "mark_price", "unrealized_pnl", "since")


MAX_PRICE_CHARTS = 12
"""Price charts drawn at most: the instruments with the most trades (then by name)."""


def write_backtest_html(
    path: Path,
    title: str,
    report: Report,
    equity: Sequence[EquityPoint],
    bars: Mapping[str, BarSeries],
) -> Path:
    """Write ``path`` (a self-contained page) from ``report``, its bar-by-bar ``equity`` and
    each instrument's ``bars``; returns ``path``."""
    counts = Counter(trade.instrument for trade in report.trades)
    shown = sorted(bars, key=lambda i: (-counts[i], i))[:MAX_PRICE_CHARTS]
    overall = msgspec.to_builtins(report.statistics.overall)
    data = HtmlReportInput(
        title=title,
        timezone=report.run.timezone,
        equity=with_drawdown((point.ts, point.equity) for point in equity),
        instruments=[
            InstrumentPrices(
                instrument=instrument,
                prices=[
                    PricePoint(ts_ns=bar.ts_close, close=bar.close) for bar in bars[instrument]
                ],
                markers=_markers(report, instrument),
            )
            for instrument in sorted(shown)
        ],
        headline={
            "Final equity": str(report.final_equity),
            "Total return": _percent(overall.get("total_return")),
            "Trades": str(len(report.trades)),
        },
        statistics={key: _text(value) for key, value in overall.items()},
        statistics_by_exit_reason={
            reason: {k: _text(v) for k, v in msgspec.to_builtins(figures).items()}
            for reason, figures in report.statistics.by_exit_reason.items()
        },
        trades=Table.from_records(report.trades, TRADE_COLUMNS, ("pnl",)),
        open_positions=Table.from_records(report.open_positions, OPEN_COLUMNS, ("unrealized_pnl",)),
        subtitle=", ".join(f"{k} {v}" for k, v in report.run.settings.items()),
    )
    write_html_report(path, data)
    return path


def _prices(bars: BarSeries) -> list[PricePoint]:
    # From the columns: no bar objects made for a chart.
    return [
        PricePoint(ts_ns=ts, close=close)
        for ts, close in zip(bars.ts_close.tolist(), bars.close.tolist(), strict=True)
    ]


def _markers(report: Report, instrument: str) -> list[TradeMarker]:
    markers = []
    for trade in report.trades:
        if trade.instrument != instrument:
            continue
        won = Decimal(trade.pnl) > 0
        for leg, when, price in (
            ("entry", trade.entry_time, trade.entry_price),
            ("exit", trade.exit_time, trade.exit_price),
        ):
            markers.append(
                TradeMarker(
                    ts_ns=_ns(when),
                    price=Decimal(price),
                    leg=leg,  # type: ignore[arg-type]
                    won=won,
                    note=f"{leg} {trade.qty} at {price} ({trade.exit_reason})",
                )
            )
    return markers


def _ns(iso: str) -> int:
    moment = dt.datetime.fromisoformat(iso)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _percent(value: object) -> str:
    return "" if not isinstance(value, int | float) else f"{100 * value:.2f} %"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
