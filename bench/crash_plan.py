"""The crash suite's plan: how many kills and SIGTERMs, how long each round trades, which
commands it sends, all drawn from one seed so that a run can be asked for again
(:func:`plan_rounds`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bench.crash_engine import SessionSettings

__all__ = ["ACTIONS", "CrashPlan", "RoundPlan", "plan_rounds"]

ACTIONS = ("pause", "halt", "flatten")
"""The commands a round may send (``resume`` follows a restart that kept a held state)."""


@dataclass(frozen=True, slots=True)
class CrashPlan:
    """How many kills, how long rounds last, how often the suite trades and commands."""

    kills: int = 100
    sigterms: int = 10
    seed: int = 1
    round_s: tuple[float, float] = (3.0, 9.0)
    """A round's trading time after the restart is ready, uniform within."""
    early_share: float = 0.12
    """Share of kills made within ``early_window_s`` of the spawn (during the restart)."""
    early_window_s: float = 1.5
    action_share: float = 0.3
    """Share of rounds with a ``pause``, ``halt`` or ``flatten``."""
    resume_share: float = 0.7
    """After a restart that kept a held state: the share of rounds that ``resume``."""
    hold_s: tuple[float, float] = (1.5, 3.5)
    """How long a kept held state is watched before the ``resume``."""
    orders_per_s: float = 4.0
    ready_timeout_s: float = 60.0
    settle_s: float = 5.0
    """How long a three-way comparison may wait for a moment without new fills."""
    final_run_s: float = 4.0
    session: SessionSettings = field(default_factory=SessionSettings)

    @classmethod
    def ci(cls, seed: int = 12) -> CrashPlan:
        """The small count for CI: 6 kills and 2 SIGTERMs, rounds of 2.5 to 5 s."""
        return cls(
            kills=6,
            sigterms=2,
            seed=seed,
            round_s=(2.5, 5.0),
            early_share=0.2,
            action_share=0.4,
            hold_s=(1.0, 2.0),
            final_run_s=2.0,
        )


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """What one round does: how it ends (``SIGKILL`` or ``SIGTERM``), after how long from the
    restart being ready (from the spawn for an ``early`` kill), which command it sends when,
    and whether it resumes a state kept from the previous round after ``hold_s``."""

    index: int
    signal: str
    run_s: float
    early: bool
    action: str | None
    action_at_s: float
    resume: bool
    hold_s: float


def plan_rounds(plan: CrashPlan) -> list[RoundPlan]:
    """The rounds of ``plan``, the same for the same seed: its kills and SIGTERMs shuffled,
    the first round never killed early."""
    rng = random.Random(plan.seed)
    signals = ["SIGKILL"] * plan.kills + ["SIGTERM"] * plan.sigterms
    rng.shuffle(signals)
    rounds: list[RoundPlan] = []
    for index, sig in enumerate(signals):
        early = index > 0 and sig == "SIGKILL" and rng.random() < plan.early_share
        run_s = rng.uniform(0.0, plan.early_window_s) if early else rng.uniform(*plan.round_s)
        action = rng.choice(ACTIONS) if not early and rng.random() < plan.action_share else None
        rounds.append(
            RoundPlan(
                index=index,
                signal=sig,
                run_s=run_s,
                early=early,
                action=action,
                action_at_s=rng.uniform(0.55, 0.95) * run_s,
                resume=rng.random() < plan.resume_share,
                hold_s=min(rng.uniform(*plan.hold_s), 0.5 * run_s),
            )
        )
    return rounds
