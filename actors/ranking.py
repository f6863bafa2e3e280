"""The ranker's scoring, as a pure function: live signals and what is known of the market in,
ranked rows out. No actor code; :mod:`actors.ranker` calls it once per scan cycle.

The score of signal *i* is the sum of its contributions, added in this order:

1. for each weighted feature *f*, in name order: ``w_f * z_if``, where ``z_if`` is the
   cross-sectional z-score ``(x_if - mean_f) / std_f`` over the signals of the cycle that have
   *f* (``std`` is the population std, ``ddof=0``). ``x_if`` is the signal's ``strength`` for
   ``f == "strength"``, else ``features[f]``. ``z = 0`` when fewer than two signals have *f*
   or all their values are equal. A signal without *f* (or with a value that is not a finite
   number) gets 0 and *f* is listed in its ``missing``;
2. for each penalty switched on (weight ``p > 0``), in the order ``spread``, ``liquidity``,
   ``correlation``, ``held``, a term ``<= 0``:

   * ``spread = -p * max(0, features["spread_bps"])`` (0 and ``"spread_bps"`` missing if
     absent);
   * ``liquidity = -p * max(0, log10(liquidity_floor / max(notional, 1)))``, ``notional``
     being ``features["avg_notional"]``, else ``features["avg_volume"]`` times the
     instrument's last bar close; one ``p`` per decade short of the floor (0 and
     ``"avg_notional"`` missing if neither is known);
   * ``correlation = -p * max |corr(r_i, r_h)|`` over the instruments *h* held (other than
     *i*'s own), ``r`` being simple bar-to-bar returns matched by bar close, over the closes
     both have (at least ``min_correlation_returns`` of them, else *h* is skipped; a flat
     series correlates 0). 0 when nothing else is held; 0 and ``"returns"`` missing when
     something is held but no pair had enough common returns;
   * ``held = -p`` when the instrument has an open position (any strategy, either side).

``score == sum(contributions.values())`` exactly: the score *is* that sum, in that order.

Sides are not flipped: a strategy publishes each feature oriented to its own trade (higher is
better for the side it signals), so one z-score per feature serves BUY and SELL alike.

The rows come best first: score descending, ties by instrument then strategy. They are then
picked in that order: a row scoring below ``min_score`` is not picked, nor one whose instrument
was picked higher up this cycle (two intents on one instrument would fight), nor any once
``top_n`` are picked; each says why in its ``note``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.messages.ranking import PENALTY_TERMS, RankedSignal, ScoringConfig
from engine.messages.trading import Signal

STRENGTH = "strength"
SPREAD_FEATURE = "spread_bps"
NOTIONAL_FEATURE = "avg_notional"
VOLUME_FEATURE = "avg_volume"
RETURNS = "returns"
DEFAULT_MIN_CORRELATION_RETURNS = 10

_Scored = tuple[float, Signal, dict[str, float], list[str], str | None]
"""(score, signal, contributions, missing inputs, held instrument correlated with)."""


@dataclass(frozen=True)
class MarketView:
    """What the ranker knows of the market besides the signals, at the cycle's time."""

    held: frozenset[str] = frozenset()
    """Instruments with an open (non-zero) position."""
    returns: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    """Per instrument: bar close (ns) -> simple return ``close / previous close - 1``, oldest
    first."""
    last_close: Mapping[str, float] = field(default_factory=dict)
    """Per instrument: the close of its last bar."""
    min_correlation_returns: int = DEFAULT_MIN_CORRELATION_RETURNS
    """Common returns two instruments need before their correlation counts (>= 2)."""


def rank_signals(
    signals: Sequence[Signal], scoring: ScoringConfig, market: MarketView
) -> list[RankedSignal]:
    """Score, order and pick ``signals`` (the live signals of one cycle) as the module says.

    Every signal becomes one row, best first, ``rank`` from 1. Pure and deterministic: the same
    arguments, in any order, give the same rows.
    """
    features = sorted(scoring.weights)
    zscores = {f: _zscores([_feature(s, f) for s in signals]) for f in features}
    correlations: dict[str, tuple[float, str | None, bool]] = {}
    scored: list[_Scored] = []
    for i, signal in enumerate(signals):
        contributions: dict[str, float] = {}
        missing: list[str] = []
        for f in features:
            z = zscores[f][i]
            if z is None:
                missing.append(f)
                z = 0.0
            # + 0.0 turns a -0.0 (a zero weight times a negative z) into 0.0 for the reader.
            contributions[f] = scoring.weights[f] * z + 0.0
        correlated_with: str | None = None
        for term in PENALTY_TERMS:
            weight = scoring.penalties.weight(term)
            if weight == 0:
                continue
            if term == "correlation":
                if signal.instrument not in correlations:
                    correlations[signal.instrument] = _held_correlation(signal.instrument, market)
                amount, correlated_with, unknown = correlations[signal.instrument]
                if unknown:
                    missing.append(RETURNS)
            else:
                measured = _penalty_amount(term, signal, scoring, market)
                if measured is None:
                    missing.append(_INPUT_OF[term])
                amount = measured or 0.0
            # 0.0 - x is -x for x != 0 and 0.0 (not -0.0) for x == 0.
            contributions[term] = 0.0 - weight * amount
        score = sum(contributions.values())
        scored.append((score, signal, contributions, missing, correlated_with))
    scored.sort(key=lambda row: (-row[0], row[1].instrument, row[1].strategy))
    return _pick(scored, scoring)


