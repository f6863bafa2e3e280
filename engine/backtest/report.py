"""A backtest's report: the model of ``report.json``, how it is built from the run's fills and
equity curve, and the files written beside it.

``DIR/report.json`` (:func:`write_report`) is byte-identical for identical inputs: keys
sorted, two-space indentation, a final newline; no wall-clock time and no absolute path in
it; money and prices as strings of exact decimals (``"1234.50"``, never an exponent, never
``-0``); ratios as numbers rounded to 10 significant digits; an undefined ratio (a profit
factor without a losing trade, a Sharpe ratio of a flat curve) as ``null``, never NaN or
infinity. Times are ISO 8601 wall-clock times with their UTC offset in the report's time zone
(``"2024-01-02T09:15:00+05:30"``), to the microsecond at most.

Beside it (the report names them, relative to ``DIR``): ``equity.csv``
(:func:`write_equity_csv`), ``orders.csv`` (:func:`write_orders_csv`) and ``fills.csv``
(:func:`write_fills_csv`), with the same formatting of money and times.

Trades are round trips from flat to flat per instrument
(:func:`engine.journal.trades.round_trips`): a trade closed by several fills (partial exits)
has the quantity-weighted average of their prices as its exit price, and the exit reason of
the fill that brought it flat (:func:`engine.backtest.exit_reasons.exit_reason` of its client
order id). A trade's ``pnl`` is net of its fees (``gross_pnl - fees``).
"""

from __future__ import annotations

import csv
import decimal
import io
import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from engine.backtest.exit_reasons import exit_reason
from engine.backtest.statistics import ClosedTrade, Statistics, compute_statistics
from engine.journal.trades import RoundTrip, round_trips
from engine.ledger.equity_curve import EquityPoint
from engine.messages.trading import OrderFilled, OrderSide
from engine.orders.order import OrderView
from engine.timezones import iso

__all__ = [
    "EQUITY_CSV",
    "FILLS_CSV",
    "ORDERS_CSV",
    "REPORT_JSON",
    "OpenPosition",
    "Report",
    "RunInfo",
    "TradeRow",
    "build_report",
    "closed_trades",
    "console_summary",
    "read_report",
    "report_json",
    "write_equity_csv",
    "write_fills_csv",
    "write_orders_csv",
    "write_report",
]

REPORT_JSON = "report.json"
EQUITY_CSV = "equity.csv"
ORDERS_CSV = "orders.csv"
FILLS_CSV = "fills.csv"

REPORT_VERSION = 1
"""Bumped when a field of ``report.json`` changes meaning or goes away."""

_SIGNIFICANT_DIGITS = 10


class TradeRow(msgspec.Struct, frozen=True, kw_only=True):
    """One closed trade as the report shows it (see :class:`ClosedTrade` for the figures)."""

    instrument: str
    strategy: str
    side: str
    """``"long"`` or ``"short"``."""
    qty: int
    entry_time: str
    entry_price: Decimal
    exit_time: str
    exit_price: Decimal
    pnl: Decimal
    """Net of fees: ``gross_pnl - fees``."""
    gross_pnl: Decimal
    fees: Decimal
    exit_reason: str


class OpenPosition(msgspec.Struct, frozen=True, kw_only=True):
    """A position still open when the data ended, marked to the instrument's last close."""

    instrument: str
    strategy: str
    """The strategy whose fill opened it."""
    qty: int
    """Signed units: negative for a short."""
    avg_price: Decimal
    """Quantity-weighted average of the entry fills (28 significant digits)."""
    mark_price: Decimal
    unrealized_pnl: Decimal
    """``qty * (mark_price - avg_price)``, before fees, rounded half-even to the finer of 0.01
    and the finest decimal place of the mark and the instrument's fill prices."""
    since: str
    """When the fill that opened it happened."""


class RunInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the run was; nothing that differs between two runs of the same inputs."""

    timezone: str
    """IANA name of the zone the report's times are in."""
    currency: str
    start_cash: Decimal
    start: str | None
    """Time of the first equity point; ``None`` without points."""
    end: str | None
    """Time of the last equity point."""
    bars: int
    """Equity points (one per bar)."""
    instruments: list[str]
    """Sorted."""
    settings: dict[str, str]
    """What the caller chose to record (strategy, parameters, fees, fill model...). It must
    hold no wall-clock time and no absolute path, or the report stops being reproducible."""


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """``report.json``."""

    version: int = REPORT_VERSION
    run: RunInfo
    final_cash: Decimal
    final_equity: Decimal
    trades: list[TradeRow]
    """Closed trades in order of exit."""
    open_positions: list[OpenPosition]
    """Sorted by instrument."""
    statistics: Statistics
    equity: str = EQUITY_CSV
    orders: str = ORDERS_CSV
    fills: str = FILLS_CSV
    """Paths of the CSV files, relative to the report's directory."""


