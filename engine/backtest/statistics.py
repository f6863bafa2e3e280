"""The statistics of a backtest: of the account's equity curve and of its closed trades.

Pure functions: the same inputs give the same figures. Money goes in as ``Decimal`` (equity
may also be ``float``); ratios come out as ``float``, money as ``Decimal``. A figure that is
undefined for the inputs (no trades, no losing trade, a flat curve) is ``None``, never NaN or
infinity: ``report.json`` writes it as ``null``.

Inputs
------
* ``equity``: the account's value bar by bar, points ``(t_i, E_i)`` for i = 0..n-1 in time
  order, ``t_i`` in ns since the epoch (UTC). ``E_0`` is the base every return is measured
  from: the start cash when the first point is taken before anything filled.
* ``exposure``: one flag per equity point: whether any position was open at it.
* ``trades``: the closed trades (:class:`ClosedTrade`) in order of exit. A trade's ``pnl`` is
  net of its fees.

The curve (N = n - 1 per-bar returns r_i = (E_i - E_{i-1}) / E_{i-1}, i = 1..n-1)
-----------------------------------------------------------------------------------

::

    total_return = (E_{n-1} - E_0) / E_0
    years        = (t_{n-1} - t_0) / (365.25 * 86_400 * 10**9)        calendar time
    CAGR         = (E_{n-1} / E_0) ** (1 / years) - 1                  (-1 if E_{n-1} <= 0)
    P            = periods_per_year if given, else N / years
    mean(r)      = sum(r_i) / N
    sd(r)        = sqrt(sum((r_i - mean(r))**2) / (N - 1))              sample deviation
    DD           = sqrt(sum(min(r_i, 0)**2) / N)                        all N periods counted,
                                                                        only losses summed
    Sharpe       = mean(r) / sd(r) * sqrt(P)                            risk-free rate 0
    Sortino      = mean(r) / DD * sqrt(P)                               target return 0
    peak_i       = max(E_0, ..., E_i)
    max_drawdown = max_i (peak_i - E_i) / peak_i                        a fraction: 0.25 = 25%
    Calmar       = CAGR / max_drawdown
    exposure     = (points with a position open) / n

``P`` inferred as ``N / years`` is the year divided by the mean bar spacing, gaps included:
nights, weekends and holidays lengthen the spacing, so daily bars of a stock exchange give
about 252 and one-minute bars of a 375-minute session about 94,500. A run much shorter than a
year of intraday bars has no nights to average over; pass ``periods_per_year`` then.

The drawdown's duration: an underwater stretch starts at the last point at its peak (the
running maximum, ``E_i >= peak``) and ends at the first later point back at or above that
peak (its recovery), or at the last point when it never recovers. Its duration is the time
between the two (``max_drawdown_duration_days`` = ns / (86_400 * 10**9)). The stretch that
lasts longest is reported (the first of equals), which need not be the deepest one, with the
number of bars it spans (``max_drawdown_duration_bars``, the difference of the indices).

``None`` when: fewer than 2 points or ``E_0 <= 0`` (every curve figure but exposure);
``t_{n-1} == t_0`` (CAGR, the inferred ``P``); CAGR beyond a float's range; N < 2 or
sd(r) = 0 (Sharpe); no negative return (Sortino: infinite); a point before the last at or below
0 (Sharpe, Sortino: a return needs a positive base); ``max_drawdown == 0`` or no CAGR (Calmar);
no points (exposure).

The trades
----------

::

    win           : pnl > 0;  loss: pnl < 0;  pnl == 0 is neither (a scratch)
    win_rate      = wins / trades
    gross_profit  = sum(pnl of wins)                                    >= 0
    gross_loss    = sum(pnl of losses)                                  <= 0
    profit_factor = gross_profit / -gross_loss
    expectancy    = sum(pnl) / trades                                   mean pnl per trade
    average_win   = gross_profit / wins
    average_loss  = gross_loss / losses                                 negative
    max_consecutive_wins (losses): the longest run of wins (losses) in order of exit; a
                    scratch ends both runs

``None`` when: no trades (win_rate, expectancy); no wins (average_win); no losses
(average_loss, and profit_factor, which is infinite then: ``null`` in JSON, not a number).
The means (expectancy, average_win, average_loss) are rounded half-even to the finer of 0.01
and the finest decimal place among the trades' pnl; sums are exact.

Per instrument: the trade figures of its trades, and its exposure when a per-instrument
exposure series is given. Per exit reason: the trade figures of its trades. Only instruments
and reasons that have a trade (or, for an instrument, an exposure series) are listed.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

import msgspec
import numpy as np
import numpy.typing as npt

__all__ = [
    "YEAR_NS",
    "ClosedTrade",
    "CurveStatistics",
    "InstrumentStatistics",
    "OverallStatistics",
    "Statistics",
    "TradeStatistics",
    "compute_statistics",
    "curve_statistics",
    "trade_statistics",
]

DAY_NS = 86_400 * 1_000_000_000
YEAR_NS = 365.25 * DAY_NS
"""A year of calendar time, in ns: 365.25 days."""

_CENT = Decimal("0.01")


class ClosedTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One trade from flat to flat. Prices in the instrument's currency per unit, money in
    its currency, times ns since the epoch (UTC)."""

    instrument: str
    strategy: str
    """The strategy that opened it."""
    side: str
    """``"long"`` or ``"short"``."""
    qty: int
    """Units entered."""
    entry_ns: int
    entry_price: Decimal
    """Quantity-weighted average of the entry fills."""
    exit_ns: int
    exit_price: Decimal
    """Quantity-weighted average of the exit fills."""
    gross_pnl: Decimal
    """Sells minus buys, before fees."""
    fees: Decimal
    pnl: Decimal
    """``gross_pnl - fees``: what the trade made."""
    exit_reason: str
    """See :mod:`engine.backtest.exit_reasons`."""


class TradeStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Figures of a set of closed trades (module docstring for each formula)."""

    trades: int
    wins: int
    losses: int
    win_rate: float | None
    profit_factor: float | None
    """``None`` when there is no losing trade (infinite, or no trades at all)."""
    expectancy: Decimal | None
    average_win: Decimal | None
    average_loss: Decimal | None
    gross_profit: Decimal
    gross_loss: Decimal
    net_pnl: Decimal
    """Sum of the trades' pnl (net of fees)."""
    fees: Decimal
    max_consecutive_wins: int
    max_consecutive_losses: int


class CurveStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Figures of an equity curve (module docstring for each formula)."""

    start_equity: Decimal | None
    end_equity: Decimal | None
    total_return: float | None
    cagr: float | None
    years: float | None
    periods_per_year: float | None
    """``P``: given, or inferred from the mean bar spacing."""
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    max_drawdown_duration_days: float | None
    max_drawdown_duration_bars: int | None
    calmar: float | None
    exposure: float | None
    bars: int


class InstrumentStatistics(TradeStatistics, frozen=True, kw_only=True):
    """One instrument's trade figures and, when its series was given, its exposure."""

    exposure: float | None = None


class OverallStatistics(TradeStatistics, frozen=True, kw_only=True):
    """The account's curve figures and all trades' figures."""

    start_equity: Decimal | None
    end_equity: Decimal | None
    total_return: float | None
    cagr: float | None
    years: float | None
    periods_per_year: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    max_drawdown_duration_days: float | None
    max_drawdown_duration_bars: int | None
    calmar: float | None
    exposure: float | None
    bars: int


class Statistics(msgspec.Struct, frozen=True, kw_only=True):
    overall: OverallStatistics
    by_instrument: dict[str, InstrumentStatistics]
    by_exit_reason: dict[str, TradeStatistics]


