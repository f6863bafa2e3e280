"""The trading state: ACTIVE trades, REDUCING only exits, HALTED sends nothing new.

This actor owns the state and is the one place that changes it on command (the API's pause,
resume and halt, risk's kill switch). Every change is published as ``TradingStateChanged`` on
the ``state`` topic (the journal records it); the runtime mirrors the last one, so whoever
reads ``runtime.trading_state`` sees the same state. When the root supervisor gives up, the
runtime itself publishes HALTED.

Two things make up the state, as scenario → outcome:

============================================  =============================================
scenario                                      outcome
============================================  =============================================
pause / resume / halt (a person, a risk       the *chosen* state; it persists: a restarted
rule)                                         engine starts in the journal's last one
                                              (``TradingStateChanged.persists``), so a halt
                                              or a pause holds until a person resumes
the journal cannot write                      REDUCING at least (no new entries; exits still
(``JournalHealthChanged(ok=False)``)          go, their records held and retried), published
                                              with ``persists=False``
the journal writes again                      back to the chosen state by itself
a command while the journal cannot write      the chosen state changes; the state published
                                              is the stricter of the two (it persists only
                                              if it is the chosen one)
the actor restarts within the process         the chosen state is the runtime's standing one
                                              (the last that persists), nothing forgotten
the actor starts in a restarted process in a  the state is announced once (journaled again),
state other than ACTIVE                       with the reason it was kept
============================================  =============================================
"""

from __future__ import annotations

from collections.abc import Callable

from engine.actor import Actor, handles
from engine.context import Context
from engine.messages.journal import TOPIC_JOURNAL, JournalHealthChanged
from engine.messages.runtime import TOPIC_STATE, TradingState, TradingStateChanged
from engine.messages.trading import HaltTrading, PauseTrading, ResumeTrading

NAME = "trading"

_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
JOURNAL_REASON = "the journal cannot write: no new entries until it writes again"


class TradingControl(Actor):
    """Handles Pause/Resume/HaltTrading; each answers the state after the command.

    ``initial`` is the chosen state at start, or a callable reading it (the service passes
    ``lambda: runtime.standing_trading_state``: the state kept from before a restart). A
    start in a state other than ACTIVE is announced with ``kept_reason``. ``journal_ok``
    reads whether the journal writes now (a start during a stall missed its announcement).
    """

    def __init__(
        self,
        initial: TradingState | Callable[[], TradingState] = TradingState.ACTIVE,
        *,
        kept_reason: str = "kept from before the restart",
        journal_ok: Callable[[], bool] | None = None,
    ) -> None:
        self._initial = initial
        self.kept_reason = kept_reason
        self._journal_ok = journal_ok
        self.chosen = TradingState.ACTIVE
        self.state = TradingState.ACTIVE
        self.journal_ok = True

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.subscribe(TOPIC_STATE)  # to follow a HALTED published by the runtime
        ctx.subscribe(TOPIC_JOURNAL)
        source = self._initial
        self.chosen = self.state = source() if callable(source) else source
        if self.state is not TradingState.ACTIVE:
            self._announce(TradingState.ACTIVE, self.kept_reason, persists=True)
        if self._journal_ok is not None and not self._journal_ok():
            # Started (or restarted) during a stall: its announcement was before our time.
            self.journal_ok = False
            self._apply(JOURNAL_REASON, chosen=False)

    @handles(PauseTrading)
    def on_pause(self, command: PauseTrading) -> TradingState:
        return self._choose(TradingState.REDUCING, command.reason or "paused")

    @handles(ResumeTrading)
    def on_resume(self, command: ResumeTrading) -> TradingState:
        return self._choose(TradingState.ACTIVE, command.reason or "resumed")

    @handles(HaltTrading)
    def on_halt(self, command: HaltTrading) -> TradingState:
        return self._choose(TradingState.HALTED, command.reason or "halted")

    @handles(TradingStateChanged)
    def on_changed(self, change: TradingStateChanged) -> None:
        self.state = change.state
        if change.persists:
            self.chosen = change.state

    @handles(JournalHealthChanged)
    def on_journal(self, health: JournalHealthChanged) -> None:
        if health.ok == self.journal_ok:
            return
        self.journal_ok = health.ok
        reason = (
            "the journal writes again"
            if health.ok
            else f"{JOURNAL_REASON} ({health.reason}; {health.unwritten} records waiting)"
        )
        self._apply(reason, chosen=False)

    def _choose(self, state: TradingState, reason: str) -> TradingState:
        self.chosen = state
        self._apply(reason, chosen=True)
        return self.state

    def _apply(self, reason: str, *, chosen: bool) -> None:
        """Publish the state the choice and the journal make, if it changed (or a choice of
        the state that already holds for another reason, so that it is kept)."""
        wanted = self.chosen
        if not self.journal_ok and _STRICTNESS[wanted] < _STRICTNESS[TradingState.REDUCING]:
            wanted = TradingState.REDUCING
        if wanted is self.state and not (chosen and not self.journal_ok):
            return  # nothing changed (while the journal is down, a choice is still kept)
        previous, self.state = self.state, wanted
        # Only the chosen state persists: REDUCING for the journal's sake is not kept.
        self._announce(previous, reason, persists=wanted is self.chosen)

    def _announce(self, previous: TradingState, reason: str, *, persists: bool) -> None:
        now = self.ctx.now_ns()
        self.ctx.log.warning(
            "trading state",
            previous=previous.value,
            state=self.state.value,
            reason=reason,
            persists=persists,
        )
        self.ctx.publish(
            TOPIC_STATE,
            TradingStateChanged(
                ts_event=now,
                ts_init=now,
                previous=previous,
                state=self.state,
                reason=reason,
                persists=persists,
            ),
        )
