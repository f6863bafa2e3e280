"""The ranker actor under both runtimes: one cycle per bar close, intents to risk and on
``intents``, the ranking on ``rankings`` and to the store, consumed and expired signals,
positions and bar returns behind the penalties, timed cycles, reconfiguration, and the
arguments it refuses."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from actors.ranker import NAME, Ranker
from engine.messages.market import Bar, TradeTick
from engine.messages.ranking import (
    TOPIC_INTENTS,
    TOPIC_POSITIONS,
    TOPIC_RANKINGS,
    TOPIC_SIGNALS,
    Penalties,
    RankerReconfigured,
    ReconfigureRanker,
    ScoringConfig,
    SignalsRanked,
)
from engine.messages.trading import OrderSide, PositionChanged, Signal, TradeIntent
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import MILLISECOND, SECOND, Capture, Driver, recorder

MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
MOMENTUM = ScoringConfig(weights={"momentum": 1.0}, top_n=2)


def signal(
    instrument: str,
    momentum: float,
    *,
    strategy: str = "momo",
    ts: int = 1,
    valid_until_ns: int | None = None,
) -> Signal:
    return Signal(
        ts_event=ts,
        ts_init=ts,
        strategy=strategy,
        instrument=instrument,
        side=OrderSide.BUY,
        strength=0.5,
        entry=Decimal("101.25"),
        stop=Decimal("99.50"),
        valid_until_ns=valid_until_ns,
        features={"momentum": momentum},
        reason="breakout",
        correlation_id=f"{strategy}-{instrument}-{ts}",
    )


def bar(instrument: str, close_at: int, close: float = 100.0, interval: str = "1m") -> Bar:
    return Bar(
        ts_event=close_at - MINUTE,
        ts_init=close_at,
        instrument=instrument,
        interval=interval,
        ts_close=close_at,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1000.0,
        trade_count=10,
        vwap=close,
    )


class Ranked:
    """A started ranker with a recording ``risk`` peer and captured topics."""

    def __init__(self, driver: Driver, make: Callable[[], Ranker]) -> None:
        self.driver = driver
        self.made: list[Ranker] = []
        risk_spec, self.risk = recorder("risk")
        self.capture = Capture(driver.runtime, [TOPIC_RANKINGS, TOPIC_INTENTS])

        def factory() -> Ranker:
            self.made.append(make())
            return self.made[-1]

        driver.start(SupervisorSpec("root", [risk_spec, ActorSpec(NAME, factory)]))
        driver.settle()

    def rankings(self) -> list[SignalsRanked]:
        return self.capture.messages(TOPIC_RANKINGS, SignalsRanked)

    def intents(self) -> list[TradeIntent]:
        return self.capture.messages(TOPIC_INTENTS, TradeIntent)

    def publish(self, *messages: Signal | Bar | PositionChanged) -> None:
        for message in messages:
            if isinstance(message, Signal):
                topic = TOPIC_SIGNALS
            elif isinstance(message, Bar):
                topic = f"bars:{message.instrument}"
            else:
                topic = TOPIC_POSITIONS
            self.driver.runtime.publish(topic, message)
        self.driver.settle()

    def wait_rankings(self, count: int) -> list[SignalsRanked]:
        self.driver.wait_for(lambda: len(self.rankings()) >= count, what=f"{count} rankings")
        self.driver.settle()
        return self.rankings()


def start(driver: Driver, scoring: ScoringConfig = MOMENTUM, **options: Any) -> Ranked:
    options.setdefault("risk", "risk")
    options.setdefault("settle_ns", MILLISECOND)
    return Ranked(driver, lambda: Ranker(scoring, **options))


# --- Cycles and what they send ---------------------------------------------------------------


def test_a_bar_close_ranks_the_live_signals_and_sends_the_top_n(driver: Driver) -> None:
    # Arrange
    stored: list[SignalsRanked] = []
    ranked = start(driver, store=stored.append)
    ranked.publish(signal("A", 1.0), signal("B", 3.0), signal("C", 2.0))
    driver.send(NAME, signal("D", 0.0))  # sent directly: as good as published

    # Act
    ranked.publish(bar("A", MINUTE), bar("B", MINUTE))
    [ranking] = ranked.wait_rankings(1)

    # Assert
    assert [(c.instrument, c.picked) for c in ranking.candidates] == [
        ("B", True),
        ("C", True),
        ("A", False),
        ("D", False),
    ]
    assert ranking.bar_close == MINUTE
    assert ranking.scoring == MOMENTUM
    assert stored == [ranking]
    intents = ranked.intents()
    assert ranked.risk == intents
    assert [(i.instrument, i.score) for i in intents] == [
        (c.instrument, c.score) for c in ranking.candidates[:2]
    ]
    for intent, candidate in zip(intents, ranking.candidates, strict=False):
        assert intent.contributions == candidate.contributions
        assert sum(intent.contributions.values()) == intent.score
    assert driver.runtime.dead_letters == 0


def test_an_intent_carries_its_signal_unchanged_at_the_cycle_time(driver: Driver) -> None:
    ranked = start(driver)
    original = signal("A", 1.0, ts=5, valid_until_ns=2**62)
    ranked.publish(original, bar("A", MINUTE))

    [ranking] = ranked.wait_rankings(1)

    [intent] = ranked.risk
    assert isinstance(intent, TradeIntent)
    for field in Signal.__struct_fields__:
        if field not in ("ts_event", "ts_init"):
            assert getattr(intent, field) == getattr(original, field), field
    assert intent.ts_event == ranking.ts_event
    assert intent.correlation_id == "momo-A-5"
    if driver.simulated:
        assert intent.ts_event == MILLISECOND  # the settle delay after the bar at time 0


def test_bars_of_one_close_make_one_cycle(driver: Driver) -> None:
    ranked = start(driver)
    ranked.publish(signal("A", 1.0))

    ranked.publish(bar("A", MINUTE), bar("B", MINUTE), bar("C", MINUTE, interval="5m"))
    ranked.wait_rankings(1)
    ranked.publish(bar("D", MINUTE))  # late for its close: no cycle of its own

    assert [r.bar_close for r in ranked.rankings()] == [MINUTE]


def test_settled_cycles_come_from_signals_once_their_instant_has_settled(
    driver: Driver,
) -> None:
    # Arrange: settle_ns=0, as in a backtest
    ranked = start(driver, settle_ns=0)

    # Act: a close with two signals made from its bars, then a close without any
    ranked.publish(
        bar("A", MINUTE), bar("B", MINUTE), signal("A", 1.0, ts=MINUTE), signal("B", 3.0, ts=MINUTE)
    )
    ranked.wait_rankings(1)
    ranked.publish(bar("A", 2 * MINUTE), bar("B", 2 * MINUTE))
    driver.settle()

    # Assert: both signals ranked, at that close; no cycle for the quiet close. Simulated,
    # one cycle holds both (it waits for the instant to settle); threaded, it runs at once.
    rankings = ranked.rankings()
    assert {r.bar_close for r in rankings} == {MINUTE}
    assert {c.instrument for r in rankings for c in r.candidates} == {"A", "B"}
    if driver.simulated:
        assert len(rankings) == 1


def test_a_later_close_runs_the_pending_cycle_at_once(driver: Driver) -> None:
    # A settle delay that never ends within the test: only a later close runs the cycle.
    ranked = start(driver, settle_ns=HOUR)
    ranked.publish(signal("A", 1.0), bar("A", MINUTE), bar("B", MINUTE))
    assert ranked.rankings() == []

    ranked.publish(bar("A", 2 * MINUTE))

    assert [r.bar_close for r in ranked.wait_rankings(1)] == [MINUTE]


def test_a_picked_signal_is_consumed_until_a_newer_one_replaces_it(driver: Driver) -> None:
    ranked = start(driver, settle_ns=HOUR)
    ranked.publish(signal("A", 1.0, ts=1), bar("A", MINUTE), bar("A", 2 * MINUTE))
    ranked.publish(signal("A", 1.0, ts=1))  # the same signal again: already acted on
    ranked.publish(bar("A", 3 * MINUTE))
    ranked.publish(signal("A", 2.0, ts=2), bar("A", 4 * MINUTE))

    rankings = ranked.wait_rankings(3)

    # The second cycle saw no live signal and says so once (the view empties), then a newer
    # signal is picked again.
    assert [len(r.candidates) for r in rankings] == [1, 0, 1]
    assert [i.correlation_id for i in ranked.intents()] == ["momo-A-1", "momo-A-2"]


def test_an_older_signal_does_not_replace_a_newer_one(driver: Driver) -> None:
    ranked = start(driver, settle_ns=HOUR)
    ranked.publish(signal("A", 5.0, ts=10), signal("A", 1.0, ts=3), signal("B", 2.0))

    ranked.publish(bar("A", MINUTE), bar("A", 2 * MINUTE))

    [ranking] = ranked.wait_rankings(1)
    assert [c.signal_ts for c in ranking.candidates if c.instrument == "A"] == [10]


def test_expired_signals_are_dropped_at_the_cycle(driver: Driver) -> None:
    ranked = start(driver)
    ranked.publish(signal("A", 1.0, valid_until_ns=0), signal("B", 2.0, valid_until_ns=None))

    ranked.publish(bar("A", MINUTE))

    [ranking] = ranked.wait_rankings(1)
    assert [c.instrument for c in ranking.candidates] == ["B"]
    assert ranking.expired == 1
    assert [i.instrument for i in ranked.intents()] == ["B"]


def test_no_live_signal_publishes_no_ranking(driver: Driver) -> None:
    ranked = start(driver, settle_ns=HOUR)

    ranked.publish(bar("A", MINUTE), bar("A", 2 * MINUTE), bar("A", 3 * MINUTE))

    assert ranked.rankings() == []
    assert len(ranked.made) == 1 and ranked.made[0].cycles == 0


def test_a_timed_cycle_runs_every_cycle_ns(driver: Driver) -> None:
    ranked = start(driver, cycle="timer", cycle_ns=10 * MILLISECOND, settle_ns=0)
    ranked.publish(signal("A", 1.0))

    [ranking] = ranked.wait_rankings(1)

    assert ranking.bar_close is None
    assert [i.instrument for i in ranked.intents()] == ["A"]


def test_a_signal_cycle_ranks_each_signal_as_it_arrives(driver: Driver) -> None:
    ranked = start(driver, cycle="signal", settle_ns=0)

    ranked.publish(signal("A", 1.0))
    ranked.publish(signal("B", 2.0, ts=2))
    rankings = ranked.wait_rankings(2)

    assert all(r.bar_close is None for r in rankings)
    assert [i.instrument for i in ranked.intents()] == ["A", "B"]  # each taken once


def test_ticks_on_a_bar_topic_are_ignored(driver: Driver) -> None:
    start(driver)
    tick = TradeTick(ts_event=1, ts_init=1, instrument="A", price=100.0, size=1.0)

    driver.runtime.publish("bars:A", tick)
    driver.settle()

    assert driver.runtime.dead_letters == 0


# --- Penalties from positions and bars -------------------------------------------------------


def position(instrument: str, quantity: int) -> PositionChanged:
    return PositionChanged(
        ts_event=1,
        ts_init=1,
        instrument=instrument,
        strategy="momo",
        quantity=quantity,
        avg_price=Decimal("100.00"),
        realized_pnl=Decimal("0.00"),
        currency="INR",
    )


def test_a_held_instrument_is_penalised_while_its_position_is_open(driver: Driver) -> None:
    scoring = ScoringConfig(weights={"momentum": 1.0}, penalties=Penalties(held=0.75), top_n=2)
    ranked = start(driver, scoring, settle_ns=HOUR)
    ranked.publish(position("A", 10), signal("A", 2.0, ts=1), signal("B", 1.0, ts=1))
    ranked.publish(bar("A", MINUTE), bar("A", 2 * MINUTE))
    ranked.publish(position("A", 0), signal("A", 2.0, ts=2), signal("B", 1.0, ts=2))
    ranked.publish(bar("A", 3 * MINUTE))

    first, second = ranked.wait_rankings(2)

    held, free = (
        {c.instrument: c.contributions["held"] for c in r.candidates} for r in (first, second)
    )
    assert held == {"A": -0.75, "B": 0.0}
    assert free == {"A": 0.0, "B": 0.0}
    assert first.candidates[0].score == 1.0 - 0.75
    assert second.candidates[0].score == 1.0


def test_returns_from_bars_drive_the_correlation_penalty(driver: Driver) -> None:
    # Arrange: H is held; X's closes move exactly as H's (correlation 1); Z's do not move
    # (correlation 0).
    scoring = ScoringConfig(
        weights={"momentum": 1.0}, penalties=Penalties(correlation=0.8), top_n=3
    )
    ranked = start(driver, scoring, settle_ns=HOUR, returns_window=8, min_correlation_returns=4)
    ranked.publish(position("H", 5))
    closes = [100.0, 102.0, 101.0, 104.0, 103.0, 105.0]
    for k, close in enumerate(closes, 1):
        ranked.publish(bar("H", k * MINUTE, close), bar("X", k * MINUTE, close / 4))
        ranked.publish(bar("Z", k * MINUTE, 50.0))
    ranked.publish(signal("X", 1.0), signal("Z", 1.0))

    # Act: a later close runs the pending cycle.
    ranked.publish(bar("H", 10 * MINUTE))

    # Assert
    [ranking] = ranked.wait_rankings(1)
    rows = {c.instrument: c for c in ranking.candidates}
    assert rows["X"].contributions["correlation"] == pytest.approx(-0.8)
    assert rows["X"].correlated_with == "H"
    assert rows["Z"].contributions["correlation"] == 0.0
    assert [c.instrument for c in ranking.candidates] == ["Z", "X"]


# --- Reconfiguration -------------------------------------------------------------------------


def test_a_reconfiguration_applies_from_the_next_cycle(driver: Driver) -> None:
    ranked = start(driver, settle_ns=HOUR)
    new = ScoringConfig(weights={"momentum": -1.0}, top_n=1, min_score=0.0)
    ranked.publish(signal("A", 1.0), signal("B", 3.0))

    answer = driver.runtime.ask(
        NAME, ReconfigureRanker(ts_event=1, ts_init=1, scoring=new, reason="mean reversion")
    )
    ranked.publish(bar("A", MINUTE), bar("A", 2 * MINUTE))

    assert isinstance(answer, RankerReconfigured)
    assert (answer.scoring, answer.previous, answer.reason) == (new, MOMENTUM, "mean reversion")
    assert ranked.capture.messages(TOPIC_RANKINGS, RankerReconfigured) == [answer]
    [ranking] = ranked.wait_rankings(1)
    assert ranking.scoring == new
    assert [(c.instrument, c.picked) for c in ranking.candidates] == [("A", True), ("B", False)]


def test_a_bad_reconfiguration_is_refused_and_nothing_changes(driver: Driver) -> None:
    ranked = start(driver, settle_ns=HOUR)
    ranked.publish(signal("A", 1.0))

    with pytest.raises(ValueError, match="top_n must be an int >= 1, got 0"):
        driver.runtime.ask(
            NAME,
            ReconfigureRanker(
                ts_event=1, ts_init=1, scoring=ScoringConfig(weights={"m": 1.0}, top_n=0)
            ),
        )
    ranked.publish(bar("A", MINUTE), bar("A", 2 * MINUTE))

    [ranking] = ranked.wait_rankings(1)
    assert ranking.scoring == MOMENTUM
    assert ranked.capture.messages(TOPIC_RANKINGS, RankerReconfigured) == []
    assert ranked.made[0].scoring is MOMENTUM and len(ranked.made) == 1


# --- Storing ---------------------------------------------------------------------------------


def test_a_failing_store_is_counted_and_the_intents_still_go_out(driver: Driver) -> None:
    def store(_ranking: SignalsRanked) -> None:
        raise OSError("store closed")

    ranked = start(driver, store=store)
    ranked.publish(signal("A", 1.0), bar("A", MINUTE))

    ranked.wait_rankings(1)

    assert [i.instrument for i in ranked.intents()] == ["A"]
    assert ranked.made[0].failed_stores == 1 and len(ranked.made) == 1


# --- Arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"cycle": "minute"}, "cycle must be one of 'bar', 'timer', 'signal', got 'minute'"),
        ({"cycle": "timer"}, "cycle 'timer' needs cycle_ns, .*got None"),
        ({"cycle": "timer", "cycle_ns": 0}, "got 0"),
        ({"cycle_ns": SECOND}, "cycle_ns is for cycle 'timer'"),
        ({"settle_ns": -1}, "settle_ns must be an int of ns >= 0, got -1"),
        ({"returns_window": 1}, "returns_window must be an int >= 2, got 1"),
        ({"min_correlation_returns": 40}, r"\[2, returns_window=30\], got 40"),
        ({"risk": ""}, "risk must name an actor"),
    ],
)
def test_bad_arguments_are_refused_naming_the_value(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Ranker(MOMENTUM, **options)


def test_a_scoring_that_is_not_a_config_is_refused() -> None:
    with pytest.raises(ValueError, match=r"scoring must be a ScoringConfig, got \{'m': 1.0\}"):
        Ranker({"m": 1.0})  # type: ignore[arg-type]
