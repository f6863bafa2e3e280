"""The ranker's vocabulary: how it scores (:class:`ScoringConfig`), what it decided each scan
cycle (:class:`SignalsRanked`, one :class:`RankedSignal` row per candidate) and how its scoring
is changed at run time (:class:`ReconfigureRanker`, answered by :class:`RankerReconfigured`).

Topics: strategies publish :class:`~engine.messages.trading.Signal` on :data:`TOPIC_SIGNALS`;
the ledger publishes :class:`~engine.messages.trading.PositionChanged` on
:data:`TOPIC_POSITIONS`; the ranker publishes its picks as
:class:`~engine.messages.trading.TradeIntent` on :data:`TOPIC_INTENTS` and each cycle's ranking
(and each change of its scoring) on :data:`TOPIC_RANKINGS`, the live view's.

A :class:`ScoringConfig` checks itself when it is made or decoded: a bad value raises
``ValueError`` (``msgspec.ValidationError`` when decoding) naming the value and what is
allowed, so a bad reconfiguration is refused before it reaches the ranker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from engine.messages.base import Command, Event
from engine.messages.trading import OrderSide

TOPIC_SIGNALS = "signals"
"""Where strategies publish their signals."""
TOPIC_POSITIONS = "positions"
"""Where the ledger publishes ``PositionChanged``."""
TOPIC_INTENTS = "intents"
"""Where the ranker publishes the ``TradeIntent``\\ s it picked."""
TOPIC_RANKINGS = "rankings"
"""Where the ranker publishes each cycle's :class:`SignalsRanked` and each
:class:`RankerReconfigured`: the live view of the ranking."""

PENALTY_TERMS: tuple[str, ...] = ("spread", "liquidity", "correlation", "held")
"""The penalty terms, in the order they are added to a score; also their contribution names,
which is why a feature weight may not use one of these names."""

DEFAULT_LIQUIDITY_FLOOR = 10_000_000.0


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_finite(value: object, what: str) -> None:
    if not _is_real(value) or not math.isfinite(value):  # type: ignore[arg-type]
        raise ValueError(f"{what} must be a finite number, got {value!r}")


class Penalties(msgspec.Struct, frozen=True, kw_only=True):
    """How much each penalty weighs; each is a finite number >= 0, 0 switches it off.

    The terms (the exact formulas are in :mod:`actors.ranking`):

    * ``spread``: per basis point of the signal's ``features["spread_bps"]``;
    * ``liquidity``: per decade (factor of ten) the instrument's average notional falls short
      of :attr:`ScoringConfig.liquidity_floor`;
    * ``correlation``: times the largest absolute correlation of the instrument's recent bar
      returns with those of an instrument already held (0 to 1);
    * ``held``: flat, when the instrument already has an open position.
    """

    spread: float = 0.0
    liquidity: float = 0.0
    correlation: float = 0.0
    held: float = 0.0

    def __post_init__(self) -> None:
        for term in PENALTY_TERMS:
            value = getattr(self, term)
            _check_finite(value, f"penalty {term!r}")
            if value < 0:
                raise ValueError(
                    f"penalty {term!r} must be >= 0 (a penalty only lowers a score), got {value!r}"
                )

    @classmethod
    def of(cls, weights: Mapping[str, float]) -> Penalties:
        """Penalties from a mapping of term to weight (as configuration gives them); absent
        terms are 0. Raises ``ValueError`` naming an unknown term and the known ones, or a
        bad weight."""
        unknown = sorted(set(weights) - set(PENALTY_TERMS))
        if unknown:
            raise ValueError(
                f"penalties: unknown term {unknown[0]!r}; the terms are {', '.join(PENALTY_TERMS)}"
            )
        return cls(**weights)

    def weight(self, term: str) -> float:
        """The weight of the penalty named ``term`` (one of :data:`PENALTY_TERMS`)."""
        value: float = getattr(self, term)
        return value


class ScoringConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How the ranker scores signals and how many it picks. Checked when made or decoded.

    Raises ``ValueError`` if ``weights`` is empty, names a feature ``""`` or a penalty term,
    or has a weight that is not a finite number; if ``top_n`` is not an int >= 1; if
    ``min_score`` is not finite; if ``liquidity_floor`` is not a finite number > 0.
    """

    weights: dict[str, float]
    """Weight of each feature's cross-sectional z-score, by feature name. ``"strength"`` is the
    signal's own strength; every other name is looked up in the signal's ``features``. Any
    finite number: a negative weight means lower is better."""
    penalties: Penalties = msgspec.field(default_factory=Penalties)
    top_n: int = 5
    """At most this many intents per cycle."""
    min_score: float | None = None
    """A signal scoring below this is not picked; ``None``: no floor."""
    liquidity_floor: float = DEFAULT_LIQUIDITY_FLOOR
    """Average notional (quote currency per bar, as strategies publish ``avg_notional``) at and
    above which an instrument counts as liquid: no liquidity penalty."""

    def __post_init__(self) -> None:
        if not isinstance(self.weights, dict) or not self.weights:
            raise ValueError(
                f"weights must map at least one feature name to a weight, got {self.weights!r}"
            )
        for name, weight in self.weights.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"weights: a feature name must be a non-empty str, got {name!r}")
            if name in PENALTY_TERMS:
                raise ValueError(
                    f"weights: {name!r} is a penalty term; set it in penalties, and name "
                    f"features other than {', '.join(PENALTY_TERMS)}"
                )
            _check_finite(weight, f"weight of {name!r}")
        if not isinstance(self.penalties, Penalties):
            raise ValueError(f"penalties must be a Penalties, got {self.penalties!r}")
        if not isinstance(self.top_n, int) or isinstance(self.top_n, bool) or self.top_n < 1:
            raise ValueError(f"top_n must be an int >= 1, got {self.top_n!r}")
        if self.min_score is not None:
            _check_finite(self.min_score, "min_score")
        _check_finite(self.liquidity_floor, "liquidity_floor")
        if self.liquidity_floor <= 0:
            raise ValueError(f"liquidity_floor must be > 0, got {self.liquidity_floor!r}")


