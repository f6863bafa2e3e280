"""What both runtimes share: the names, pub/sub, dead letters, introspection and halting.

A runtime hosts one supervision tree. Messages are sent to names; a name's cell (mailbox,
figures, current incarnation) lives as long as the actor is in the tree (normally as long as
the runtime), so a restarted actor keeps its address. :meth:`Runtime.add_actor` and
:meth:`Runtime.remove_actor` change the tree while it runs. :mod:`engine.threaded` runs
actors on pykka threads with the wall clock; :mod:`engine.simulated` runs them on one thread
over a simulated clock.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar

import msgspec
import structlog

from engine.cell import Cell, CellState
from engine.context import Context, Timer, check_delay, check_interval
from engine.mailbox import overflow_of
from engine.messages.base import Overflow
from engine.messages.runtime import (
    TOPIC_DEAD_LETTERS,
    TOPIC_STATE,
    TOPIC_SUPERVISION,
    ActorFailed,
    ActorsReport,
    ActorStarted,
    ActorStatus,
    ActorStopped,
    DescribeActors,
    MessageDeadLettered,
    TradingState,
    TradingStateChanged,
)
from engine.spec import ActorSpec, SupervisorSpec
from engine.supervision import Supervision

Placement = Callable[[ActorSpec], ActorSpec]
"""Places an actor added at run time: returns the spec with the placement the configuration
gives its name (:meth:`engine.runtime_config.RuntimeConfig.place`)."""

Listener = Callable[[str, Any], None]
"""An observer outside the actor system: called as ``fn(topic, message)`` on the publishing
thread. It must be quick and must not block (the web hub hands off to its loop)."""

ALL_TOPICS = "*"
RUNTIME_NAME = "runtime"  # the reserved name that answers DescribeActors itself

log = structlog.get_logger("troupe.runtime")


class Published(msgspec.Struct, frozen=True):
    """A published message with its topic, for subscribers that asked for the topic
    (``ctx.subscribe(topic, with_topic=True)``), such as the web hub.

    In a full mailbox it is treated as what it carries: market data conflates per
    (topic, key), everything else is never dropped.
    """

    topic: str
    message: Any

    overflow: ClassVar[Overflow] = Overflow.OF_CONTENT

    def content_overflow(self) -> Overflow:
        return overflow_of(self.message)

    def conflation_key(self) -> Any:
        return (self.topic, self.message.conflation_key())


class DeadLetterError(Exception):
    """An ``ask`` whose message was dead-lettered (poison, retired actor, unknown name)."""


class RuntimeStateError(RuntimeError):
    """The runtime was used out of order (started twice, sent to before a tree, ...)."""


class Runtime(abc.ABC):
    """The API every runtime offers to the engine, the web surface and tests."""

    kind: ClassVar[str]

    def __init__(self, *, placement: Placement | None = None) -> None:
        # Applied to actors added at run time; the tree given to start() comes placed already
        # (RuntimeConfig.apply).
        self._placement_rule = placement
        self._make_cell: Callable[[ActorSpec], Cell] | None = None
        self._stopped = False
        self._cells: dict[str, Cell] = {}
        # topic -> (cell, wants the topic wrapped around each message)
        self._subscribers: dict[str, tuple[tuple[Cell, bool], ...]] = {}
        # (prefix, cell, with_topic) for subscriptions ending in "*" ("*" itself: prefix "")
        self._prefix_subscribers: tuple[tuple[str, Cell, bool], ...] = ()
        self._listeners: dict[str, tuple[Listener, ...]] = {}
        # topic -> watched(topic), replaced by an empty dict whenever the registry changes.
        self._watched: dict[str, bool] = {}
        self._registry_lock = threading.Lock()
        self._dead_letters = 0
        self._trading_state = TradingState.ACTIVE
        self._standing_state = TradingState.ACTIVE
        self._supervision: Supervision | None = None
        self._started = False
        # The trading state is whatever was last published on "state", by whoever owns it.
        self.add_listener(TOPIC_STATE, self._follow_trading_state)

    # -- the clock ----------------------------------------------------------------------------

    @abc.abstractmethod
    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch, UTC: wall clock or simulated."""

    @abc.abstractmethod
    def monotonic_s(self) -> float:
        """Seconds on a clock that never goes back (the simulated clock in simulation)."""

    @abc.abstractmethod
    def uniform(self) -> float:
        """A draw in [0, 1) for back-off jitter (seeded in simulation)."""

    @abc.abstractmethod
    def call_at(self, due_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` when this runtime's clock reaches ``due_ns`` (ns since the epoch, UTC).
        ``fn`` must be quick and must not block. Makes a runtime an
        :class:`engine.data_client.Scheduler`."""

    @abc.abstractmethod
    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the supervision context after ``delay_s`` seconds."""

    # -- lifecycle ----------------------------------------------------------------------------

    @abc.abstractmethod
    def start_actor(self, spec: ActorSpec) -> tuple[int, str | None]:
        """Run a new incarnation's ``on_start`` (see :class:`engine.supervision.Host`)."""

    @abc.abstractmethod
    def stop_actor(self, spec: ActorSpec, reason: str) -> None:
        """End the running incarnation, keeping its mailbox."""

    @abc.abstractmethod
    def retire_actor(self, spec: ActorSpec, reason: str) -> None:
        """Dead-letter what is queued for an actor that will not run again."""

    @abc.abstractmethod
    def start(self, tree: SupervisorSpec) -> None:
        """Create the cells of ``tree`` and start its actors in declared order."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop every actor in reverse order, each within its shutdown timeout."""

    def _install(self, tree: SupervisorSpec, make_cell: Callable[[ActorSpec], Cell]) -> None:
        if self._started:
            raise RuntimeStateError("this runtime already runs a tree; make a new runtime")
        self._started = True
        self._supervision = Supervision(tree, self)
        self._make_cell = make_cell
        for spec in self._supervision.actor_specs():
            self._cells[spec.name] = make_cell(spec)

    # -- changing the tree at run time ---------------------------------------------------------

    def add_actor(self, supervisor: str, spec: ActorSpec) -> None:
        """Add the actor ``spec`` as the last child of the supervisor ``supervisor`` and start
        it, in the supervision context like every supervision decision (OTP's
        ``start_child``). Returns once its ``on_start`` has run, or failed: a failed start is
        handled like any other (back-off restart within the supervisor's intensity).

        The name is taken (and its mailbox exists) from the moment this is called: what is
        sent to it meanwhile waits for its first incarnation. Its placement comes from the
        runtime's placement rules (see :class:`engine.runtime_config.RuntimeConfig`), else
        from ``spec.placement``.

        Called from inside the runtime (an actor's handler, a timer, a listener on a runtime
        thread), it checks the arguments, queues the change and returns without waiting:
        waiting there could wait for the very thread that waits.

        Raises ``KeyError`` for an unknown supervisor, ``ValueError`` for a name already used
        by an actor or a supervisor, :class:`RuntimeStateError` before ``start`` or after
        ``stop``, :class:`engine.supervision.SupervisorDownError` when the supervisor will
        not run children again (the engine halted).
        """
        if self._placement_rule is not None:
            spec = self._placement_rule(spec)
        with self._registry_lock:
            supervision = self._changeable()
            supervision.check_add(supervisor, spec)
            if spec.name in self._cells:  # an add not yet done, or a removal not yet done
                raise ValueError(f"the name {spec.name!r} is already used by an actor")
            assert self._make_cell is not None
            cell = self._make_cell(spec)
            self._cells[spec.name] = cell
            self._watched = {}
            wait = self._supervise(lambda: self._add_here(supervision, supervisor, cell))
        wait()

    def remove_actor(self, name: str) -> None:
        """Take the actor ``name`` out of the tree (OTP's ``terminate_child`` and
        ``delete_child``): its subscriptions go first, then it handles what is already queued
        (within its shutdown timeout) and runs ``on_stop``, as at shutdown; then it is retired
        (what is still queued, and whatever is sent to it later, is dead-lettered) and its
        name is free again: an actor added later under that name gets a fresh mailbox, starts
        at incarnation 1 and receives nothing meant for this one. Its end restarts no sibling
        and counts towards no intensity.

        Returns once done, except from inside the runtime (see :meth:`add_actor`).
        Raises ``KeyError`` if there is no actor ``name``, :class:`RuntimeStateError` before
        ``start`` or after ``stop``.
        """
        with self._registry_lock:
            supervision = self._changeable()
            if name not in self._cells:
                supervision.check_remove(name)  # says whether it is a supervisor's name
                raise KeyError(f"no actor named {name!r}")
            wait = self._supervise(lambda: self._remove_here(supervision, name))
        wait()

    def _changeable(self) -> Supervision:
        """The supervision, if the tree may change now (called under the registry lock)."""
        if self._supervision is None:
            raise RuntimeStateError(
                "the runtime has not started: call start(tree) before adding or removing actors"
            )
        if self._stopped:
            raise RuntimeStateError(
                "the runtime is stopped: actors can no longer be added or removed"
            )
        return self._supervision

    @abc.abstractmethod
    def _supervise(self, step: Callable[[], None]) -> Callable[[], None]:
        """Queue ``step`` in the supervision context; return what waits for it to finish
        (raising its error), or a no-op when the caller must not wait. Called with the
        registry lock held, so that it is ordered against ``stop``."""

    def _add_here(self, supervision: Supervision, supervisor: str, cell: Cell) -> None:
        """In the supervision context: place the new cell, then let supervision start it."""
        try:
            supervision.check_add(supervisor, cell.spec)  # the tree may have changed since
        except Exception:
            self._forget(cell)
            raise
        self._place_new(cell)
        supervision.add_child(supervisor, cell.spec)

    def _remove_here(self, supervision: Supervision, name: str) -> None:
        """In the supervision context: unsubscribe, stop, retire and forget ``name``."""
        cell = self._cells.get(name)
        if cell is None:
            raise KeyError(f"no actor named {name!r}")
        supervision.check_remove(name)
        # Subscriptions go first, so that a busy topic does not keep the drain from ending.
        self._unsubscribe_all(cell)
        supervision.remove_child(name)
        self._forget(cell)

    def _place_new(self, cell: Cell) -> None:
        """Give an added cell its place to run (the threaded runtime's executor)."""
        return  # nothing to do in a runtime with one thread

    def _forget(self, cell: Cell) -> None:
        """Drop a removed (or never started) cell from the registry and release its place."""
        with self._registry_lock:
            if self._cells.get(cell.name) is cell:
                del self._cells[cell.name]
            self._watched = {}
        self._release(cell)

    def _release(self, cell: Cell) -> None:
        """Release what the runtime held for a forgotten cell (a dedicated thread)."""
        return  # nothing to do in a runtime with one thread

    # -- messaging ----------------------------------------------------------------------------

    @abc.abstractmethod
    def send(self, target: str, message: Any) -> None:
        """Deliver ``message`` to the actor named ``target`` (dead-lettered if there is none).

        From outside the runtime this may wait for room in a full mailbox (back-pressure);
        see :mod:`engine.mailbox`.
        """

    @abc.abstractmethod
    def ask_future(self, target: str, message: Any) -> Future[Any]:
        """Deliver ``message`` and return a future of the handler's return value.

        The future fails with the handler's error only if the message ends dead-lettered
        (a crash is retried by the next incarnation first), or with :class:`DeadLetterError`.
        """

    def publish(self, topic: str, message: Any) -> None:
        """Deliver ``message`` to the topic's subscribing actors, then to its listeners."""
        for cell, with_topic in self._subscribers.get(topic, ()):
            self._deliver(cell, Published(topic=topic, message=message) if with_topic else message)
        for prefix, cell, with_topic in self._prefix_subscribers:
            if topic.startswith(prefix):
                self._deliver(
                    cell, Published(topic=topic, message=message) if with_topic else message
                )
        for listeners in (self._listeners.get(topic, ()), self._listeners.get(ALL_TOPICS, ())):
            for listener in listeners:
                try:
                    listener(topic, message)
                except Exception:
                    log.exception("listener failed", topic=topic)

    def watched(self, topic: str) -> bool:
        """Whether a publication on ``topic`` would reach anyone now, so that a publisher
        can skip building a message nobody receives (a feed's per-instrument tick topics).

        Remembered per topic until the next (un)subscription or listener change: a feed asks
        once per instrument per batch. A publisher racing a subscriber from another thread may
        see the answer from just before it, as it would without the memory."""
        memory = self._watched
        known = memory.get(topic)
        if known is None:
            known = memory[topic] = bool(
                self._subscribers.get(topic)
                or self._listeners.get(topic)
                or self._listeners.get(ALL_TOPICS)
                or any(topic.startswith(prefix) for prefix, _, _ in self._prefix_subscribers)
            )
        return known

    @abc.abstractmethod
    def _deliver(self, cell: Cell, message: Any) -> None:
        """Queue ``message`` for ``cell`` (the common path of send and publish)."""

    def subscribe(self, topic: str, name: str, *, with_topic: bool = False) -> None:
        """Make the actor ``name`` receive ``topic``. A topic ending in ``*`` is a prefix
        (``"bars:*"``: every instrument's bars; ``"*"``: every topic). Survives the actor's
        restarts. ``with_topic`` wraps each message in :class:`Published`."""
        cell = self._cells.get(name)
        if cell is None:
            raise KeyError(f"no actor named {name!r}")
        with self._registry_lock:
            if topic.endswith("*"):
                prefix = topic[:-1]
                self._prefix_subscribers = (
                    *(e for e in self._prefix_subscribers if not (e[0] == prefix and e[1] is cell)),
                    (prefix, cell, with_topic),
                )
            else:
                current = tuple(e for e in self._subscribers.get(topic, ()) if e[0] is not cell)
                self._subscribers[topic] = (*current, (cell, with_topic))
            cell.topics.add(topic)
            self._watched = {}

    def unsubscribe(self, topic: str, name: str) -> None:
        cell = self._cells.get(name)
        if cell is None:
            return
        self._drop_subscription(cell, topic)

    def _drop_subscription(self, cell: Cell, topic: str) -> None:
        with self._registry_lock:
            if topic.endswith("*"):
                prefix = topic[:-1]
                self._prefix_subscribers = tuple(
                    e for e in self._prefix_subscribers if not (e[0] == prefix and e[1] is cell)
                )
            else:
                current = self._subscribers.get(topic, ())
                left = tuple(e for e in current if e[0] is not cell)
                if left:
                    self._subscribers[topic] = left
                else:
                    self._subscribers.pop(topic, None)
            cell.topics.discard(topic)
            self._watched = {}

    def add_listener(self, topic: str, listener: Listener) -> Callable[[], None]:
        """Observe ``topic`` (or ``"*"`` for all) from outside; returns the remover."""
        with self._registry_lock:
            self._listeners[topic] = (*self._listeners.get(topic, ()), listener)
            self._watched = {}

        def remove() -> None:
            with self._registry_lock:
                self._listeners[topic] = tuple(
                    f for f in self._listeners.get(topic, ()) if f is not listener
                )
                self._watched = {}

        return remove

    def ask(self, target: str, message: Any, timeout_s: float | None = 10.0) -> Any:
        """``ask_future(...).result(timeout_s)``: the handler's reply, or its error."""
        return self.ask_future(target, message).result(timeout_s)

    def _answer_runtime(self, message: Any) -> Future[Any]:
        reply: Future[Any] = Future()
        if isinstance(message, DescribeActors):
            reply.set_result(self.describe())
        else:
            reply.set_exception(
                DeadLetterError(
                    f"the runtime answers DescribeActors only, not {type(message).__name__}"
                )
            )
        return reply

    # -- dead letters -------------------------------------------------------------------------

    @property
    def dead_letters(self) -> int:
        """How many messages were dead-lettered since start."""
        return self._dead_letters

    def _dead_letter(
        self,
        target: str,
        message: Any,
        reason: str,
        *,
        error: str | None = None,
        attempts: int = 0,
        reply: Future[Any] | None = None,
        cell: Cell | None = None,
    ) -> None:
        """Count and publish a dead letter. ``cell``: the cell it was meant for, when known
        (a removed actor's name may already belong to a new cell)."""
        with self._registry_lock:
            self._dead_letters += 1
            if cell is None:
                cell = self._cells.get(target)
            if cell is not None:
                cell.figures.dead_lettered += 1
        if reply is not None and not reply.done():
            reply.set_exception(DeadLetterError(f"{reason}: {error}" if error else reason))
        log.warning(
            "dead letter",
            target=target,
            message_type=type(message).__name__,
            reason=reason,
            error=error,
            attempts=attempts,
        )
        if isinstance(message, MessageDeadLettered):
            return  # a dead letter about a dead letter would loop
        now = self.now_ns()
        self.publish(
            TOPIC_DEAD_LETTERS,
            MessageDeadLettered(
                ts_event=now,
                ts_init=now,
                target=target,
                message_type=type(message).__name__,
                reason=reason,
                error=error,
                attempts=attempts,
            ),
        )

    # -- lifecycle events ---------------------------------------------------------------------

    def _publish_started(self, cell: Cell) -> None:
        now = self.now_ns()
        self.publish(
            TOPIC_SUPERVISION,
            ActorStarted(ts_event=now, ts_init=now, name=cell.name, incarnation=cell.incarnation),
        )

    def _publish_failed(
        self, cell: Cell, during: str, error: str, message: Any | None = None
    ) -> None:
        cell.figures.failures += 1
        cell.figures.last_error = error
        log.error(
            "actor failed",
            actor=cell.name,
            incarnation=cell.incarnation,
            during=during,
            error=error,
        )
        now = self.now_ns()
        self.publish(
            TOPIC_SUPERVISION,
            ActorFailed(
                ts_event=now,
                ts_init=now,
                name=cell.name,
                incarnation=cell.incarnation,
                during=during,
                error=error,
                message_type=None if message is None else type(message).__name__,
            ),
        )

    def _end_incarnation(self, cell: Cell, reason: str) -> None:
        """Cancel the incarnation's timers and run its ``on_stop`` (errors logged). Runs on
        the thread that runs the actor. Idempotent."""
        context = cell.context
        if context is None or context.ended:
            return
        context.ended = True
        context.cancel_timers()
        actor = cell.actor
        if actor is not None:
            try:
                actor.on_stop()
            except Exception as exc:
                log.error("on_stop failed", actor=cell.name, error=describe_error(exc))
        now = self.now_ns()
        self.publish(
            TOPIC_SUPERVISION,
            ActorStopped(
                ts_event=now,
                ts_init=now,
                name=cell.name,
                incarnation=cell.incarnation,
                reason=reason,
            ),
        )

    def _unsubscribe_all(self, cell: Cell) -> None:
        for topic in list(cell.topics):
            self._drop_subscription(cell, topic)

    # -- halting ------------------------------------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        return self._trading_state

    @property
    def standing_trading_state(self) -> TradingState:
        """The last state that persists (:attr:`TradingStateChanged.persists`): what holds
        once a passing condition (the journal unable to write) clears."""
        return self._standing_state

    def restore_trading_state(self, state: TradingState) -> None:
        """Start in ``state`` (a restarted engine's, from its journal), before any actor
        runs; whoever owns the state announces it once it starts."""
        self._trading_state = self._standing_state = state

    def root_gave_up(self, reason: str) -> None:
        """The root supervisor stopped everything: the engine is HALTED and says so, and
        every actor is retired (what waits for them is dead-lettered, senders are released)."""
        log.critical("engine halted", reason=reason)
        self._set_trading_state(TradingState.HALTED, reason)
        self._retire_all("engine halted")

    def _retire_all(self, reason: str) -> None:
        """Nothing will run again: account for every queued message as a dead letter, and
        refuse (dead-letter) whatever is sent from now on instead of queueing it forever."""
        for cell in list(self._cells.values()):
            if cell.state is not CellState.RETIRED:
                self.retire_actor(cell.spec, reason)

    def _follow_trading_state(self, _topic: str, message: Any) -> None:
        if isinstance(message, TradingStateChanged):
            self._trading_state = message.state
            if message.persists:
                self._standing_state = message.state

    def _set_trading_state(self, state: TradingState, reason: str) -> None:
        previous = self._trading_state
        now = self.now_ns()
        self.publish(
            TOPIC_STATE,
            TradingStateChanged(
                ts_event=now, ts_init=now, previous=previous, state=state, reason=reason
            ),
        )

    # -- introspection ------------------------------------------------------------------------

    def describe(self) -> ActorsReport:
        """The supervision tree and every actor's figures, as a message (thread-safe)."""
        supervision = self._supervision
        actors = [self._status(cell) for cell in list(self._cells.values())]
        now = self.now_ns()
        return ActorsReport(
            ts_event=now,
            ts_init=now,
            runtime=self.kind,
            trading_state=self._trading_state,
            supervisors=supervision.statuses() if supervision else [],
            actors=actors,
            dead_letters=self._dead_letters,
        )

    def _status(self, cell: Cell) -> ActorStatus:
        figures = cell.figures
        p50, p90, p99 = figures.latency_percentiles_us(50, 90, 99)
        supervision = self._supervision
        return ActorStatus(
            name=cell.name,
            supervisor=(supervision.supervisor_of(cell.name) or "") if supervision else "",
            state=cell.state.value,
            incarnation=cell.incarnation,
            restarts=figures.restarts,
            last_error=figures.last_error,
            mailbox_depth=self._mailbox_depth(cell),
            mailbox_capacity=cell.spec.mailbox_capacity,
            handled=cell.handled,
            failures=figures.failures,
            dead_lettered=figures.dead_lettered,
            conflated=figures.conflated,
            backpressure_waits=figures.backpressure_waits,
            over_capacity_admits=figures.over_capacity_admits,
            latency_us_p50=p50,
            latency_us_p90=p90,
            latency_us_p99=p99,
            placement=self._placement(cell),
        )

    @abc.abstractmethod
    def _mailbox_depth(self, cell: Cell) -> int: ...

    def _placement(self, cell: Cell) -> str:
        return cell.spec.placement

    def state_of(self, name: str) -> CellState:
        """The state of the actor ``name`` (KeyError if unknown)."""
        return self._cells[name].state


def describe_error(exc: BaseException) -> str:
    """``Type: message``, the form errors take in events and figures."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ContextBase(Context):
    """A context as both runtimes make it: identity, logger, messaging through the runtime,
    validated timers. A runtime supplies its clock (``now_ns``) and how a timer is armed
    (``_arm``)."""

    def __init__(self, runtime: Runtime, cell: Cell) -> None:
        self.name = cell.name
        self.incarnation = cell.incarnation
        self.log = structlog.get_logger("troupe.actor").bind(
            actor=cell.name, incarnation=cell.incarnation
        )
        self.ended = False
        self.cell = cell
        self.timers: set[Timer] = set()
        self._runtime = runtime
        # The hot path: an actor's send is the runtime's send, without a hop through here.
        self.send = runtime.send  # type: ignore[method-assign]

    def send(self, target: str, message: Any) -> None:
        self._runtime.send(target, message)

    def publish(self, topic: str, message: Any) -> None:
        self._runtime.publish(topic, message)

    def subscribe(self, topic: str, *, with_topic: bool = False) -> None:
        self._runtime.subscribe(topic, self.name, with_topic=with_topic)

    def watched(self, topic: str) -> bool:
        return self._runtime.watched(topic)

    def unsubscribe(self, topic: str) -> None:
        self._runtime.unsubscribe(topic, self.name)

    def schedule_once(self, delay_ns: int, message: Any) -> Timer:
        return self._timer(check_delay(delay_ns), message, None)

    def schedule_settled(self, message: Any) -> Timer:
        if self.ended:
            raise RuntimeStateError(f"actor {self.name!r}: this incarnation has ended")
        timer = self._arm_settled(message)
        self.timers.add(timer)
        return timer

    def _arm_settled(self, message: Any) -> Timer:
        return self._arm(0, message, None)

    def schedule_periodic(
        self, interval_ns: int, message: Any, *, first_delay_ns: int | None = None
    ) -> Timer:
        check_interval(interval_ns)
        first = interval_ns if first_delay_ns is None else check_delay(first_delay_ns)
        return self._timer(first, message, interval_ns)

    def _timer(self, delay_ns: int, message: Any, interval_ns: int | None) -> Timer:
        if self.ended:
            raise RuntimeStateError(f"actor {self.name!r}: this incarnation has ended")
        timer = self._arm(delay_ns, message, interval_ns)
        self.timers.add(timer)
        return timer

    @abc.abstractmethod
    def _arm(self, delay_ns: int, message: Any, interval_ns: int | None) -> Timer:
        """Create and schedule a timer on the runtime's clock."""

    def cancel_timers(self) -> None:
        for timer in list(self.timers):
            timer.cancel()
        self.timers.clear()

    def stop(self) -> None:
        if self.cell.incarnation == self.incarnation:
            self.cell.stop_requested = True
