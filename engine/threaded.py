"""The threaded runtime: actors on pykka threads, the wall clock, real timers.

Each actor's messages live in its own :class:`~engine.mailbox.Mailbox`, owned by its name.
Executors are pykka ``ThreadingActor``s whose inbox carries only "run this actor" wake-ups:
an actor is scheduled on its executor when its mailbox goes from idle to non-empty, runs a
batch of messages, and is scheduled again if more are waiting. ``placement = "dedicated"``
gives an actor an executor of its own; any other placement names a shared pool whose
threads each host the separate mailboxes of many actors. Actor code does not change.

pykka has no links or monitors, and its three failure paths are each silent in a different
way (a tell handler's exception kills the actor and drops its inbox, an ``on_start`` exception
is only logged, an ask's exception only fails that future). Here none of them can lose a
message: the handler, ``on_start`` and asks all run inside this module's ``try``, which
ends the incarnation, puts the message back at the head of the name's mailbox (or
dead-letters it once it has crashed ``poison_after`` times) and reports to supervision.
pykka's own ``on_failure`` is kept as a backstop for a fault in this module itself.
"""

from __future__ import annotations

import collections
import functools
import itertools
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import Any, ClassVar

import pykka
import structlog

from engine.cell import Cell, CellState
from engine.context import Timer
from engine.correlation import call_correlated, carries_correlation
from engine.mailbox import EMPTY, Envelope, Mailbox, MailboxClosedError, overflow_of
from engine.messages.base import Overflow
from engine.runtime import RUNTIME_NAME, ContextBase, Placement, Runtime, describe_error
from engine.spec import DEDICATED, ActorSpec, SupervisorSpec
from engine.supervision import DRAINING, SIBLING
from engine.timer_service import TimerService

log = structlog.get_logger("troupe.threaded")

THROUGHPUT = 64
"""Messages one actor may run per turn before its executor serves the next actor."""


class _ThreadRole(threading.local):
    # A class default, so reading it on a thread that never set it is an attribute hit, not
    # a raised-and-caught AttributeError (which cost more than the rest of a send).
    no_wait = False
    """Set on every runtime thread that must never block on a send."""


_local = _ThreadRole()


def _never_wait() -> None:
    _local.no_wait = True


LATENCY_SAMPLE_MASK = 7
"""Handler latency is timed on one message in eight: enough for percentiles, and two clock
reads per message are a visible share of a light actor's cost."""

CELLS_PER_DRAIN = 256
"""Actors one drain serves before the executor looks at its pykka inbox again."""

_DRAIN, _START, _STOP = "drain", "start", "stop"


class _ThreadCell(Cell):
    def __init__(self, spec: ActorSpec) -> None:
        super().__init__(spec)
        self.mailbox = Mailbox(spec.mailbox_capacity, self.figures)
        self.executor: _Executor | None = None


