"""The ranker's scoring as a pure function: z-scores by hand, each penalty by its stated amount,
contributions that sum to the score exactly, picking (top N, min_score, one per instrument),
ties, and the scoring config's refusals."""

from __future__ import annotations

import math

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.ranking import MarketView, rank_signals, returns_correlation
from engine.messages.catalogue import decode, encode
from engine.messages.ranking import (
    Penalties,
    RankedSignal,
    ReconfigureRanker,
    ScoringConfig,
)
from engine.messages.trading import OrderSide, Signal


def signal(
    instrument: str,
    strategy: str = "momo",
    *,
    strength: float = 0.5,
    side: OrderSide = OrderSide.BUY,
    ts: int = 1,
    features: dict[str, float] | None = None,
    **named: float,
) -> Signal:
    """A signal whose features are ``features`` and the ``named`` ones."""
    return Signal(
        ts_event=ts,
        ts_init=ts,
        strategy=strategy,
        instrument=instrument,
        side=side,
        strength=strength,
        features={**(features or {}), **named},
        correlation_id=f"{strategy}-{instrument}-{ts}",
    )


def by_instrument(rows: list[RankedSignal]) -> dict[str, RankedSignal]:
    return {row.instrument: row for row in rows}


# --- Scores ----------------------------------------------------------------------------------


def test_signals_rank_by_weighted_z_scores_computed_by_hand() -> None:
    # Arrange: momentum 1, 2, 3 -> mean 2, population std sqrt(2/3); strength 0.2, 0.4, 0.9
    # -> mean 0.5, std sqrt(0.26/3).
    signals = [
        signal("A", strength=0.2, momentum=1.0),
        signal("B", strength=0.4, momentum=2.0),
        signal("C", strength=0.9, momentum=3.0),
    ]
    scoring = ScoringConfig(weights={"momentum": 2.0, "strength": 1.0}, top_n=3)
    std_m, std_s = math.sqrt(2 / 3), math.sqrt(0.26 / 3)

    # Act
    rows = rank_signals(signals, scoring, MarketView())

    # Assert
    assert [(r.rank, r.instrument) for r in rows] == [(1, "C"), (2, "B"), (3, "A")]
    rows_by = by_instrument(rows)
    assert rows_by["A"].contributions == pytest.approx(
        {"momentum": 2.0 * -1.0 / std_m, "strength": -0.3 / std_s}
    )
    assert rows_by["B"].contributions == pytest.approx({"momentum": 0.0, "strength": -0.1 / std_s})
    assert rows_by["C"].score == pytest.approx(2.0 / std_m + 0.4 / std_s)
    for row in rows:
        assert list(row.contributions) == ["momentum", "strength"]  # features in name order
        assert sum(row.contributions.values()) == row.score


def test_a_missing_feature_counts_zero_and_is_named() -> None:
    signals = [
        signal("A", momentum=1.0, rsi=30.0),
        signal("B", momentum=3.0),
        signal("C", rsi=70.0, volume_z=math.nan),
    ]
    scoring = ScoringConfig(weights={"momentum": 1.0, "rsi": 1.0, "volume_z": 5.0})

    rows = by_instrument(rank_signals(signals, scoring, MarketView()))

    # Two signals have momentum (1 and 3: z = -1 and +1), two have rsi (z = -1, +1), and
    # volume_z is NaN where present, so nobody has it.
    assert rows["A"].contributions == {"momentum": -1.0, "rsi": -1.0, "volume_z": 0.0}
    assert rows["B"].contributions == {"momentum": 1.0, "rsi": 0.0, "volume_z": 0.0}
    assert rows["C"].contributions == {"momentum": 0.0, "rsi": 1.0, "volume_z": 0.0}
    assert rows["A"].missing == ["volume_z"]
    assert rows["B"].missing == ["rsi", "volume_z"]
    assert rows["C"].missing == ["momentum", "volume_z"]


