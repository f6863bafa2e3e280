"""The trading state: ACTIVE trades, REDUCING only exits, HALTED sends nothing new.

This actor owns the state and is the one place that changes it on command (the API's pause,
resume and halt). Every change is published as ``TradingStateChanged`` on the ``state`` topic;
the runtime mirrors the last one, so whoever reads ``runtime.trading_state`` sees the same
state. When the root supervisor gives up, the runtime itself publishes HALTED.

The risk supervisor (its own issue) will decide entries and exits from this state; the kill
switch that also flattens positions belongs to it.
"""

from __future__ import annotations

from engine.actor import Actor, handles
from engine.context import Context
from engine.messages.runtime import TOPIC_STATE, TradingState, TradingStateChanged
from engine.messages.trading import HaltTrading, PauseTrading, ResumeTrading

NAME = "trading"


class TradingControl(Actor):
    """Handles Pause/Resume/HaltTrading; each answers the state after the command."""

    def __init__(self, initial: TradingState = TradingState.ACTIVE) -> None:
        self.state = initial

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.subscribe(TOPIC_STATE)  # to follow a HALTED published by the runtime

    @handles(PauseTrading)
    def on_pause(self, command: PauseTrading) -> TradingState:
        return self._move(TradingState.REDUCING, command.reason or "paused")

    @handles(ResumeTrading)
    def on_resume(self, command: ResumeTrading) -> TradingState:
        return self._move(TradingState.ACTIVE, command.reason or "resumed")

    @handles(HaltTrading)
    def on_halt(self, command: HaltTrading) -> TradingState:
        return self._move(TradingState.HALTED, command.reason or "halted")

    @handles(TradingStateChanged)
    def on_changed(self, change: TradingStateChanged) -> None:
        self.state = change.state

    def _move(self, state: TradingState, reason: str) -> TradingState:
        if state is not self.state:
            previous, self.state = self.state, state
            now = self.ctx.now_ns()
            self.ctx.log.warning(
                "trading state", previous=previous.value, state=state.value, reason=reason
            )
            self.ctx.publish(
                TOPIC_STATE,
                TradingStateChanged(
                    ts_event=now, ts_init=now, previous=previous, state=state, reason=reason
                ),
            )
        return self.state
