"""The journal actor (``journal``): records written ahead on request, and what others publish.

It owns no storage: it hands records to a :class:`~engine.journal.writer.JournalWriter`
(owned by the service, so it outlives the actor's restarts) and answers write-aheads as its
:class:`~engine.journal.records.JournalMode` says.

Scenario → outcome:

==========================================  ================================================
scenario                                    outcome
==========================================  ================================================
``WriteAhead(key, record, reply_to)``,      the record is appended (eagerly: an idle writer
``DURABLE`` (threaded runtime)              commits it at once); once its transaction has
                                            committed, ``Written(key)`` is sent to
                                            ``reply_to`` from the writer's thread, through
                                            the runtime's thread-safe ``send``. The actor
                                            goes on meanwhile. Not for the simulated
                                            runtime, whose ``send`` is not thread-safe
... ``SYNCHRONOUS``                         the handler waits for the commit (at most
                                            ``write_timeout_s``), then answers: the same
                                            guarantee, deterministic under the simulated
                                            runtime, one commit at a time
... ``DEFERRED`` (backtests)                ``Written(key)`` at once; the record is queued
                                            lazily, committed in large transactions later
... the database refuses the record (a      ``Written(key, ok=False, error=...)``; the actor
constraint), or it cannot be encoded        carries on (nothing raises). In ``DEFERRED``
                                            only a refusal known at once is answered so; a
                                            later failure is logged and counted
... the journal cannot write (locked,       the record stays queued, in order, and is
read-only, disk full, I/O error, slow)      written once it can; if that takes longer than
                                            ``write_timeout_s``: ``Written(key, ok=False,
                                            error="TimeoutError: ...")`` then (the sender
                                            must not act as if it were recorded; it will
                                            be), and nothing more once it is written
the journal becomes unable to write (a      ``JournalHealthChanged(ok=False)`` on
transaction fails with a database fault,    ``journal`` and ``alerts``; again with
or a record waits past the writer's         ``ok=True`` once it writes again (looked at
``stall_after_ns``)                         every ``health_interval_ns``; an episode that
                                            began and ended between two looks is published
                                            as both). Each is also recorded, as it can be
the actor starts (or restarts)              the health as it stands, on ``journal`` (and
                                            ``alerts`` if it cannot write). Not in
                                            ``DEFERRED``: a backtest is run again, not
                                            healed
a ``Signal``, ``TradeIntent``,              recorded lazily (it may wait ``max_delay_ns``
``SignalsRanked``, ``RiskDenied``,          for company); nobody is answered
``TradingStateChanged``, any other
message on a followed topic
an order event on ``orders``                recorded lazily, unless it is one this actor
                                            wrote ahead recently (a fill by its
                                            ``trade_id``); the writer records a fill once
                                            per ``trade_id`` in any case. While the journal
                                            cannot write it waits in the writer's queue,
                                            in order, like every record: none is lost
``PositionChanged`` / ``AccountChanged``    throttled per (instrument, strategy) / currency:
                                            written at once if the key's last snapshot was
                                            written ``snapshot_interval_ns`` ago or more,
                                            else held (the latest replacing the held one)
                                            and written when the interval has passed
the actor stops (or restarts)               held snapshots are written; in ``DEFERRED`` the
                                            writer is asked to flush
==========================================  ================================================

Answers are matched to requests by ``key``; their order is not promised (in ``DURABLE`` a
record refused at once is answered before the commits still in progress).

Topics followed by default: :data:`DEFAULT_TOPICS`. Rankings are also written by the ranker's
own store when the service gives it one; both write the same row (the cycle's time is its key),
so following ``rankings`` here as well only costs a second write.
"""

from __future__ import annotations

import collections
from collections.abc import Hashable, Sequence
from typing import Any

