"""Back-off: the formula, and the delays the runtime actually waits between restarts."""

from __future__ import annotations

import random
import re

import pytest

from engine.backoff import Backoff
from engine.messages.runtime import TOPIC_SUPERVISION, ActorFailed, ActorStarted
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import SECOND, Capture
from tests.support import Crash, Journal, Worker


def test_delays_grow_exponentially_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(initial_s=0.5, multiplier=3.0, max_s=10.0, jitter=0.0)

    delays = [backoff.delay_s(k, u=0.99) for k in range(1, 7)]

    assert delays == [0.5, 1.5, 4.5, 10.0, 10.0, 10.0]


def test_jitter_only_shortens_and_stays_within_its_fraction() -> None:
    backoff = Backoff(initial_s=1.0, multiplier=2.0, max_s=8.0, jitter=0.25)

    assert backoff.delay_s(3, u=0.0) == 4.0
    assert backoff.delay_s(3, u=0.5) == 3.5
    assert backoff.delay_s(10, u=0.999) == pytest.approx(8.0 * (1 - 0.25 * 0.999))


def test_a_long_failure_streak_does_not_overflow() -> None:
    assert Backoff(max_s=30.0, jitter=0.0).delay_s(5000, u=0.0) == 30.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"initial_s": -1.0}, "initial_s must be >= 0, got -1.0"),
        ({"multiplier": 0.5}, "multiplier must be >= 1, got 0.5"),
        ({"initial_s": 2.0, "max_s": 1.0}, "max_s must be >= initial_s (2.0), got 1.0"),
        ({"jitter": 1.5}, "jitter must be within [0, 1], got 1.5"),
    ],
)
def test_bad_settings_are_refused_with_the_value(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Backoff(**options)


def restart_gaps_s(backoff: Backoff, crashes: int, seed: int) -> list[float]:
    """Crash a simulated actor ``crashes`` times in a row; the gaps (s, simulated) between
    each failure and the next start."""
    runtime = SimulatedRuntime(seed=seed)
    capture = Capture(runtime, [TOPIC_SUPERVISION])
    journal = Journal()
    runtime.start(
        SupervisorSpec(
            "root",
            [ActorSpec("w", lambda: Worker(journal), backoff=backoff, poison_after=crashes + 1)],
            intensity=1000,
            period_s=3600,
        )
    )
    runtime.send("w", Crash())  # crashes every incarnation until dead-lettered
    runtime.advance(3600 * SECOND)
    events = [(ts, m) for ts, _, m in capture.items if isinstance(m, ActorFailed | ActorStarted)]
    gaps = []
    for (t_fail, failed), (t_start, started) in zip(events[1::2], events[2::2], strict=False):
        assert isinstance(failed, ActorFailed) and isinstance(started, ActorStarted)
        gaps.append((t_start - t_fail) / SECOND)
    return gaps[:crashes]


def test_restarts_wait_exactly_the_formula_with_seeded_jitter() -> None:
    backoff = Backoff(initial_s=0.1, multiplier=2.0, max_s=1.0, jitter=0.3)
    draws = random.Random(42)

    gaps = restart_gaps_s(backoff, crashes=6, seed=42)

    expected = [backoff.delay_s(k, draws.random()) for k in range(1, 7)]
    assert gaps == pytest.approx(expected, abs=1e-9)
    assert gaps[-1] < 1.0 and gaps[3] > gaps[0]


def test_the_failure_count_resets_after_a_stable_period() -> None:
    backoff = Backoff(initial_s=0.1, multiplier=2.0, max_s=10.0, jitter=0.0, reset_after_s=5.0)
    runtime = SimulatedRuntime()
    capture = Capture(runtime, [TOPIC_SUPERVISION])
    journal = Journal()
    runtime.start(
        SupervisorSpec(
            "root",
            [ActorSpec("w", lambda: Worker(journal), backoff=backoff, poison_after=1)],
        )
    )

    for _ in range(3):  # three failures in a row: each new incarnation meets the next Crash
        runtime.send("w", Crash())
    runtime.advance(60 * SECOND)  # then a minute of quiet, more than reset_after_s
    runtime.send("w", Crash())
    runtime.advance(60 * SECOND)

    failed = [ts for ts, _, m in capture.items if isinstance(m, ActorFailed)]
    started = [ts for ts, _, m in capture.items if isinstance(m, ActorStarted)][1:]
    gaps = [(s - f) / SECOND for f, s in zip(failed, started, strict=True)]
    assert gaps == pytest.approx([0.1, 0.2, 0.4, 0.1])