class _Executor(pykka.ThreadingActor):
    """One thread that runs the actors placed on it, a batch at a time.

    Actors with work wait in the executor's own ready queue; pykka's inbox carries one
    "drain" wake-up per burst (not one per message) plus the supervision commands to start
    and stop incarnations. A drain serves ``CELLS_PER_DRAIN`` actors and then queues itself
    again behind whatever pykka holds, so supervision never waits for a busy market.
    """

    use_daemon_thread = True  # a stuck on_stop must not keep the process alive

    def __init__(self, runtime: ThreadedRuntime, label: str, made: list[_Executor]) -> None:
        super().__init__()
        made.append(self)  # pykka hands back only a ref; the runtime keeps the object
        self.runtime = runtime
        self.label = label
        self.current: _ThreadCell | None = None
        # Lock-free on purpose: deque append/popleft are atomic, and a lock here is taken by
        # every sender and by the drain loop, which made it the top cost of a busy pool.
        # The drain re-checks the queue after clearing _awake, so no wake-up is lost; a
        # duplicate wake-up is harmless (only this executor's thread drains).
        self._ready: collections.deque[_ThreadCell] = collections.deque()
        self._awake = False

    def schedule(self, cell: _ThreadCell) -> None:
        """Queue ``cell`` to run (its mailbox already marked it scheduled). Any thread."""
        self._ready.append(cell)
        if not self._awake:
            self._awake = True
            self.actor_ref.tell(_DRAIN)

    def on_start(self) -> None:
        _local.no_wait = True
        threading.current_thread().name = f"troupe-{self.label}"

    def on_receive(self, message: Any) -> Any:
        if message is _DRAIN:
            self._drain()
            return
        kind, cell, arg = message
        self.current = cell
        if kind is _START:
            self.runtime._start_here(cell, arg)
        elif kind is _STOP:
            self.runtime._stop_here(cell, *arg)
        self.current = None

    def _drain(self) -> None:
        run_batch = self.runtime._run_batch
        ready = self._ready
        served = 0
        while served < CELLS_PER_DRAIN:
            try:
                cell = ready.popleft()
            except IndexError:
                self._awake = False
                if not ready:
                    return
                self._awake = True  # a sender appended between the pop and the flag
                continue
            self.current = cell
            run_batch(cell)
            self.current = None
            served += 1
        self.actor_ref.tell(_DRAIN)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.runtime._executor_failed(self, exception_value)