def test_one_signal_or_equal_values_give_z_zero() -> None:
    scoring = ScoringConfig(weights={"momentum": 1.0, "strength": 1.0})
    # 0.1 three times: a naive std is rounding dust (~1e-17), which would make z = +-1.
    equal = [signal(i, strength=0.1, momentum=0.1) for i in "ABC"]

    [alone] = rank_signals([signal("A", momentum=9.0)], scoring, MarketView())
    rows = rank_signals(equal, scoring, MarketView())

    assert alone.contributions == {"momentum": 0.0, "strength": 0.0}
    assert [row.score for row in rows] == [0.0, 0.0, 0.0]


def test_sell_signals_are_scored_on_the_same_features_without_flipping() -> None:
    # Strategies orient features to their own trade: a SELL with the higher value is better.
    signals = [
        signal("A", side=OrderSide.SELL, momentum=3.0),
        signal("B", side=OrderSide.BUY, momentum=1.0),
    ]

    rows = rank_signals(signals, ScoringConfig(weights={"momentum": 1.0}), MarketView())

    assert [(r.instrument, r.side, r.score) for r in rows] == [
        ("A", OrderSide.SELL, 1.0),
        ("B", OrderSide.BUY, -1.0),
    ]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.tuples(
            st.floats(-1e6, 1e6),
            st.floats(0, 1),
            st.one_of(st.none(), st.floats(0, 500)),
            st.one_of(st.none(), st.floats(0, 1e9)),
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    ),
    weights=st.tuples(st.floats(-10, 10), st.floats(-10, 10)),
    penalties=st.tuples(*[st.floats(0, 10)] * 4),
)
def test_contributions_sum_to_the_score_exactly(
    values: list[tuple[float, float, float | None, float | None, bool]],
    weights: tuple[float, float],
    penalties: tuple[float, float, float, float],
) -> None:
    signals = []
    for i, (momentum, strength, spread, notional, _) in enumerate(values):
        features = {"momentum": momentum}
        if spread is not None:
            features["spread_bps"] = spread
        if notional is not None:
            features["avg_notional"] = notional
        signals.append(signal(f"I{i}", strength=strength, features=features))
    held = frozenset(f"I{i}" for i, value in enumerate(values) if value[4])
    returns = {f"I{i}": {k: (i * 7 + k * 3) % 5 - 2.0 for k in range(12)} for i in range(30)}
    spread, liquidity, correlation, held_penalty = penalties
    scoring = ScoringConfig(
        weights={"momentum": weights[0], "strength": weights[1]},
        penalties=Penalties(
            spread=spread, liquidity=liquidity, correlation=correlation, held=held_penalty
        ),
        top_n=3,
    )

    rows = rank_signals(signals, scoring, MarketView(held=held, returns=returns))

    for row in rows:
        assert sum(row.contributions.values()) == row.score
        assert all(
            row.contributions.get(term, 0.0) <= 0 for term in ("spread", "liquidity", "held")
        )
    assert [row.score for row in rows] == sorted((row.score for row in rows), reverse=True)


# --- Penalties -------------------------------------------------------------------------------


def pair_with(penalties: Penalties, market: MarketView, **features: float) -> RankedSignal:
    """X (with ``features``) ranked against a plain Y; X's row."""
    scoring = ScoringConfig(weights={"strength": 1.0}, penalties=penalties, top_n=2)
    signals = [signal("X", strength=0.5, features=features), signal("Y", strength=0.5)]
    return by_instrument(rank_signals(signals, scoring, market))["X"]


def test_the_held_penalty_lowers_the_score_by_its_weight() -> None:
    free = pair_with(Penalties(held=0.75), MarketView())
    held = pair_with(Penalties(held=0.75), MarketView(held=frozenset({"X"})))

    assert free.contributions["held"] == 0.0
    assert held.contributions["held"] == -0.75
    assert held.score == free.score - 0.75


def test_the_spread_penalty_is_its_weight_per_basis_point() -> None:
    row = pair_with(Penalties(spread=0.01), MarketView(), spread_bps=12.0)
    no_spread = pair_with(Penalties(spread=0.01), MarketView())

    assert row.contributions["spread"] == pytest.approx(-0.12)
    assert row.score == pytest.approx(-0.12)
    assert (no_spread.contributions["spread"], no_spread.missing) == (0.0, ["spread_bps"])