def compute_statistics(
    equity: Sequence[tuple[int, Decimal | float]],
    trades: Sequence[ClosedTrade],
    exposure: Sequence[bool],
    *,
    periods_per_year: float | None = None,
    exposure_by_instrument: Mapping[str, Sequence[bool]] | None = None,
) -> Statistics:
    """All the figures: overall, per instrument and per exit reason.

    Raises ``ValueError`` when an exposure series is not one flag per equity point, an equity
    value is not a finite number, or ``periods_per_year`` is not a finite number > 0.
    """
    curve = curve_statistics(equity, exposure, periods_per_year=periods_per_year)
    overall = OverallStatistics(
        **msgspec.structs.asdict(trade_statistics(trades)),
        **msgspec.structs.asdict(curve),
    )
    per_instrument = exposure_by_instrument or {}
    instruments = sorted({t.instrument for t in trades} | set(per_instrument))
    by_instrument: dict[str, InstrumentStatistics] = {}
    for name in instruments:
        flags = per_instrument.get(name)
        if flags is not None:
            _check_exposure(flags, len(equity), f"exposure of {name}")
        mine = [t for t in trades if t.instrument == name]
        by_instrument[name] = InstrumentStatistics(
            **msgspec.structs.asdict(trade_statistics(mine)),
            exposure=None if flags is None else _fraction(flags),
        )
    reasons = sorted({t.exit_reason for t in trades})
    by_reason = {
        reason: trade_statistics([t for t in trades if t.exit_reason == reason])
        for reason in reasons
    }
    return Statistics(overall=overall, by_instrument=by_instrument, by_exit_reason=by_reason)


def trade_statistics(trades: Sequence[ClosedTrade]) -> TradeStatistics:
    """The figures of ``trades`` (in order of exit: the streaks depend on it)."""
    pnls = [t.pnl for t in trades]
    won = [p for p in pnls if p > 0]
    lost = [p for p in pnls if p < 0]
    gross_profit = sum(won, Decimal(0))
    gross_loss = sum(lost, Decimal(0))
    places = _money_places(pnls)
    longest_wins = longest_losses = wins_run = losses_run = 0
    for pnl in pnls:
        wins_run = wins_run + 1 if pnl > 0 else 0
        losses_run = losses_run + 1 if pnl < 0 else 0
        longest_wins = max(longest_wins, wins_run)
        longest_losses = max(longest_losses, losses_run)
    net = sum(pnls, Decimal(0))
    return TradeStatistics(
        trades=len(pnls),
        wins=len(won),
        losses=len(lost),
        win_rate=len(won) / len(pnls) if pnls else None,
        profit_factor=float(_divide(gross_profit, -gross_loss)) if lost else None,
        expectancy=_mean(net, len(pnls), places),
        average_win=_mean(gross_profit, len(won), places),
        average_loss=_mean(gross_loss, len(lost), places),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        net_pnl=net,
        fees=sum((t.fees for t in trades), Decimal(0)),
        max_consecutive_wins=longest_wins,
        max_consecutive_losses=longest_losses,
    )


def curve_statistics(
    equity: Sequence[tuple[int, Decimal | float]],
    exposure: Sequence[bool],
    *,
    periods_per_year: float | None = None,
) -> CurveStatistics:
    """The figures of the equity curve ``equity`` with one ``exposure`` flag per point.

    Raises ``ValueError`` when ``exposure`` does not have one flag per point, an equity value
    is not a finite number, or ``periods_per_year`` is not a finite number > 0.
    """
    _check_exposure(exposure, len(equity), "exposure")
    if periods_per_year is not None and not (
        math.isfinite(periods_per_year) and periods_per_year > 0
    ):
        raise ValueError(f"periods_per_year must be a finite number > 0, got {periods_per_year}")
    n = len(equity)
    raw = [value for _, value in equity]
    floats = np.fromiter(raw, dtype=np.float64, count=n)
    if not bool(np.all(np.isfinite(floats))):
        bad = int(np.flatnonzero(~np.isfinite(floats))[0])
        raise ValueError(f"equity point {bad} is {raw[bad]}: it must be a finite number")
    nothing = CurveStatistics(
        start_equity=_money(raw[0]) if n else None,
        end_equity=_money(raw[-1]) if n else None,
        total_return=None,
        cagr=None,
        years=None,
        periods_per_year=periods_per_year,
        sharpe=None,
        sortino=None,
        max_drawdown=None,
        max_drawdown_duration_days=None,
        max_drawdown_duration_bars=None,
        calmar=None,
        exposure=_fraction(exposure),
        bars=n,
    )
    first, last = nothing.start_equity, nothing.end_equity
    if first is None or last is None or n < 2 or first <= 0:
        return nothing
    times = np.fromiter((ts for ts, _ in equity), dtype=np.int64, count=n)
    span_ns = int(times[-1] - times[0])
    years = span_ns / YEAR_NS if span_ns > 0 else None
    if periods_per_year is None and years is not None:
        periods_per_year = (n - 1) / years
    max_drawdown, duration_ns, duration_bars = _drawdown(times, floats, raw)
    cagr = _cagr(first, last, years)
    sharpe, sortino = _sharpe_sortino(floats, periods_per_year)
    return msgspec.structs.replace(
        nothing,
        total_return=_ratio(last - first, first),
        cagr=cagr,
        years=years,
        periods_per_year=periods_per_year,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_drawdown,
        max_drawdown_duration_days=duration_ns / DAY_NS,
        max_drawdown_duration_bars=duration_bars,
        calmar=cagr / max_drawdown if cagr is not None and max_drawdown > 0 else None,
    )