_INPUT_OF = {"spread": SPREAD_FEATURE, "liquidity": NOTIONAL_FEATURE}


def _pick(scored: list[_Scored], scoring: ScoringConfig) -> list[RankedSignal]:
    rows: list[RankedSignal] = []
    picked_at: dict[str, int] = {}
    for rank, (score, signal, contributions, missing, correlated_with) in enumerate(scored, 1):
        if scoring.min_score is not None and score < scoring.min_score:
            note = f"score below min_score {scoring.min_score}"
        elif signal.instrument in picked_at:
            note = f"{signal.instrument} already picked at rank {picked_at[signal.instrument]}"
        elif len(picked_at) >= scoring.top_n:
            note = f"top_n {scoring.top_n} already picked"
        else:
            note = ""
            picked_at[signal.instrument] = rank
        rows.append(
            RankedSignal(
                rank=rank,
                strategy=signal.strategy,
                instrument=signal.instrument,
                side=signal.side,
                strength=signal.strength,
                score=score,
                contributions=contributions,
                missing=missing,
                correlated_with=correlated_with,
                picked=not note,
                note=note,
                correlation_id=signal.correlation_id,
                signal_ts=signal.ts_event,
            )
        )
    return rows


def _finite(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _feature(signal: Signal, name: str) -> float | None:
    return _finite(signal.strength if name == STRENGTH else signal.features.get(name))


def _zscores(values: list[float | None]) -> list[float | None]:
    """Population z-scores of the values present; ``None`` stays ``None`` (missing)."""
    present = [i for i, v in enumerate(values) if v is not None]
    out: list[float | None] = [None if v is None else 0.0 for v in values]
    if len(present) < 2:
        return out
    x = np.array([values[i] for i in present], dtype=np.float64)
    # Equal values: their std is 0 in exact arithmetic but may come out as rounding dust
    # (1e-17), which would turn identical signals into z = +-1. Compare instead.
    if x.min() == x.max():
        return out
    with np.errstate(all="ignore"):  # values near the float limits: checked just below
        std = float(x.std())
        z = (x - x.mean()) / std
    if not (std > 0 and np.isfinite(z).all()):
        return out  # the std underflowed to 0 or the sums overflowed: no usable spread
    for i, value in zip(present, z.tolist(), strict=True):
        out[i] = value
    return out


def _penalty_amount(
    term: str, signal: Signal, scoring: ScoringConfig, market: MarketView
) -> float | None:
    """The amount a penalty weight multiplies (>= 0), or ``None`` when its input is missing."""
    if term == "held":
        return 1.0 if signal.instrument in market.held else 0.0
    if term == "spread":
        spread = _finite(signal.features.get(SPREAD_FEATURE))
        return None if spread is None else max(0.0, spread)
    notional = _finite(signal.features.get(NOTIONAL_FEATURE))
    if notional is None:
        volume = _finite(signal.features.get(VOLUME_FEATURE))
        close = market.last_close.get(signal.instrument)
        if volume is None or close is None:
            return None
        notional = volume * close
    return max(0.0, math.log10(scoring.liquidity_floor / max(notional, 1.0)))


def _held_correlation(instrument: str, market: MarketView) -> tuple[float, str | None, bool]:
    """(largest |correlation| with a held instrument, which one, whether it is unknown)."""
    others = sorted(h for h in market.held if h != instrument)
    if not others:
        return 0.0, None, False
    mine = market.returns.get(instrument, {})
    best: tuple[float, str] | None = None
    for other in others:
        rho = returns_correlation(
            mine, market.returns.get(other, {}), market.min_correlation_returns
        )
        if rho is not None and (best is None or abs(rho) > best[0]):
            best = (abs(rho), other)
    if best is None:
        return 0.0, None, True
    return best[0], best[1], False


def returns_correlation(
    a: Mapping[int, float], b: Mapping[int, float], min_common: int
) -> float | None:
    """Pearson correlation of two return series over the bar closes both have, or ``None``
    with fewer than ``min_common`` of them. A flat series correlates 0. In ``[-1, 1]``."""
    common = [ts for ts in a if ts in b]
    if len(common) < max(2, min_common):
        return None
    x = np.array([a[ts] for ts in common], dtype=np.float64)
    y = np.array([b[ts] for ts in common], dtype=np.float64)
    if x.min() == x.max() or y.min() == y.max():
        return 0.0  # no variation: no co-movement to measure (corrcoef would divide by 0)
    rho = float(np.corrcoef(x, y)[0, 1])
    return min(1.0, max(-1.0, rho))  # rounding can step just outside [-1, 1]