def test_the_liquidity_penalty_is_its_weight_per_decade_short_of_the_floor() -> None:
    penalties = Penalties(liquidity=0.5)
    thin = pair_with(penalties, MarketView(), avg_notional=100_000.0)  # floor 1e7: 2 decades
    liquid = pair_with(penalties, MarketView(), avg_notional=50_000_000.0)
    # No notional: shares times the last close, 1000 x 100.0 = 1e5.
    by_volume = pair_with(penalties, MarketView(last_close={"X": 100.0}), avg_volume=1000.0)
    unknown = pair_with(penalties, MarketView(), avg_volume=1000.0)

    assert thin.contributions["liquidity"] == pytest.approx(-1.0)
    assert liquid.contributions["liquidity"] == 0.0
    assert by_volume.contributions["liquidity"] == pytest.approx(-1.0)
    assert (unknown.contributions["liquidity"], unknown.missing) == (0.0, ["avg_notional"])


def test_the_correlation_penalty_follows_the_held_instrument_with_the_closest_returns() -> None:
    # Arrange: H is held. X's returns are twice H's (correlation 1); Z's are orthogonal to
    # H's (correlation 0); W has too few bar closes in common with H.
    h = [0.01, -0.01, 0.01, -0.01, 0.01, -0.01]
    z = [0.01, 0.01, -0.01, -0.01, 0.0, 0.0]
    returns = {
        "H": dict(enumerate(h)),
        "X": {k: 2 * r for k, r in enumerate(h)},
        "Z": dict(enumerate(z)),
        "W": {4: 0.01, 5: -0.01},
    }
    market = MarketView(held=frozenset({"H"}), returns=returns, min_correlation_returns=4)
    scoring = ScoringConfig(
        weights={"strength": 1.0}, penalties=Penalties(correlation=0.8), top_n=5
    )

    # Act
    rows = by_instrument(rank_signals([signal(i) for i in "XZWH"], scoring, market))

    # Assert
    assert rows["X"].contributions["correlation"] == pytest.approx(-0.8)
    assert rows["X"].correlated_with == "H"
    assert rows["Z"].contributions["correlation"] == pytest.approx(0.0, abs=1e-12)
    assert (rows["W"].contributions["correlation"], rows["W"].missing) == (0.0, ["returns"])
    # H itself is not penalised for correlating with itself: nothing else is held.
    assert (rows["H"].contributions["correlation"], rows["H"].missing) == (0.0, [])


def test_returns_correlation_needs_enough_common_closes() -> None:
    a = {1: 0.01, 2: -0.02, 3: 0.03, 4: -0.01}
    b = {2: 0.02, 3: -0.01, 4: 0.0, 5: 0.5}

    assert returns_correlation(a, {k: 2 * v for k, v in a.items()}, 4) == pytest.approx(1.0)
    assert returns_correlation(a, {k: -v for k, v in a.items()}, 4) == pytest.approx(-1.0)
    assert returns_correlation(a, b, 4) is None  # 3 closes in common
    assert returns_correlation(a, dict.fromkeys(a, 0.01), 4) == 0.0  # flat: no co-movement


def test_switched_off_penalties_add_no_terms() -> None:
    [row] = rank_signals([signal("A")], ScoringConfig(weights={"strength": 1.0}), MarketView())

    assert row.contributions == {"strength": 0.0}


# --- Picking ---------------------------------------------------------------------------------


def test_top_n_and_min_score_choose_the_picks_and_say_why_the_rest_were_not() -> None:
    signals = [
        signal(i, momentum=m) for i, m in zip("ABCDE", [5.0, 4.0, 3.0, 2.0, 1.0], strict=True)
    ]
    scoring = ScoringConfig(weights={"momentum": 1.0}, top_n=2, min_score=-0.5)

    rows = rank_signals(signals, scoring, MarketView())

    # z = (m - 3) / sqrt(2): 1.41, 0.71, 0, -0.71, -1.41.
    assert [(r.instrument, r.picked) for r in rows] == [
        ("A", True),
        ("B", True),
        ("C", False),
        ("D", False),
        ("E", False),
    ]
    assert rows[2].note == "top_n 2 already picked"
    assert rows[3].note == "score below min_score -0.5"
    assert [r.note for r in rows[:2]] == ["", ""]