class _ThreadTimer(Timer):
    __slots__ = ("_cancelled", "_context", "_interval_ns", "_message", "_runtime", "due_mono_ns")

    def __init__(
        self,
        runtime: ThreadedRuntime,
        context: _ThreadContext,
        message: Any,
        due_mono_ns: int,
        interval_ns: int | None,
    ) -> None:
        self._runtime = runtime
        self._context = context
        self._message = message
        self._interval_ns = interval_ns
        self._cancelled = False
        self.due_mono_ns = due_mono_ns

    def cancel(self) -> None:
        self._cancelled = True
        self._context.timers.discard(self)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def fire(self) -> None:
        """On the timer thread: queue the message, re-arm a periodic timer on its grid."""
        if self._cancelled:
            return
        runtime = self._runtime
        if self._interval_ns is not None:
            now = time.monotonic_ns()
            missed = max(0, (now - self.due_mono_ns) // self._interval_ns)
            self.due_mono_ns += (missed + 1) * self._interval_ns
            runtime._timers.call_at(self.due_mono_ns, self.fire)
        envelope = Envelope(self._message, timer=self, incarnation=self._context.incarnation)
        runtime._enqueue(self._context.cell, envelope)


class _ThreadContext(ContextBase):
    _runtime: ThreadedRuntime
    cell: _ThreadCell

    def now_ns(self) -> int:
        return time.time_ns()

    def _arm(self, delay_ns: int, message: Any, interval_ns: int | None) -> Timer:
        runtime = self._runtime
        timer = _ThreadTimer(runtime, self, message, time.monotonic_ns() + delay_ns, interval_ns)
        runtime._timers.call_at(timer.due_mono_ns, timer.fire)
        return timer


class ThreadedRuntime(Runtime):
    """The live runtime. ``pools`` sets the thread count of named shared executors
    (a placement not listed here gets one thread); ``placement`` places the actors added at
    run time (:meth:`add_actor`)."""

    kind: ClassVar[str] = "threaded"

    def __init__(
        self, *, pools: dict[str, int] | None = None, placement: Placement | None = None
    ) -> None:
        super().__init__(placement=placement)
        self._pool_sizes = dict(pools or {})
        for pool, size in self._pool_sizes.items():
            if pool == DEDICATED or size < 1:
                raise ValueError(
                    f"executor pool {pool!r}: size must be >= 1 and the name must not be "
                    f"{DEDICATED!r}, got {size}"
                )
        self._pools: dict[str, list[_Executor]] = {}
        self._pool_next: dict[str, itertools.count[int]] = {}
        self._refs: list[pykka.ActorRef[Any]] = []
        # The timer thread must never wait on a full mailbox: it fires every timer and data
        # client callback in the process, so its sends are admitted over the bound (counted).
        self._timers = TimerService(on_thread_start=_never_wait)
        self._supervisor_queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._supervisor_thread = threading.Thread(
            target=self._supervise_loop, name="troupe-supervision", daemon=True
        )
        self._random = random.Random()
        # Supervision steps queued or running, so that wait_idle sees work in progress.
        self._supervision_steps = 0
        self._steps_lock = threading.Lock()

    # -- the clock ----------------------------------------------------------------------------

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_s(self) -> float:
        return time.monotonic()

    def uniform(self) -> float:
        return self._random.random()

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the supervision thread after ``delay_s``."""
        if delay_s <= 0:
            self._to_supervision(fn)
        else:
            self._timers.call_later(delay_s, lambda: self._to_supervision(fn))

    def call_at(self, due_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the timer thread once the wall clock reaches ``due_ns`` (ns since the
        epoch, UTC). ``fn`` must be quick and must not block (data clients use this)."""
        delay_ns = max(0, due_ns - time.time_ns())
        self._timers.call_at(time.monotonic_ns() + delay_ns, fn)

    def _to_supervision(self, fn: Callable[[], None]) -> None:
        with self._steps_lock:
            self._supervision_steps += 1
        self._supervisor_queue.put(fn)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, tree: SupervisorSpec) -> None:
        """Create the executors and start the tree; returns once every actor has run its
        ``on_start`` (or failed it and waits for a restart)."""
        self._install(tree, _ThreadCell)
        for cell in self._cells.values():
            assert isinstance(cell, _ThreadCell)
            cell.executor = self._place(cell)
        self._supervisor_thread.start()
        assert self._supervision is not None
        self._on_supervision_thread(self._supervision.start)

    def stop(self) -> None:
        """Stop every actor in reverse order, then the executors and the timer thread."""
        with self._registry_lock:  # ordered against add_actor / remove_actor
            if self._stopped:
                return
            self._stopped = True
        if self._supervision is None:  # never started
            self._timers.stop()
            return
        supervision = self._supervision

        def shutdown() -> None:
            supervision.shutdown()
            self._retire_all("runtime stopped")

        self._on_supervision_thread(shutdown)
        self._supervisor_queue.put(None)
        for ref in self._refs:
            try:
                ref.stop(block=True, timeout=2)
            except pykka.Timeout:
                log.error("executor did not stop in time", executor=str(ref))
        self._timers.stop()

    def _on_supervision_thread(self, fn: Callable[[], None]) -> None:
        done: Future[None] = Future()

        def run() -> None:
            try:
                fn()
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)
                raise

        self._to_supervision(run)
        done.result()

    def _supervise(self, step: Callable[[], None]) -> Callable[[], None]:
        if _local.no_wait:
            # An executor, the timer thread or the supervision thread itself: waiting here
            # could wait for this very thread. The step's errors are logged by the loop.
            self._to_supervision(step)
            return lambda: None
        done: Future[None] = Future()

        def run() -> None:
            try:
                step()
            except BaseException as exc:
                done.set_exception(exc)
                return
            done.set_result(None)

        self._to_supervision(run)
        return done.result

    def _report(self, cell: _ThreadCell, fn: Callable[[], None]) -> None:
        """Queue a report about ``cell`` for supervision, dropped if by then the name was
        removed (and perhaps given to a new actor, whose incarnations count from 1 again)."""

        def report() -> None:
            if self._cells.get(cell.name) is cell:
                fn()

        self._to_supervision(report)

    def _place_new(self, cell: Cell) -> None:
        assert isinstance(cell, _ThreadCell)
        cell.executor = self._place(cell)

    def _release(self, cell: Cell) -> None:
        """A removed dedicated actor's thread ends (a pool thread stays for the others)."""
        assert isinstance(cell, _ThreadCell)
        executor = cell.executor
        if executor is None or cell.spec.placement != DEDICATED:
            return
        ref = executor.actor_ref
        self._refs = [r for r in self._refs if r is not ref]
        ref.stop(block=False)  # after the stop already in its inbox

    def _supervise_loop(self) -> None:
        _local.no_wait = True
        while True:
            fn = self._supervisor_queue.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                log.exception("supervision step failed")
            finally:
                with self._steps_lock:
                    self._supervision_steps -= 1

    def _place(self, cell: _ThreadCell) -> _Executor:
        placement = cell.spec.placement
        if placement == DEDICATED:
            return self._new_executor(cell.name)
        pool = self._pools.get(placement)
        if pool is None:
            size = self._pool_sizes.get(placement, 1)
            pool = [self._new_executor(f"{placement}-{i}") for i in range(size)]
            self._pools[placement] = pool
            self._pool_next[placement] = itertools.count()
        return pool[next(self._pool_next[placement]) % len(pool)]

    def _new_executor(self, label: str) -> _Executor:
        made: list[_Executor] = []
        self._refs.append(_Executor.start(self, label, made))
        return made[0]

    # -- messaging ----------------------------------------------------------------------------

    def send(self, target: str, message: Any) -> None:
        cell = self._cells.get(target)
        if cell is None:
            self._dead_letter(target, message, f"no actor named {target!r}")
            return
        self._enqueue(cell, message)  # type: ignore[arg-type]

    def _deliver(self, cell: Cell, message: Any) -> None:
        self._enqueue(cell, message)  # type: ignore[arg-type]

    def ask_future(self, target: str, message: Any) -> Future[Any]:
        if target == RUNTIME_NAME:
            return self._answer_runtime(message)
        reply: Future[Any] = Future()
        cell = self._cells.get(target)
        if cell is None:
            self._dead_letter(target, message, f"no actor named {target!r}", reply=reply)
            return reply
        self._enqueue(cell, Envelope(message, reply=reply))  # type: ignore[arg-type]
        return reply

    def try_send(self, target: str, message: Any) -> bool:
        """Like :meth:`send` but never waits: False if a message that may not be dropped
        meets a full mailbox (the caller answers "busy"). For the web loop."""
        cell = self._cells.get(target)
        if cell is None:
            self._dead_letter(target, message, f"no actor named {target!r}")
            return True
        assert isinstance(cell, _ThreadCell)
        if (
            overflow_of(message) is Overflow.BACKPRESSURE
            and len(cell.mailbox) >= cell.mailbox.capacity
        ):
            return False
        self._enqueue(cell, message)
        return True

    def _enqueue(self, cell: _ThreadCell, item: Any) -> None:
        """Queue a message or an :class:`Envelope` for ``cell`` and schedule it if idle."""
        try:
            if cell.mailbox.put(item, not _local.no_wait):
                cell.executor.schedule(cell)  # type: ignore[union-attr]
        except MailboxClosedError:
            if type(item) is Envelope:
                self._dead_letter(
                    cell.name, item.message, "actor retired", reply=item.reply, cell=cell
                )
            else:
                self._dead_letter(cell.name, item, "actor retired", cell=cell)

    @staticmethod
    def _schedule(cell: _ThreadCell) -> None:
        assert cell.executor is not None
        cell.executor.schedule(cell)

    def _mailbox_depth(self, cell: Cell) -> int:
        assert isinstance(cell, _ThreadCell)
        return len(cell.mailbox)

    def _placement(self, cell: Cell) -> str:
        assert isinstance(cell, _ThreadCell)
        label = cell.executor.label if cell.executor else "-"
        return f"{cell.spec.placement}:{label}" if cell.spec.placement != DEDICATED else DEDICATED

    # -- on the executor thread ---------------------------------------------------------------

    def _run_batch(self, cell: _ThreadCell) -> None:
        mailbox = cell.mailbox
        run_one = self._run_one
        for _ in range(THROUGHPUT):
            item = mailbox.take()
            if item is EMPTY:
                return
            if type(item) is Envelope:
                if not self._run_envelope(cell, item):
                    return
            elif not run_one(cell, item, None):
                return
        if mailbox.yield_turn():
            self._schedule(cell)

    def _run_envelope(self, cell: _ThreadCell, envelope: Envelope) -> bool:
        timer = envelope.timer
        if timer is not None and (timer.cancelled or envelope.incarnation != cell.incarnation):
            return True  # a firing queued before its timer was cancelled or its actor restarted
        return self._run_one(cell, envelope.message, envelope)

    def _run_one(self, cell: _ThreadCell, message: Any, envelope: Envelope | None) -> bool:
        """Run one message. False when the incarnation ended (crash or normal exit)."""
        reply = None if envelope is None else envelope.reply
        handler = cell.handlers.get(type(message)) or cell.handler(type(message))
        if handler is None:
            self._dead_letter(
                cell.name,
                message,
                f"{cell.name!r} has no handler for {type(message).__name__}",
                reply=reply,
            )
            return True
        sampled = not cell.handled & LATENCY_SAMPLE_MASK
        started = time.perf_counter_ns() if sampled else 0
        try:
            if carries_correlation(type(message)):
                result = call_correlated(handler, message)
            else:
                result = handler(message)
        except Exception as exc:
            self._crashed(cell, envelope or Envelope(message), exc)
            return False
        if sampled:
            cell.figures.record_latency(time.perf_counter_ns() - started)
        cell.handled += 1
        if reply is not None:
            reply.set_result(result)
        if cell.stop_requested:
            self._exit_normally(cell)
            return False
        return True

    def _crashed(self, cell: _ThreadCell, envelope: Envelope, exc: Exception) -> None:
        cell.mailbox.close()
        incarnation = cell.incarnation
        error = describe_error(exc)
        envelope.attempts += 1
        poison = envelope.attempts >= cell.spec.poison_after
        if not poison:
            # Redelivered to the next incarnation even if a timer sent it: that timer dies
            # with this incarnation, so the firing must not be taken for a stale one.
            envelope.timer = None
            cell.mailbox.put_back(envelope)
        # Only once the message is back: whoever sees "restarting" sees it queued.
        cell.state = CellState.RESTARTING
        self._publish_failed(cell, "message", error, envelope.message)
        if poison:
            self._dead_letter(
                cell.name,
                envelope.message,
                "poison",
                error=error,
                attempts=envelope.attempts,
                reply=envelope.reply,
            )
        self._end_incarnation(cell, "crash")
        assert self._supervision is not None
        supervision = self._supervision
        self._report(cell, lambda: supervision.actor_failed(cell.name, incarnation, error))

    def _exit_normally(self, cell: _ThreadCell) -> None:
        cell.mailbox.close()
        incarnation = cell.incarnation
        self._end_incarnation(cell, "normal")
        cell.state = CellState.STOPPED
        assert self._supervision is not None
        supervision = self._supervision
        self._report(cell, lambda: supervision.actor_exited(cell.name, incarnation))

    def _start_here(self, cell: _ThreadCell, reply: Future[tuple[int, str | None]]) -> None:
        cell.state = CellState.STARTING
        try:
            actor = cell.new_incarnation()
            cell.context = _ThreadContext(self, cell)
            actor.on_start(cell.context)
        except Exception as exc:
            error = describe_error(exc)
            self._publish_failed(cell, "start", error)
            self._end_incarnation(cell, "crash")
            cell.state = CellState.RESTARTING
            reply.set_result((cell.incarnation, error))
            return
        cell.state = CellState.RUNNING
        if cell.mailbox.open():
            self._schedule(cell)
        reply.set_result((cell.incarnation, None))
        self._publish_started(cell)

    def _stop_here(self, cell: _ThreadCell, reply: Future[None], reason: str) -> None:
        self._end_incarnation(cell, reason)
        if cell.state is not CellState.RETIRED:
            cell.state = CellState.RESTARTING if reason == SIBLING else CellState.STOPPED
        reply.set_result(None)

    def _executor_failed(self, executor: _Executor, exc: BaseException | None) -> None:
        """Backstop: a fault in the runtime itself killed an executor. Replace it; the
        mailboxes are intact, so only the actor it was running is reported as failed."""
        log.critical("executor died", executor=executor.label, error=repr(exc))
        if self._stopped:
            return
        replacement = self._new_executor(executor.label)
        for pool in self._pools.values():
            pool[:] = [replacement if e is executor else e for e in pool]
        for cell in list(self._cells.values()):
            assert isinstance(cell, _ThreadCell)
            if cell.executor is not executor:
                continue
            cell.executor = replacement
            if cell is executor.current and cell.state is CellState.RUNNING:
                cell.mailbox.close()
                cell.state = CellState.RESTARTING
                incarnation = cell.incarnation
                error = f"executor failed: {exc!r}"
                self._publish_failed(cell, "message", error)
                assert self._supervision is not None
                self._report(
                    cell,
                    functools.partial(
                        self._supervision.actor_failed, cell.name, incarnation, error
                    ),
                )
            elif cell.state is CellState.RUNNING:
                cell.mailbox.close()
                if cell.mailbox.open():
                    self._schedule(cell)

    # -- incarnations (the supervision host; on the supervision thread) -----------------------

    def start_actor(self, spec: ActorSpec) -> tuple[int, str | None]:
        cell = self._cells[spec.name]
        assert isinstance(cell, _ThreadCell) and cell.executor is not None
        reply: Future[tuple[int, str | None]] = Future()
        cell.executor.actor_ref.tell((_START, cell, reply))
        while True:
            try:
                return reply.result(timeout=5)
            except FutureTimeout:
                log.warning("on_start is taking long", actor=cell.name)

    def stop_actor(self, spec: ActorSpec, reason: str) -> None:
        cell = self._cells[spec.name]
        assert isinstance(cell, _ThreadCell) and cell.executor is not None
        deadline = time.monotonic() + spec.shutdown_timeout_s
        if reason in DRAINING:
            # Drain: let the actor handle what is queued (what the actors stopped before it
            # sent on their way out), within the same timeout as its on_stop.
            while (
                cell.state is CellState.RUNNING
                and cell.mailbox.busy
                and time.monotonic() < deadline
            ):
                time.sleep(0.001)
        cell.mailbox.close()
        reply: Future[None] = Future()
        cell.executor.actor_ref.tell((_STOP, cell, (reply, reason)))
        try:
            reply.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            # A Python thread cannot be killed: the incarnation is abandoned, and its
            # executor (a daemon thread) will not hold the process at exit.
            log.error(
                "actor did not stop in time",
                actor=cell.name,
                timeout_s=spec.shutdown_timeout_s,
            )
            cell.state = CellState.STOPPED

    def retire_actor(self, spec: ActorSpec, reason: str) -> None:
        cell = self._cells[spec.name]
        assert isinstance(cell, _ThreadCell)
        left = cell.mailbox.retire()
        self._unsubscribe_all(cell)
        for item in left:
            if type(item) is not Envelope:
                self._dead_letter(cell.name, item, f"actor retired ({reason})", cell=cell)
            elif item.timer is None:  # a timer firing is not a message anybody sent
                self._dead_letter(
                    cell.name,
                    item.message,
                    f"actor retired ({reason})",
                    attempts=item.attempts,
                    reply=item.reply,
                    cell=cell,
                )
        cell.state = CellState.RETIRED

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """True once every mailbox is empty and no restart is pending (for tests and
        benchmarks; polls with a deadline)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = any(
                c.mailbox.busy or c.state in (CellState.STARTING, CellState.RESTARTING)
                for c in list(self._cells.values())
                if isinstance(c, _ThreadCell)
            )
            if not busy and self._supervision_steps == 0:
                return True
            time.sleep(0.001)
        return False