def _drawdown(
    times: npt.NDArray[np.int64],
    floats: npt.NDArray[np.float64],
    values: Sequence[Decimal | float],
) -> tuple[float, int, int]:
    """``(max_drawdown, longest underwater ns, that stretch's bars)`` (module docstring).

    Found on floats (``Decimal`` to ``float`` keeps the order of the values); the deepest
    drawdown is then worked out again from the exact values at its peak and trough.
    """
    index = np.arange(floats.size)
    peaks = np.maximum.accumulate(floats)
    at_peak = floats >= peaks
    peak_index = np.maximum.accumulate(np.where(at_peak, index, 0))
    trough = int(np.argmax((peaks - floats) / peaks))
    deepest = 0.0
    if not at_peak[trough]:
        peak = _money(values[int(peak_index[trough])])
        deepest = _ratio(peak - _money(values[trough]), peak)
    # A stretch ends at a recovery (back at a peak after a point under it), or at the end.
    ends = np.flatnonzero(at_peak[1:] & ~at_peak[:-1]) + 1
    if not at_peak[-1]:
        ends = np.append(ends, floats.size - 1)
    if ends.size == 0:
        return deepest, 0, 0
    starts = peak_index[ends - 1]
    spans = times[ends] - times[starts]
    longest = int(np.argmax(spans))
    return deepest, int(spans[longest]), int(ends[longest] - starts[longest])


def _cagr(first: Decimal, last: Decimal, years: float | None) -> float | None:
    if years is None:
        return None
    if last <= 0:
        return -1.0
    try:
        return math.pow(_ratio(last, first), 1.0 / years) - 1.0
    except OverflowError:
        return None


def _sharpe_sortino(
    values: npt.NDArray[np.float64], periods_per_year: float | None
) -> tuple[float | None, float | None]:
    if periods_per_year is None or bool(np.any(values[:-1] <= 0)):
        return None, None
    returns = (values[1:] - values[:-1]) / values[:-1]
    mean = float(np.mean(returns))
    scale = math.sqrt(periods_per_year)
    sharpe: float | None = None
    if returns.size >= 2:
        deviation = float(np.std(returns, ddof=1))
        if deviation > 0:
            sharpe = mean / deviation * scale
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    sortino = mean / downside * scale if downside > 0 else None
    return sharpe, sortino


def _ratio(top: Decimal, bottom: Decimal) -> float:
    return float(_divide(top, bottom))


def _divide(top: Decimal, bottom: Decimal) -> Decimal:
    with decimal.localcontext() as context:
        context.prec = 34
        return top / bottom


def _money(value: Decimal | float) -> Decimal:
    """``value`` as a Decimal (a float by its shortest repr: ``0.1`` is ``Decimal("0.1")``)."""
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


def _money_places(pnls: Sequence[Decimal]) -> Decimal:
    finest = min([-2, *(int(p.as_tuple().exponent) for p in pnls if p.is_finite())])
    return Decimal(1).scaleb(finest)


def _mean(total: Decimal, count: int, places: Decimal) -> Decimal | None:
    if count == 0:
        return None
    with decimal.localcontext() as context:
        context.prec = 60
        return (total / count).quantize(places, decimal.ROUND_HALF_EVEN)


def _fraction(flags: Sequence[bool]) -> float | None:
    if not flags:
        return None
    return int(np.count_nonzero(np.fromiter(flags, dtype=bool, count=len(flags)))) / len(flags)


def _check_exposure(flags: Sequence[bool], points: int, what: str) -> None:
    if len(flags) != points:
        raise ValueError(
            f"{what} has {len(flags)} flags for {points} equity points: one per point is needed"
        )