def test_one_instrument_is_picked_once_per_cycle() -> None:
    signals = [signal("A", "momo", momentum=3.0), signal("A", "revert", momentum=2.0)]
    signals.append(signal("B", "momo", momentum=1.0))

    rows = rank_signals(signals, ScoringConfig(weights={"momentum": 1.0}), MarketView())

    assert [(r.strategy, r.instrument, r.picked) for r in rows] == [
        ("momo", "A", True),
        ("revert", "A", False),
        ("momo", "B", True),
    ]
    assert rows[1].note == "A already picked at rank 1"


def test_ties_are_broken_by_instrument_then_strategy_whatever_the_input_order() -> None:
    signals = [
        signal("B", "zeta"),
        signal("A", "zeta"),
        signal("B", "alpha"),
        signal("A", "alpha"),
    ]
    scoring = ScoringConfig(weights={"strength": 1.0}, top_n=4)

    forward = rank_signals(signals, scoring, MarketView())
    backward = rank_signals(signals[::-1], scoring, MarketView())

    expected = [("A", "alpha"), ("A", "zeta"), ("B", "alpha"), ("B", "zeta")]
    assert [(r.instrument, r.strategy) for r in forward] == expected
    assert forward == backward


# --- The scoring config ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"weights": {}}, "weights must map at least one feature"),
        (
            {"weights": {"momentum": math.nan}},
            "weight of 'momentum' must be a finite number, got nan",
        ),
        ({"weights": {"momentum": "1"}}, "got '1'"),
        ({"weights": {"held": 1.0}}, "'held' is a penalty term"),
        ({"weights": {"": 1.0}}, "non-empty str, got ''"),
        ({"top_n": 0}, "top_n must be an int >= 1, got 0"),
        ({"top_n": True}, "top_n must be an int >= 1, got True"),
        ({"min_score": math.inf}, "min_score must be a finite number, got inf"),
        ({"liquidity_floor": 0.0}, "liquidity_floor must be > 0, got 0.0"),
        ({"penalties": {"held": 1.0}}, "penalties must be a Penalties"),
    ],
)
def test_a_bad_scoring_config_is_refused_naming_the_value(
    arguments: dict[str, object], named: str
) -> None:
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        ScoringConfig(**{"weights": {"momentum": 1.0}, **arguments})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("penalty", "value"), [("spread", -0.1), ("held", math.nan), ("correlation", "1")]
)
def test_a_bad_penalty_is_refused_naming_it(penalty: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"penalty '{penalty}'.*{value!r}"):
        Penalties(**{penalty: value})  # type: ignore[arg-type]


def test_penalties_from_a_mapping_refuse_an_unknown_term() -> None:
    assert Penalties.of({"held": 1.0, "spread": 0.01}) == Penalties(held=1.0, spread=0.01)
    with pytest.raises(ValueError, match="unknown term 'slippage'; the terms are spread, "):
        Penalties.of({"slippage": 1.0})
    with pytest.raises(ValueError, match="penalty 'held' must be >= 0"):
        Penalties.of({"held": -1.0})


def test_a_bad_reconfiguration_is_refused_when_decoded() -> None:
    good = ReconfigureRanker(ts_event=1, ts_init=1, scoring=ScoringConfig(weights={"m": 1.0}))
    data = encode(good).replace(b'"top_n":5', b'"top_n":0')

    with pytest.raises(msgspec.ValidationError, match="top_n must be an int >= 1, got 0"):
        decode(data)
    with pytest.raises(ValueError, match="scoring must be a ScoringConfig"):
        ReconfigureRanker(ts_event=1, ts_init=1, scoring={"weights": {}})  # type: ignore[arg-type]
    assert decode(encode(good)) == good
