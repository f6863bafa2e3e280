"""The threaded runtime's mailbox: bounded, owned by the actor's name, not by an incarnation.

Because the mailbox outlives incarnations, what is queued when an actor crashes, and what is
sent while it restarts, reaches the next incarnation in send order. The mailbox also carries
the scheduling flag that makes sure one executor thread at most runs an actor at a time.

When the mailbox holds ``capacity`` messages, one more is treated by its kind's
:class:`~engine.messages.base.Overflow`:

* ``CONFLATE`` (market data): the pending message with the same conflation key is dropped and
  the new one appended at the tail (so per-sender order still holds); with no pending message
  of that key the new one is admitted, which keeps the mailbox bounded by capacity plus the
  number of keys (instruments).
* ``BACKPRESSURE`` (commands, order events, fills, everything else): never dropped. A sender
  outside the runtime (a feed's socket thread, a test) waits for room. An actor's own send is
  admitted over the bound and counted, because an executor thread that waits on a mailbox
  can deadlock the actor graph (A waits on B while B waits on A, or both share the thread).
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import Future
from typing import Any

from engine.messages.base import Overflow
from engine.stats import ActorFigures


class Envelope:
    """A message in a mailbox with what the runtime needs to deliver it correctly.

    Only messages that need it are wrapped: an ask (``reply``), a timer firing, market data
    (conflation drops it in place) and a message put back after a crash (``attempts``). A
    plain send sits in the queue as itself: one allocation fewer on the hottest path.
    """

    __slots__ = ("attempts", "incarnation", "key", "message", "reply", "timer")

    def __init__(
        self,
        message: Any,
        reply: Future[Any] | None = None,
        timer: Any = None,
        incarnation: int = 0,
    ) -> None:
        self.message = message
        self.reply = reply
        # For timer firings: the timer and the incarnation that set it, so a firing that was
        # queued before a cancel or a restart is recognised and skipped.
        self.timer = timer
        self.incarnation = incarnation
        self.attempts = 0
        self.key: Any = None


_DROPPED = object()

EMPTY: Any = object()
"""What :meth:`Mailbox.take` returns when there is nothing to run."""

_policies: dict[type, Overflow] = {}


def overflow_of(message: Any) -> Overflow:
    """The overflow policy of ``message``'s kind (cached per type: ``put`` is hot)."""
    kind = type(message)
    try:
        return _policies[kind]
    except KeyError:
        policy = _policies[kind] = getattr(kind, "overflow", Overflow.BACKPRESSURE)
        return policy


class MailboxClosedError(Exception):
    """The actor was retired: nothing sent to it will be handled."""


class Mailbox:
    """A bounded FIFO of messages (some wrapped in an :class:`Envelope`) for one actor
    name. Thread-safe."""

    def __init__(self, capacity: int, figures: ActorFigures) -> None:
        self.capacity = capacity
        self._figures = figures
        self._queue: collections.deque[Any] = collections.deque()
        self._live = 0  # items in the queue that were not conflated away
        self._pending_by_key: dict[Any, Envelope] = {}
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._waiting_senders = 0
        # True while an incarnation may run messages; False while starting, restarting, stopped.
        self._open = False
        self._scheduled = False
        self._retired = False

    def __len__(self) -> int:
        return self._live

    @property
    def busy(self) -> bool:
        """Messages are queued, or an executor holds the actor (possibly mid-handler): the
        scheduled flag stays set until ``take`` finds the queue empty."""
        return self._scheduled or self._live > 0

    def put(self, item: Any, may_wait: bool) -> bool:
        """Queue a message (or an :class:`Envelope`). Returns True when the caller must
        schedule the actor to run.

        ``may_wait``: the caller is not an executor thread, so it may wait for room.
        Raises :class:`MailboxClosedError` if the actor is retired.
        """
        wrapped = type(item) is Envelope
        message = item.message if wrapped else item
        overflow = overflow_of(message)
        if overflow is Overflow.OF_CONTENT:
            overflow = message.content_overflow()
        with self._lock:
            if self._retired:
                raise MailboxClosedError
            if overflow is Overflow.CONFLATE:
                if not wrapped:
                    item = Envelope(message)
                key = item.key = message.conflation_key()
                if self._live >= self.capacity:
                    older = self._pending_by_key.get(key)
                    if older is not None:
                        older.message = _DROPPED
                        self._live -= 1
                        self._figures.conflated += 1
                    else:
                        self._figures.over_capacity_admits += 1
                self._pending_by_key[key] = item
            elif self._live >= self.capacity:
                if may_wait:
                    self._wait_for_room()
                    if self._retired:
                        raise MailboxClosedError
                else:
                    self._figures.over_capacity_admits += 1
            self._queue.append(item)
            self._live += 1
            if self._open and not self._scheduled:
                self._scheduled = True
                return True
            return False

    def _wait_for_room(self) -> None:
        self._figures.backpressure_waits += 1
        started = time.perf_counter_ns()
        self._waiting_senders += 1
        try:
            while self._live >= self.capacity and not self._retired:
                self._room.wait(0.1)
        finally:
            self._waiting_senders -= 1
            self._figures.backpressure_ns += time.perf_counter_ns() - started

    def take(self) -> Any:
        """The next item to run, or :data:`EMPTY` (and the actor is unscheduled) if there is
        none or the mailbox is not open."""
        with self._lock:
            queue = self._queue
            while self._open and queue:
                item = queue.popleft()
                if type(item) is Envelope:
                    if item.message is _DROPPED:
                        continue
                    key = item.key
                    if key is not None and self._pending_by_key.get(key) is item:
                        del self._pending_by_key[key]
                self._live -= 1
                if self._waiting_senders:
                    self._room.notify()
                return item
            self._scheduled = False
            return EMPTY

    def yield_turn(self) -> bool:
        """After a batch: True if the actor should be scheduled again (keeps the flag set)."""
        with self._lock:
            if self._open and self._live:
                return True
            self._scheduled = False
            return False

    def put_back(self, envelope: Envelope) -> None:
        """Return a crashed message to the head of the queue for the next incarnation."""
        with self._lock:
            self._queue.appendleft(envelope)
            self._live += 1
            if envelope.key is not None:
                self._pending_by_key.setdefault(envelope.key, envelope)

    def close(self) -> None:
        """Stop running messages (crash, stop, restart pending); keep them queued."""
        with self._lock:
            self._open = False
            self._scheduled = False

    def open(self) -> bool:
        """Allow running. Returns True when the caller must schedule the actor to run."""
        with self._lock:
            self._open = True
            if self._live and not self._scheduled:
                self._scheduled = True
                return True
            return False

    def retire(self) -> list[Any]:
        """The actor will not run again: refuse new messages and return what was queued."""
        with self._lock:
            self._retired = True
            self._open = False
            left = [e for e in self._queue if type(e) is not Envelope or e.message is not _DROPPED]
            self._queue.clear()
            self._pending_by_key.clear()
            self._live = 0
            self._room.notify_all()
            return left
