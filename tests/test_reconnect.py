"""Reconnect waits: the back-off formula, a seeded generator, a reset after a stable period."""

from __future__ import annotations

import random

from engine.backoff import Backoff
from engine.reconnect import ReconnectSchedule

S = 1_000_000_000
BACKOFF = Backoff(initial_s=1.0, multiplier=2.0, max_s=8.0, jitter=0.5, reset_after_s=30.0)


def expected_waits(seed: int, streak: list[int]) -> list[int]:
    """The formula of engine.backoff, written out: one draw per failure."""
    rng = random.Random(seed)
    return [round(min(8.0, 1.0 * 2.0 ** (k - 1)) * (1 - 0.5 * rng.random()) * S) for k in streak]


def test_waits_grow_capped_and_follow_the_seed() -> None:
    schedule = ReconnectSchedule(BACKOFF, random.Random(7))

    waits = [schedule.failed(now_ns=n * S) for n in range(6)]

    assert waits == expected_waits(7, [1, 2, 3, 4, 5, 6])
    assert all(w <= 8 * S for w in waits)
    assert schedule.failures == 6


def test_a_stable_connection_resets_the_streak_and_a_short_one_does_not() -> None:
    schedule = ReconnectSchedule(BACKOFF, random.Random(7))
    schedule.failed(0)
    schedule.failed(S)
    schedule.connected(10 * S)

    short = schedule.failed(10 * S + 29 * S)  # up 29 s: the streak goes on
    schedule.connected(100 * S)
    stable = schedule.failed(130 * S)  # up 30 s: back to the first wait

    assert [short, stable] == expected_waits(7, [1, 2, 3, 1])[2:]
    assert schedule.failures == 1