# -- building ---------------------------------------------------------------------------------


def closed_trades(fills: Sequence[OrderFilled]) -> tuple[list[ClosedTrade], list[RoundTrip]]:
    """The closed trades of ``fills`` (in the order they happened) in order of exit (ties in
    order of entry), with their exit reasons; and the trades still open, in order of entry."""
    closers: defaultdict[str, deque[str]] = defaultdict(deque)
    positions: dict[str, int] = {}
    for fill in fills:
        before = positions.get(fill.instrument, 0)
        after = before + (fill.last_qty if fill.side is OrderSide.BUY else -fill.last_qty)
        positions[fill.instrument] = after
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            closers[fill.instrument].append(fill.client_order_id)
    closed: list[tuple[int, int, ClosedTrade]] = []
    still_open: list[RoundTrip] = []
    # Per instrument, round_trips lists trades in order of entry, which is their order of exit.
    for order, trip in enumerate(round_trips(fills)):
        if trip.ts_close is None or trip.pnl is None or trip.exit_price is None:
            still_open.append(trip)
            continue
        closer = closers[trip.instrument].popleft()
        trade = ClosedTrade(
            instrument=trip.instrument,
            strategy=trip.strategy,
            side="long" if trip.side is OrderSide.BUY else "short",
            qty=trip.quantity,
            entry_ns=trip.ts_open,
            entry_price=trip.entry_price,
            exit_ns=trip.ts_close,
            exit_price=trip.exit_price,
            gross_pnl=trip.pnl,
            fees=trip.fees,
            pnl=trip.pnl - trip.fees,
            exit_reason=exit_reason(closer),
        )
        closed.append((trip.ts_close, order, trade))
    closed.sort(key=lambda item: (item[0], item[1]))
    return [trade for _, _, trade in closed], still_open


def build_report(
    *,
    fills: Sequence[OrderFilled],
    equity: Sequence[EquityPoint],
    exposure: Sequence[bool],
    marks: Mapping[str, Decimal],
    timezone: str,
    currency: str,
    start_cash: Decimal,
    settings: Mapping[str, str] | None = None,
    exposure_by_instrument: Mapping[str, Sequence[bool]] | None = None,
    periods_per_year: float | None = None,
) -> Report:
    """The report of a run: its ``fills`` in the order they happened, its ``equity`` curve
    (one point per bar, oldest first) with one ``exposure`` flag per point (and optionally
    one series per instrument), and ``marks``, each instrument's last close.

    ``final_cash`` and ``final_equity`` are the last point's (``start_cash`` without points).

    Raises ``ValueError`` when an open position's instrument has no mark, ``timezone`` is not
    a known time zone, or the statistics refuse their inputs
    (:func:`engine.backtest.statistics.compute_statistics`).
    """
    trades, still_open = closed_trades(fills)
    statistics = compute_statistics(
        [(point.ts, point.equity) for point in equity],
        trades,
        exposure,
        periods_per_year=periods_per_year,
        exposure_by_instrument=exposure_by_instrument,
    )
    last = equity[-1] if equity else None
    return Report(
        run=RunInfo(
            timezone=timezone,
            currency=currency,
            start_cash=start_cash,
            start=iso(equity[0].ts, timezone) if equity else None,
            end=iso(equity[-1].ts, timezone) if equity else None,
            bars=len(equity),
            instruments=sorted(set(marks) | {fill.instrument for fill in fills}),
            settings=dict(settings or {}),
        ),
        final_cash=start_cash if last is None else last.cash,
        final_equity=start_cash if last is None else last.equity,
        trades=[_trade_row(trade, timezone) for trade in trades],
        open_positions=_open_positions(still_open, fills, marks, timezone),
        statistics=statistics,
    )


