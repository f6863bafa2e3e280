"""Small actors and messages the runtime tests share."""

from __future__ import annotations

from typing import Any

import msgspec

from engine.actor import Actor, handles
from engine.backoff import Backoff
from engine.context import Context

FAST = Backoff(initial_s=0.001, multiplier=2.0, max_s=0.01, jitter=0.0)


class Ping(msgspec.Struct, frozen=True):
    n: int


class Crash(msgspec.Struct, frozen=True):
    """Raises in the handler, every time it is delivered."""

    why: str = "boom"


class Stop(msgspec.Struct, frozen=True):
    """Asks the actor to end normally."""


class Journal:
    """What the test actors did, shared by every incarnation (the test's own ledger)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def add(self, name: str, what: Any) -> None:
        self.events.append((name, what))

    def of(self, name: str) -> list[Any]:
        return [what for who, what in self.events if who == name]


class Worker(Actor):
    """Records starts, stops and pings in a journal; crashes on Crash; ends on Stop."""

    def __init__(self, journal: Journal, fail_starts: int = 0) -> None:
        self.journal = journal
        self.fail_starts = fail_starts

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.journal.add(ctx.name, ("start", ctx.incarnation))
        if ctx.incarnation <= self.fail_starts:
            raise RuntimeError(f"start {ctx.incarnation} fails")

    def on_stop(self) -> None:
        self.journal.add(self.ctx.name, ("stop", self.ctx.incarnation))

    @handles(Ping)
    def on_ping(self, ping: Ping) -> int:
        self.journal.add(self.ctx.name, ("ping", ping.n, self.ctx.incarnation))
        return ping.n

    @handles(Crash)
    def on_crash(self, crash: Crash) -> None:
        raise ValueError(crash.why)

    @handles(Stop)
    def on_stop_message(self, _: Stop) -> None:
        self.ctx.stop()


def pings(journal: Journal, name: str) -> list[int]:
    return [e[1] for e in journal.of(name) if e[0] == "ping"]


def starts(journal: Journal, name: str) -> list[int]:
    return [e[1] for e in journal.of(name) if e[0] == "start"]
