"""What an actor may touch: the interface both runtimes implement."""

from __future__ import annotations

import abc
from typing import Any

import structlog


class Timer(abc.ABC):
    """A scheduled delivery of a message to the actor that set it."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Stop the timer. Once this returns, the timer's message is not delivered again,
        even if a firing is already queued in the mailbox."""

    @property
    @abc.abstractmethod
    def cancelled(self) -> bool:
        """True once cancelled (or once a one-shot timer has fired)."""


class Context(abc.ABC):
    """The actor's only window on the world. One per incarnation.

    Timers belong to the incarnation: they are cancelled when it ends, and a restarted actor
    sets its own in ``on_start``. Subscriptions belong to the actor's name and survive a
    restart, so nothing published during the restart is missed.
    """

    name: str
    incarnation: int
    log: structlog.typing.FilteringBoundLogger

    @abc.abstractmethod
    def now_ns(self) -> int:
        """The runtime's clock: integer nanoseconds since the Unix epoch, UTC."""

    @abc.abstractmethod
    def send(self, target: str, message: Any) -> None:
        """Deliver ``message`` to the actor named ``target``. Never blocks an actor.

        A message to a name that does not exist is dead-lettered, not raised.
        """

    @abc.abstractmethod
    def publish(self, topic: str, message: Any) -> None:
        """Deliver ``message`` to every subscriber of ``topic``."""

    @abc.abstractmethod
    def subscribe(self, topic: str, *, with_topic: bool = False) -> None:
        """Receive what is published on ``topic``; a topic ending in ``*`` is a prefix
        (``"bars:*"``), ``"*"`` alone every topic (idempotent). With ``with_topic`` each
        message arrives wrapped in :class:`engine.runtime.Published`, which names it."""

    @abc.abstractmethod
    def watched(self, topic: str) -> bool:
        """Whether a publication on ``topic`` would reach anyone now. Lets a publisher skip
        building messages nobody receives; publishing to an unwatched topic is harmless."""

    @abc.abstractmethod
    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic`` (idempotent)."""

    @abc.abstractmethod
    def schedule_once(self, delay_ns: int, message: Any) -> Timer:
        """Deliver ``message`` to this actor once, ``delay_ns`` from now (>= 0)."""

    @abc.abstractmethod
    def schedule_settled(self, message: Any) -> Timer:
        """Deliver ``message`` to this actor once the present instant has settled. On the
        simulated runtime: after every message of the current simulated time has been handled
        (what a backtest's "when everyone has answered this bar" needs, without moving the
        clock). On the threaded runtime there is no such moment: at once, as
        ``schedule_once(0, message)`` (live code waits a real delay instead)."""

    @abc.abstractmethod
    def schedule_periodic(
        self, interval_ns: int, message: Any, *, first_delay_ns: int | None = None
    ) -> Timer:
        """Deliver ``message`` every ``interval_ns`` (> 0), first after ``first_delay_ns``
        (default: one interval). Firings keep to the original grid: a late firing does not
        shift later ones, and firings missed entirely are skipped, not bunched."""

    @abc.abstractmethod
    def stop(self) -> None:
        """End this actor normally after the current message (``transient`` and ``temporary``
        actors are then not restarted; ``permanent`` ones are)."""


def check_delay(delay_ns: int, what: str = "delay_ns") -> int:
    """Validate a timer delay: an ``int`` of nanoseconds, not negative."""
    if not isinstance(delay_ns, int) or isinstance(delay_ns, bool):
        raise TypeError(f"{what} must be an int of nanoseconds, got {delay_ns!r}")
    if delay_ns < 0:
        raise ValueError(f"{what} must be >= 0 ns, got {delay_ns}")
    return delay_ns


def check_interval(interval_ns: int) -> int:
    """Validate a periodic interval: an ``int`` of nanoseconds, above zero."""
    check_delay(interval_ns, "interval_ns")
    if interval_ns == 0:
        raise ValueError("interval_ns must be > 0 ns, got 0")
    return interval_ns
