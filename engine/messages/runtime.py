"""Messages the runtime itself publishes or answers: supervision, dead letters, introspection."""

from __future__ import annotations

import enum

import msgspec

from engine.messages.base import Command, Event, Report

# Topics the runtime publishes on.
TOPIC_SUPERVISION = "actors"
TOPIC_DEAD_LETTERS = "dead_letters"
TOPIC_STATE = "state"
TOPIC_ENGINE = "engine"


class TradingState(enum.Enum):
    """ACTIVE trades; REDUCING only exits; HALTED does nothing new."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class ActorStarted(Event, frozen=True, kw_only=True):
    """An incarnation of an actor finished ``on_start``."""

    name: str
    incarnation: int


class ActorFailed(Event, frozen=True, kw_only=True):
    """An incarnation raised: in a handler (``during = "message"``) or in ``on_start``."""

    name: str
    incarnation: int
    during: str
    error: str
    message_type: str | None = None


class ActorStopped(Event, frozen=True, kw_only=True):
    """An incarnation ended. ``reason`` is ``shutdown``, ``normal``, ``crash``, ``sibling``,
    ``escalation`` or ``removed`` (taken out of the tree at run time)."""

    name: str
    incarnation: int
    reason: str


class SupervisorGaveUp(Event, frozen=True, kw_only=True):
    """A supervisor saw more restarts than its intensity allows and stopped its children."""

    supervisor: str
    restarts: int
    period_s: float
    last_error: str


class MessageDeadLettered(Event, frozen=True, kw_only=True):
    """A message that will never be handled: poison, or addressed to nobody."""

    target: str
    message_type: str
    reason: str
    error: str | None = None
    attempts: int = 0


class TradingStateChanged(Event, frozen=True, kw_only=True):
    """The engine's trading state moved, for example to HALTED when the root supervisor gives up."""

    previous: TradingState
    state: TradingState
    reason: str
    persists: bool = True
    """The state holds until a person (or a risk rule) changes it, across restarts: the
    journal's last such change is the state a restarted engine starts in. ``False`` for a
    state the engine leaves by itself (REDUCING while the journal cannot write, and the
    return from it)."""


class HeartbeatEmitted(Event, frozen=True, kw_only=True):
    """The engine is alive: published on ``TOPIC_ENGINE`` once a second."""

    beat: int


class DescribeActors(Command, frozen=True, kw_only=True):
    """Ask the runtime for the supervision tree and every actor's figures."""


class ActorStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One actor's figures as the runtime sees them."""

    name: str
    supervisor: str
    state: str
    incarnation: int
    restarts: int
    last_error: str | None
    mailbox_depth: int
    mailbox_capacity: int
    handled: int
    failures: int
    dead_lettered: int
    conflated: int
    backpressure_waits: int
    over_capacity_admits: int
    latency_us_p50: float | None
    latency_us_p90: float | None
    latency_us_p99: float | None
    placement: str


class SupervisorStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One supervisor of the tree with its children's names, in start order."""

    name: str
    parent: str | None
    strategy: str
    intensity: int
    period_s: float
    children: list[str]
    restarts_in_period: int
    gave_up: bool


class ActorsReport(Report, frozen=True, kw_only=True):
    """The answer to :class:`DescribeActors`."""

    runtime: str
    trading_state: TradingState
    supervisors: list[SupervisorStatus]
    actors: list[ActorStatus]
    dead_letters: int
