"""What ``report.html`` shows: the input of :func:`engine.backtest.html_report.write_html_report`.

The caller builds it from the run's results: curves as numbers (ns since the epoch, UTC, and
money as ``Decimal`` or ``float``), tables as strings already formatted the way
``report.json`` writes them. :class:`ReportLimits` says how much of a large run is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, TypeAlias

Number: TypeAlias = float | Decimal
"""A curve value: ``float``, ``int`` or ``Decimal`` (drawn as ``float``)."""


@dataclass(frozen=True, slots=True)
class EquitySample:
    """The account at one bar: ``equity`` (cash plus positions marked to market, in the
    account's currency) and ``drawdown``, the fraction of the running peak it is below
    (``0.12`` for 12 %; the sign is ignored, so ``-0.12`` means the same)."""

    ts_ns: int
    equity: Number
    drawdown: Number


def with_drawdown(points: Iterable[tuple[int, Number]]) -> list[EquitySample]:
    """``(ts_ns, equity)`` pairs as samples whose drawdown is measured from the running peak
    (0 while equity is at its peak or the peak is not positive)."""
    samples: list[EquitySample] = []
    peak = -math.inf
    for ts_ns, equity in points:
        value = float(equity)
        peak = max(peak, value)
        drawdown = (peak - value) / peak if peak > 0 else 0.0
        samples.append(EquitySample(ts_ns, equity, drawdown))
    return samples


@dataclass(frozen=True, slots=True)
class PricePoint:
    """An instrument's close at a bar (``ts_ns``: ns since the epoch, UTC)."""

    ts_ns: int
    close: Number


@dataclass(frozen=True, slots=True)
class TradeMarker:
    """One leg of a trade on the price chart: an ``entry`` (drawn ▲) or an ``exit`` (▼) at
    its fill time and price, green when the trade it belongs to made money and red when not.
    ``note`` is the marker's hover text (for example ``"BUY 10 @ 101.50"``)."""

    ts_ns: int
    price: Number
    leg: Literal["entry", "exit"]
    won: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class InstrumentPrices:
    """An instrument's closes and its trades' markers, in time order."""

    instrument: str
    prices: Sequence[PricePoint]
    markers: Sequence[TradeMarker] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of already formatted cells under ``columns``. Cells that read as numbers are
    right-aligned; in ``pnl_columns`` they are also green when positive and red when
    negative."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]] = ()
    pnl_columns: Sequence[str] = ()

    @classmethod
    def from_records(
        cls,
        records: Sequence[object],
        columns: Sequence[str],
        pnl_columns: Sequence[str] = (),
    ) -> Table:
        """A table of ``records`` (mappings, or objects such as the report's trade rows) with
        one column per key or attribute in ``columns``; ``None`` and missing ones give empty
        cells, other values ``str(value)``."""
        rows = [[_text(_field(record, key)) for key in columns] for record in records]
        return cls(tuple(columns), rows, tuple(pnl_columns))


def _field(record: object, key: str) -> object:
    if isinstance(record, Mapping):
        return record.get(key)
    return getattr(record, key, None)


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class HtmlReportInput:
    """Everything the page shows. ``equity`` has one sample per bar, in time order.
    Statistics are ``label → value`` maps of formatted strings, shown in the order given;
    ``statistics_by_instrument`` and ``statistics_by_exit_reason`` map a group
    (``"RELIANCE"``, ``"stop"``) to such a map. ``headline`` is the few figures shown large at
    the top (final equity, total return, max drawdown...). Times are labelled in ``timezone``
    (an IANA name such as ``"Asia/Kolkata"``)."""

    title: str
    timezone: str
    equity: Sequence[EquitySample]
    instruments: Sequence[InstrumentPrices] = ()
    headline: Mapping[str, str] = field(default_factory=dict)
    statistics: Mapping[str, str] = field(default_factory=dict)
    statistics_by_instrument: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    statistics_by_exit_reason: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    trades: Table = field(default_factory=lambda: Table(()))
    open_positions: Table = field(default_factory=lambda: Table(()))
    subtitle: str = ""


@dataclass(frozen=True, slots=True)
class ReportLimits:
    """How much of a large run the page draws; the rest stays in ``report.json``."""

    max_points: int = 2000
    """Points per curve (equity, drawdown, each price), at least 4."""
    max_price_charts: int = 20
    """Instruments that get a price chart, the first ones in ``HtmlReportInput.instruments``."""
    max_markers: int = 1000
    """Trade markers per price chart, the first ones given."""
    max_trade_rows: int = 500
    """Rows of the trades table, the first ones given."""
    max_group_rows: int = 1000
    """Rows of each per-instrument or per-exit-reason statistics table."""


DEFAULT_LIMITS = ReportLimits()
