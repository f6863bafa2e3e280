"""The engine's pulse: one ``HeartbeatEmitted`` a second on the ``engine`` topic.

Health checks read the time of the last one as "the time of the last engine loop": if the
actors stop being scheduled, the heartbeat stops too.
"""

from __future__ import annotations

import msgspec

from engine.actor import Actor, handles
from engine.context import Context
from engine.messages.runtime import TOPIC_ENGINE, HeartbeatEmitted

NAME = "heartbeat"
INTERVAL_NS = 1_000_000_000


class _Beat(msgspec.Struct, frozen=True):
    """The heartbeat's own timer message."""


class Heartbeat(Actor):
    """Publishes :class:`HeartbeatEmitted` every ``interval_ns``, the first at once."""

    def __init__(self, interval_ns: int = INTERVAL_NS, log_every: int = 60) -> None:
        self.interval_ns = interval_ns
        self.log_every = log_every
        self.beats = 0

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        ctx.schedule_periodic(self.interval_ns, _Beat(), first_delay_ns=0)

    @handles(_Beat)
    def on_beat(self, _beat: _Beat) -> None:
        self.beats += 1
        now = self.ctx.now_ns()
        self.ctx.publish(TOPIC_ENGINE, HeartbeatEmitted(ts_event=now, ts_init=now, beat=self.beats))
        if self.beats == 1 or self.beats % self.log_every == 0:
            self.ctx.log.info("heartbeat", beat=self.beats)