def _trade_row(trade: ClosedTrade, timezone: str) -> TradeRow:
    return TradeRow(
        instrument=trade.instrument,
        strategy=trade.strategy,
        side=trade.side,
        qty=trade.qty,
        entry_time=iso(trade.entry_ns, timezone),
        entry_price=trade.entry_price,
        exit_time=iso(trade.exit_ns, timezone),
        exit_price=trade.exit_price,
        pnl=trade.pnl,
        gross_pnl=trade.gross_pnl,
        fees=trade.fees,
        exit_reason=trade.exit_reason,
    )


def _open_positions(
    trips: Iterable[RoundTrip],
    fills: Sequence[OrderFilled],
    marks: Mapping[str, Decimal],
    timezone: str,
) -> list[OpenPosition]:
    positions = []
    for trip in trips:
        mark = marks.get(trip.instrument)
        if mark is None:
            raise ValueError(
                f"open position in {trip.instrument} has no mark price: "
                f"marks are given for {sorted(marks) or 'no instrument'}"
            )
        qty = trip.quantity - trip.exit_quantity
        if trip.side is OrderSide.SELL:
            qty = -qty
        places = min(
            -2,
            _exponent(mark),
            *(_exponent(f.last_price) for f in fills if f.instrument == trip.instrument),
        )
        with decimal.localcontext() as context:
            context.prec = 60
            unrealized = (qty * (mark - trip.entry_price)).quantize(
                Decimal(1).scaleb(places), decimal.ROUND_HALF_EVEN
            )
        positions.append(
            OpenPosition(
                instrument=trip.instrument,
                strategy=trip.strategy,
                qty=qty,
                avg_price=trip.entry_price,
                mark_price=mark,
                unrealized_pnl=unrealized,
                since=iso(trip.ts_open, timezone),
            )
        )
    return sorted(positions, key=lambda position: position.instrument)


def _exponent(value: Decimal) -> int:
    return int(value.as_tuple().exponent) if value.is_finite() else 0


# -- report.json ------------------------------------------------------------------------------


def report_json(report: Report) -> bytes:
    """The bytes of ``report.json`` (module docstring for the format)."""
    plain = _plain(msgspec.to_builtins(report, builtin_types=(Decimal,)))
    return msgspec.json.format(msgspec.json.encode(plain, order="sorted"), indent=2) + b"\n"


def write_report(directory: Path | str, report: Report) -> Path:
    """Write ``report.json`` into ``directory`` (made if missing); returns its path."""
    path = _directory(directory) / REPORT_JSON
    path.write_bytes(report_json(report))
    return path


def read_report(path: Path | str) -> Report:
    """A report read back from ``report.json``.

    Raises ``msgspec.ValidationError`` (or ``DecodeError``) for a file that is not one.
    """
    return msgspec.json.decode(Path(path).read_bytes(), type=Report)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Decimal):
        return _decimal_text(value)
    return value