class RankedSignal(msgspec.Struct, frozen=True, kw_only=True):
    """One candidate of a cycle: its score, why, and whether it was picked."""

    rank: int
    """1 for the best score of the cycle, then 2, 3, ..."""
    strategy: str
    instrument: str
    side: OrderSide
    strength: float
    score: float
    """Sum of :attr:`contributions`, added in their order. Unitless; higher is better."""
    contributions: dict[str, float]
    """Each term's share of the score: every weighted feature, then each penalty switched on
    (negative or 0), in :data:`PENALTY_TERMS` order."""
    missing: list[str] = msgspec.field(default_factory=list)
    """Inputs the signal or the market did not provide; their terms count 0. Feature names,
    ``"spread_bps"``, ``"avg_notional"`` (nor ``avg_volume`` with a known close) and
    ``"returns"`` (too few common bar returns with any held instrument)."""
    correlated_with: str | None = None
    """The held instrument behind the correlation penalty, if any."""
    picked: bool
    note: str = ""
    """Why the candidate was not picked; ``""`` when it was."""
    correlation_id: str
    signal_ts: int
    """The signal's ``ts_event``, ns since the epoch, UTC."""


class SignalsRanked(Event, frozen=True, kw_only=True):
    """The ranking of one scan cycle. ``ts_event`` is the cycle's time, the ``ts_event`` of
    the intents it picked."""

    bar_close: int | None = None
    """The bar close (ns) a bar-driven cycle ranks after; ``None`` for a timed cycle."""
    candidates: list[RankedSignal]
    """Every live signal of the cycle, best first."""
    expired: int = 0
    """Signals dropped at this cycle because their ``valid_until_ns`` had passed."""
    scoring: ScoringConfig


class ReconfigureRanker(Command, frozen=True, kw_only=True):
    """Replace the ranker's scoring from its next cycle on. Answered with
    :class:`RankerReconfigured`.

    The whole :class:`ScoringConfig` is given (the current one is in every
    :class:`SignalsRanked` and :class:`RankerReconfigured`), so the command means the same
    whatever it follows. A bad config is refused where it is made or decoded (``ValueError``),
    so the ranker never sees it and nothing changes.
    """

    scoring: ScoringConfig
    reason: str = ""

    def __post_init__(self) -> None:
        # Struct construction does not check types: a dict here would pass unchecked.
        if not isinstance(self.scoring, ScoringConfig):
            raise ValueError(f"scoring must be a ScoringConfig, got {self.scoring!r}")


class RankerReconfigured(Event, frozen=True, kw_only=True):
    """The ranker took a new scoring config; it applies from its next cycle on."""

    scoring: ScoringConfig
    previous: ScoringConfig
    reason: str = ""
