"""A cell: everything the runtime keeps under one actor name, across incarnations."""

from __future__ import annotations

import enum
from typing import Any

from engine.actor import Actor, Handler
from engine.correlation import carries_correlation
from engine.spec import ActorSpec
from engine.stats import ActorFigures


class CellState(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"  # crashed or stopped by a sibling; a new incarnation will follow
    STOPPED = "stopped"
    RETIRED = "retired"  # will not run again


class Cell:
    """The name, the spec, the figures and the current incarnation of one actor."""

    def __init__(self, spec: ActorSpec) -> None:
        self.name = spec.name
        self.spec = spec
        self.figures = ActorFigures()
        self.state = CellState.NEW
        self.incarnation = 0
        self.actor: Actor | None = None
        # message type -> bound handler of the current incarnation (None: unhandled)
        self.handlers: dict[type, Handler | None] = {}
        # The same, only for types the simulated runtime may run on its inline fast path
        # (no correlation id to bind around the handler).
        self.fast_handlers: dict[type, Handler] = {}
        self.context: Any = None
        self.topics: set[str] = set()
        # Hot-path state kept on the cell itself rather than one attribute further away.
        self.handled = 0  # messages handled, all incarnations
        self.stop_requested = False  # the current incarnation called ctx.stop()

    def new_incarnation(self) -> Actor:
        """Create the next incarnation's actor object (``on_start`` not yet called)."""
        self.incarnation += 1
        if self.incarnation > 1:
            self.figures.restarts += 1
        actor = self.spec.factory()
        if not isinstance(actor, Actor):
            raise TypeError(
                f"the factory of actor {self.name!r} returned {type(actor).__name__}, "
                "not an engine.actor.Actor"
            )
        self.actor = actor
        self.handlers = {}
        self.fast_handlers = {}
        self.stop_requested = False
        return actor

    def handler(self, message_type: type) -> Handler | None:
        """The current incarnation's handler for ``message_type``, cached."""
        try:
            return self.handlers[message_type]
        except KeyError:
            assert self.actor is not None
            found = self.handlers[message_type] = self.actor.handler_for(message_type)
            if found is not None and not carries_correlation(message_type):
                self.fast_handlers[message_type] = found
            return found