from engine.actor import Actor, handles
from engine.context import Context, Timer
from engine.journal.records import JournalMode
from engine.journal.writer import JournalHealth, JournalWriter, describe
from engine.messages.account import TOPIC_ACCOUNT, AccountChanged
from engine.messages.base import Message
from engine.messages.feed import TOPIC_ALERTS
from engine.messages.journal import TOPIC_JOURNAL, JournalHealthChanged, WriteAhead, Written
from engine.messages.orders import TOPIC_ORDERS
from engine.messages.ranking import TOPIC_POSITIONS, TOPIC_RANKINGS, TOPIC_SIGNALS
from engine.messages.reconciliation import TOPIC_RECONCILIATION
from engine.messages.risk import TOPIC_RISK
from engine.messages.runtime import TOPIC_STATE
from engine.messages.trading import OrderFilled, PositionChanged

SECOND_NS = 1_000_000_000

DEFAULT_TOPICS: tuple[str, ...] = (
    TOPIC_SIGNALS,
    TOPIC_RANKINGS,
    TOPIC_RISK,
    TOPIC_POSITIONS,
    TOPIC_ACCOUNT,
    TOPIC_ORDERS,
    TOPIC_STATE,
    TOPIC_RECONCILIATION,
)
DEFAULT_SNAPSHOT_INTERVAL_NS = SECOND_NS
DEFAULT_REMEMBERED = 4096
"""Write-aheads remembered, so that their copy published on ``orders`` is not queued again."""
DEFAULT_HEALTH_INTERVAL_NS = SECOND_NS // 2
"""How often the writer's health is looked at (and write-aheads past their timeout answered)."""


class _WriteHeldSnapshots:
    """Timer: the throttle interval of a held snapshot has passed."""


class _LookAtHealth:
    """Timer: look at the writer's health and at the write-aheads waiting too long."""


class _Answer:
    """A ``DURABLE`` write-ahead's answer, sent once: from the writer's thread when its record
    is committed (or refused), or by the actor once it has waited ``write_timeout_s``."""

    __slots__ = ("deadline_ns", "key", "reply_to", "unsent")

    def __init__(self, key: str, reply_to: str, deadline_ns: int) -> None:
        self.key = key
        self.reply_to = reply_to
        self.deadline_ns = deadline_ns
        self.unsent = [True]
        """Claimed by ``pop()``: one list operation, atomic under the GIL, so the writer's
        thread and the actor never both send the answer (an actor takes no locks)."""

    @property
    def sent(self) -> bool:
        return not self.unsent

    def claim(self) -> bool:
        """True for the one caller (any thread) that is to send the answer."""
        try:
            self.unsent.pop()
        except IndexError:
            return False
        return True