def _number(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    rounded = float(f"{value:.{_SIGNIFICANT_DIGITS}g}")
    return rounded if rounded != 0 else 0.0


def _decimal_text(value: Decimal) -> str:
    """Plain notation (``"100"``, ``"0.0000001"``), no ``-0``."""
    if value.is_zero():
        value = abs(value)
    return format(value, "f")


# -- CSV files --------------------------------------------------------------------------------

_EQUITY_HEADER = ("time", "cash", "positions_value", "equity")
_ORDER_HEADER = (
    "created",
    "updated",
    "client_order_id",
    "instrument",
    "strategy",
    "side",
    "order_type",
    "time_in_force",
    "quantity",
    "price",
    "trigger_price",
    "status",
    "filled_qty",
    "avg_fill_price",
    "role",
    "bracket",
    "correlation_id",
    "venue_order_id",
    "reason",
)
_FILL_HEADER = (
    "time",
    "client_order_id",
    "trade_id",
    "venue_order_id",
    "instrument",
    "strategy",
    "side",
    "quantity",
    "price",
    "fee",
    "currency",
    "liquidity_side",
    "correlation_id",
)


def write_equity_csv(directory: Path | str, points: Iterable[EquityPoint], timezone: str) -> Path:
    """Write ``equity.csv``: one row per point (time, cash, positions value, equity)."""
    rows = ((iso(p.ts, timezone), p.cash, p.positions_value, p.equity) for p in points)
    return _write_csv(_directory(directory) / EQUITY_CSV, _EQUITY_HEADER, rows)


def write_orders_csv(directory: Path | str, orders: Iterable[OrderView], timezone: str) -> Path:
    """Write ``orders.csv``: one row per order as the router last saw it, in the order
    given; prices empty where an order has none."""
    rows = (
        (
            iso(o.created_ns, timezone),
            iso(o.updated_ns, timezone),
            o.client_order_id,
            o.instrument,
            o.strategy,
            o.side.value,
            o.order_type.value,
            o.time_in_force.value,
            o.quantity,
            o.price,
            o.trigger_price,
            o.status.value,
            o.filled_qty,
            o.avg_fill_price,
            o.role,
            o.bracket,
            o.correlation_id,
            o.venue_order_id,
            o.reason,
        )
        for o in orders
    )
    return _write_csv(_directory(directory) / ORDERS_CSV, _ORDER_HEADER, rows)


def write_fills_csv(directory: Path | str, fills: Iterable[OrderFilled], timezone: str) -> Path:
    """Write ``fills.csv``: one row per fill, in the order given."""
    rows = (
        (
            iso(f.ts_event, timezone),
            f.client_order_id,
            f.trade_id,
            f.venue_order_id,
            f.instrument,
            f.strategy,
            f.side.value,
            f.last_qty,
            f.last_price,
            f.fee,
            f.currency,
            f.liquidity_side.value,
            f.correlation_id,
        )
        for f in fills
    )
    return _write_csv(_directory(directory) / FILLS_CSV, _FILL_HEADER, rows)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    return value


def _directory(directory: Path | str) -> Path:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- console ----------------------------------------------------------------------------------


def console_summary(report: Report) -> str:
    """A few lines for the end of a run: the result, the trades, the risk taken."""
    run, overall = report.run, report.statistics.overall
    currency = run.currency
    span = f"{run.start} to {run.end}, {run.bars} bars" if run.start is not None else "no bars"
    lines = [
        f"Backtest of {', '.join(run.instruments) or 'no instrument'}: {span} ({run.timezone})",
        f"Equity {_money(report.final_equity)} {currency} from {_money(run.start_cash)} "
        f"(cash {_money(report.final_cash)}): return {_percent(overall.total_return)}, "
        f"CAGR {_percent(overall.cagr)}",
    ]
    if overall.trades:
        lines.append(
            f"Trades {overall.trades}: {overall.wins} won, {overall.losses} lost "
            f"(win rate {_percent(overall.win_rate, sign=False)}), net "
            f"{_money(overall.net_pnl)} after {_money(overall.fees)} fees, profit factor "
            f"{_ratio(overall.profit_factor, 'no losses')}, expectancy "
            f"{_money(overall.expectancy)}"
        )
        reasons = ", ".join(
            f"{reason} {figures.trades}"
            for reason, figures in sorted(report.statistics.by_exit_reason.items())
        )
        lines.append(f"Exits: {reasons}")
    else:
        lines.append("Trades: none closed")
    lines.append(
        f"Max drawdown {_percent(overall.max_drawdown, sign=False)}, longest under a peak "
        f"{_duration(overall.max_drawdown_duration_bars, overall.max_drawdown_duration_days)}; "
        f"Sharpe {_ratio(overall.sharpe)}, Sortino {_ratio(overall.sortino)}, "
        f"Calmar {_ratio(overall.calmar)}, exposure {_percent(overall.exposure, sign=False)}"
    )
    for position in report.open_positions:
        lines.append(
            f"Open: {position.instrument} {position.qty:+d} at {position.avg_price:.2f}, "
            f"marked {position.mark_price} ({_money(position.unrealized_pnl)} unrealized)"
        )
    return "\n".join(lines)


def _money(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _percent(value: float | None, *, sign: bool = True) -> str:
    # A CAGR of a run of a few days can be astronomical: three significant digits say enough.
    if value is None:
        return "n/a"
    shape = ".2f" if abs(value) < 100 else ".3g"
    return f"{value * 100:{'+' if sign else ''}{shape}}%"


def _ratio(value: float | None, missing: str = "n/a") -> str:
    if value is None:
        return missing
    return f"{value:.2f}" if abs(value) < 1e6 else f"{value:.3g}"


def _duration(bars: int | None, days: float | None) -> str:
    if bars is None or days is None:
        return "n/a"
    span = f"{days:.1f} days" if days >= 1 else f"{days * 24:.1f} hours"
    return f"{bars} bars ({span})"
