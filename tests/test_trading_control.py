"""The trading state's owner under both runtimes: commands, the journal's health, restarts.

Scenario → outcome (the module table of :mod:`actors.trading_control`): a journal that cannot
write holds trading in REDUCING (not kept across a restart) and lets it go back by itself; a
person's choice meanwhile is kept, and the stricter of the two holds.
"""

from __future__ import annotations

from typing import Any

import pytest

from actors.trading_control import NAME as TRADING
from actors.trading_control import TradingControl
from engine.messages.journal import TOPIC_JOURNAL, JournalHealthChanged
from engine.messages.runtime import TOPIC_STATE, TradingState, TradingStateChanged
from engine.messages.trading import HaltTrading, PauseTrading, ResumeTrading
from engine.spec import ActorSpec, SupervisorSpec
from engine.testing import Capture, Driver

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def journal(ok: bool) -> JournalHealthChanged:
    return JournalHealthChanged(
        ts_event=0,
        ts_init=0,
        ok=ok,
        reason="" if ok else "database is locked",
        unwritten=0 if ok else 7,
        since_ns=0,
    )


COMMANDS: dict[str, Any] = {
    "pause": PauseTrading(ts_event=0, ts_init=0, reason="pause"),
    "resume": ResumeTrading(ts_event=0, ts_init=0, reason="resume"),
    "halt": HaltTrading(ts_event=0, ts_init=0, reason="halt"),
    "journal down": journal(False),
    "journal up": journal(True),
}

# steps → (the state after each step, whether the last change published persists)
SCENARIOS: list[tuple[list[str], list[TradingState], bool | None]] = [
    (["journal down"], [REDUCING], False),
    (["journal down", "journal up"], [REDUCING, ACTIVE], True),
    (["pause", "journal down", "journal up"], [REDUCING, REDUCING, REDUCING], True),
    (["journal down", "halt", "journal up"], [REDUCING, HALTED, HALTED], True),
    (["journal down", "pause", "journal up"], [REDUCING, REDUCING, REDUCING], True),
    (["journal down", "resume"], [REDUCING, REDUCING], False),
    (["halt", "journal down", "resume"], [HALTED, HALTED, REDUCING], False),
    (["halt", "journal down", "resume", "journal up"], [HALTED, HALTED, REDUCING, ACTIVE], True),
    (["journal up"], [ACTIVE], None),
]


@pytest.mark.parametrize(("steps", "states", "persists"), SCENARIOS)
def test_the_state_follows_choices_and_the_journals_health(
    driver: Driver,
    steps: list[str],
    states: list[TradingState],
    persists: bool | None,
) -> None:
    capture = Capture(driver.runtime, [TOPIC_STATE])
    driver.start(SupervisorSpec("root", [ActorSpec(TRADING, TradingControl)]))
    seen: list[TradingState] = []
    for step in steps:
        message = COMMANDS[step]
        if isinstance(message, JournalHealthChanged):
            driver.runtime.publish(TOPIC_JOURNAL, message)
        else:
            driver.runtime.ask(TRADING, message)
        driver.settle()
        seen.append(driver.runtime.trading_state)

    assert seen == states
    changes = capture.messages(TOPIC_STATE, TradingStateChanged)
    assert (changes[-1].persists if changes else None) is persists
    assert driver.runtime.standing_trading_state is next(
        (c.state for c in reversed(changes) if c.persists), ACTIVE
    )


def test_the_standing_state_is_the_last_one_kept(driver: Driver) -> None:
    """A resume while the journal cannot write is not kept (it could not be recorded): the
    standing state, what a restarted owner starts in, stays the halt, the safe side."""
    runtime = driver.runtime
    driver.start(
        SupervisorSpec(
            "root",
            [ActorSpec(TRADING, lambda: TradingControl(lambda: runtime.standing_trading_state))],
        )
    )
    runtime.ask(TRADING, COMMANDS["halt"])
    runtime.publish(TOPIC_JOURNAL, journal(False))
    runtime.ask(TRADING, COMMANDS["resume"])  # chosen ACTIVE, held in REDUCING meanwhile
    driver.settle()
    assert runtime.trading_state is REDUCING and runtime.standing_trading_state is HALTED


def test_an_owner_started_during_a_stall_holds_trading_in_reducing(driver: Driver) -> None:
    runtime = driver.runtime
    journal_writes = [False]
    driver.start(
        SupervisorSpec(
            "root",
            [ActorSpec(TRADING, lambda: TradingControl(journal_ok=lambda: journal_writes[0]))],
        )
    )
    driver.settle()
    assert runtime.trading_state is REDUCING and runtime.standing_trading_state is ACTIVE

    runtime.publish(TOPIC_JOURNAL, journal(True))
    driver.settle()
    assert runtime.trading_state is ACTIVE