class Journal(Actor):
    """Records to ``writer``; answers ``WriteAhead`` as ``mode`` says (module docstring).

    ``snapshot_interval_ns`` (>= 0; 0 writes every snapshot) throttles position and account
    snapshots per key; ``remembered`` bounds the write-aheads kept in mind (so that their
    published copies are skipped); ``write_timeout_s`` (> 0) is how long a write-ahead waits
    for its commit before it is answered ``ok=False``; ``health_interval_ns`` (> 0) is how
    often the writer's health is looked at (not in ``DEFERRED``). Raises ``ValueError`` for a
    bad value, naming it.
    """

    def __init__(
        self,
        writer: JournalWriter,
        *,
        mode: JournalMode = JournalMode.DURABLE,
        topics: Sequence[str] = DEFAULT_TOPICS,
        snapshot_interval_ns: int = DEFAULT_SNAPSHOT_INTERVAL_NS,
        write_timeout_s: float = 30.0,
        remembered: int = DEFAULT_REMEMBERED,
        health_interval_ns: int = DEFAULT_HEALTH_INTERVAL_NS,
    ) -> None:
        if not isinstance(snapshot_interval_ns, int) or snapshot_interval_ns < 0:
            raise ValueError(
                f"snapshot_interval_ns must be an int >= 0 (ns), got {snapshot_interval_ns!r}"
            )
        if not write_timeout_s > 0:
            raise ValueError(f"write_timeout_s must be > 0 (s), got {write_timeout_s!r}")
        if not isinstance(remembered, int) or remembered < 0:
            raise ValueError(f"remembered must be an int >= 0, got {remembered!r}")
        if not isinstance(health_interval_ns, int) or health_interval_ns <= 0:
            raise ValueError(
                f"health_interval_ns must be an int > 0 (ns), got {health_interval_ns!r}"
            )
        self.writer = writer
        self.mode = mode
        self.topics = tuple(topics)
        self.snapshot_interval_ns = snapshot_interval_ns
        self.write_timeout_s = write_timeout_s
        self.remembered = remembered
        self.health_interval_ns = health_interval_ns

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        for topic in self.topics:
            ctx.subscribe(topic)
        self.written_ahead: dict[Hashable, None] = {}  # insertion-ordered: oldest first
        self.last_snapshot_ns: dict[Hashable, int] = {}
        self.held: dict[Hashable, Message] = {}
        self.held_timer: Timer | None = None
        # DURABLE write-aheads not yet known to be answered, oldest first.
        self.waiting: collections.deque[_Answer] = collections.deque()
        self.health: JournalHealth | None = None  # as last looked at
        if self.mode is not JournalMode.DEFERRED:
            self.health = health = self.writer.health()
            self._announce(health.ok, health.reason, health.unwritten, health.since_ns)
            ctx.schedule_periodic(self.health_interval_ns, _LookAtHealth())

    def on_stop(self) -> None:
        for record in self.held.values():
            self.writer.append_unanswered(record)
        self.held.clear()
        if self.mode is JournalMode.DEFERRED:
            self.writer.flush()

    # -- write-ahead -------------------------------------------------------------------------

    @handles(WriteAhead)
    def on_write_ahead(self, request: WriteAhead) -> None:
        self._remember(request.record)
        key, reply_to = request.key, request.reply_to
        if self.mode is JournalMode.DURABLE:
            send = self.ctx.send  # thread-safe: called from the writer's thread
            waiting = _Answer(key, reply_to, self.ctx.now_ns() + round(self.write_timeout_s * 1e9))
            self.waiting.append(waiting)

            def answer(error: str | None) -> None:
                if waiting.claim():
                    send(reply_to, _written(key, error))

            self.writer.append_then(request.record, answer)
            return
        if self.mode is JournalMode.SYNCHRONOUS:
            error: str | None = None
            try:
                self.writer.write(request.record, self.write_timeout_s)
            except Exception as exc:
                error = describe(exc)
        else:
            error = self.writer.append_unanswered(request.record, lazy=True)
        if error is not None:
            self.ctx.log.error("write-ahead failed", key=key, reply_to=reply_to, error=error)
        self.ctx.send(reply_to, _written(key, error))

    def _answer_late_ones(self) -> None:
        """Answer ``ok=False`` the write-aheads past ``write_timeout_s``; their records stay
        queued and are written once the journal can write."""
        now = self.ctx.now_ns()
        waiting = self.waiting
        error = ""
        while waiting and (waiting[0].sent or waiting[0].deadline_ns <= now):
            late = waiting.popleft()
            if not late.claim():
                continue
            if not error:
                error = f"TimeoutError: {self.writer.timeout_message(self.write_timeout_s)}"
            self.ctx.log.error(
                "write-ahead not committed in time",
                key=late.key,
                reply_to=late.reply_to,
                error=error,
            )
            self.ctx.send(late.reply_to, _written(late.key, error))

    def _remember(self, record: Any) -> None:
        identity = _identity(record)
        if identity is None:
            return
        self.written_ahead[identity] = None
        if len(self.written_ahead) > self.remembered:
            del self.written_ahead[next(iter(self.written_ahead))]

    # -- what others publish ----------------------------------------------------------------

    @handles(Message)
    def on_published(self, message: Message) -> None:
        identity = _identity(message)
        if identity is not None and identity in self.written_ahead:
            return
        self.writer.append_unanswered(message)

    @handles(PositionChanged, AccountChanged)
    def on_snapshot(self, snapshot: PositionChanged | AccountChanged) -> None:
        key = _snapshot_key(snapshot)
        now = self.ctx.now_ns()
        last = self.last_snapshot_ns.get(key)
        if last is None or now - last >= self.snapshot_interval_ns:
            self.held.pop(key, None)
            self._write_snapshot(key, snapshot, now)
            return
        self.held[key] = snapshot
        if self.held_timer is None:
            self.held_timer = self.ctx.schedule_once(
                last + self.snapshot_interval_ns - now, _WriteHeldSnapshots()
            )

    @handles(_WriteHeldSnapshots)
    def on_write_held(self, _timer: _WriteHeldSnapshots) -> None:
        self.held_timer = None
        now = self.ctx.now_ns()
        interval = self.snapshot_interval_ns
        for key, snapshot in list(self.held.items()):
            if now - self.last_snapshot_ns[key] >= interval:
                del self.held[key]
                self._write_snapshot(key, snapshot, now)
        if self.held:
            due = min(self.last_snapshot_ns[key] + interval for key in self.held)
            self.held_timer = self.ctx.schedule_once(due - now, _WriteHeldSnapshots())

    def _write_snapshot(self, key: Hashable, snapshot: Message, now: int) -> None:
        self.last_snapshot_ns[key] = now
        self.writer.append_unanswered(snapshot)

    # -- health ------------------------------------------------------------------------------

    @handles(_LookAtHealth)
    def on_look_at_health(self, _timer: _LookAtHealth) -> None:
        self._answer_late_ones()
        seen, health = self.health, self.writer.health()
        self.health = health
        if seen is None:
            return
        if health.ok and seen.ok and health.stalls > seen.stalls:
            # A stall began and ended between two looks: it is told all the same.
            self._announce(
                False,
                health.last_stall_reason,
                health.unwritten,
                health.last_stall_since_ns or health.since_ns,
                record=True,
            )
            self._announce(True, "", health.unwritten, health.since_ns, record=True)
        elif health.ok != seen.ok:
            self._announce(health.ok, health.reason, health.unwritten, health.since_ns, record=True)

    def _announce(
        self, ok: bool, reason: str, unwritten: int, since_ns: int, *, record: bool = False
    ) -> None:
        """Publish the journal's health on ``journal``; a change (``record``) or a stall also
        on ``alerts``. A change is also recorded: queued behind what waits, if it waits."""
        now = self.ctx.now_ns()
        event = JournalHealthChanged(
            ts_event=now, ts_init=now, ok=ok, reason=reason, unwritten=unwritten, since_ns=since_ns
        )
        self.ctx.publish(TOPIC_JOURNAL, event)
        if record or not ok:
            self.ctx.publish(TOPIC_ALERTS, event)
        if record:  # (the writer has logged it)
            self.writer.append_unanswered(event)


def _written(key: str, error: str | None) -> Written:
    return Written(key=key, ok=error is None, error=error or "")


def _identity(record: Any) -> Hashable | None:
    """What makes a published copy of a written-ahead order record recognisable: a fill by
    its trade id, another order record by its value; ``None`` for anything else (not looked
    for: only order records are both written ahead and published)."""
    if isinstance(record, OrderFilled):
        return ("fill", record.trade_id)
    if getattr(record, "client_order_id", None) is None:
        return None
    try:
        hash(record)
    except TypeError:
        return None
    identity: Hashable = record
    return identity


def _snapshot_key(snapshot: PositionChanged | AccountChanged) -> Hashable:
    if isinstance(snapshot, PositionChanged):
        return ("position", snapshot.instrument, snapshot.strategy)
    return ("account", snapshot.currency)
