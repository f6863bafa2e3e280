"""The simulated runtime: one thread, one event queue, a clock that jumps to the next event.

Events are ordered by ``(timestamp, sequence)``. Messages sent at the current time go to a
FIFO ("ready") queue; timers and delayed supervision work go to a heap. An entry on the heap
at the current time was created before the clock got there, so its sequence is lower than
that of anything in the ready queue: taking due heap entries first, then ready messages,
keeps the global ``(timestamp, sequence)`` order without paying a heap push per message.

Nothing here reads the wall clock or a thread, and back-off jitter comes from a seeded
generator, so the same inputs give the same outputs, byte for byte, run after run.

Mailboxes are not bounded here: a backtest must see every tick, and with one thread nothing
can outrun anything else.
"""

from __future__ import annotations

import collections
import heapq
import random
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar

from engine.cell import Cell, CellState
from engine.context import Timer, check_delay
from engine.correlation import call_correlated, carries_correlation
from engine.runtime import (
    RUNTIME_NAME,
    ContextBase,
    Placement,
    Runtime,
    RuntimeStateError,
    describe_error,
    log,
)
from engine.spec import ActorSpec, SupervisorSpec
from engine.supervision import DRAINING, SIBLING

_RUNNING = CellState.RUNNING
# Handler latency is sampled (one event in 16) on the inline path: two clock reads per event
# would cost a third of the simulated event rate, and percentiles need a sample, not a census.
_SAMPLE_MASK = 15

# A ready entry: (cell, message, reply future, attempts so far); cell None means the message
# is a callable to run (a zero-delay timer or supervision step).
_Ready = tuple[Any, Any, "Future[Any] | None", int]


class _SimCell(Cell):
    def __init__(self, spec: ActorSpec) -> None:
        super().__init__(spec)
        # Messages that arrived while the actor was down, oldest first, with their attempts.
        self.stash: collections.deque[_Ready] = collections.deque()


class _SimTimer(Timer):
    __slots__ = ("_cancelled", "_context", "_interval_ns", "_message", "_runtime", "due_ns")

    def __init__(
        self,
        runtime: SimulatedRuntime,
        context: _SimContext,
        message: Any,
        due_ns: int,
        interval_ns: int | None,
    ) -> None:
        self._runtime = runtime
        self._context = context
        self._message = message
        self._interval_ns = interval_ns
        self._cancelled = False
        self.due_ns = due_ns

    def cancel(self) -> None:
        self._cancelled = True
        self._context.timers.discard(self)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def fire(self) -> None:
        if self._cancelled:
            return
        runtime = self._runtime
        cell = self._context.cell
        if self._interval_ns is None:
            self.cancel()
        else:
            self.due_ns += self._interval_ns
            runtime._push(self.due_ns, self.fire)
        runtime._handle(cell, self._message, None, 0)


class _SimContext(ContextBase):
    _runtime: SimulatedRuntime
    cell: _SimCell

    def now_ns(self) -> int:
        return self._runtime._now

    def _arm(self, delay_ns: int, message: Any, interval_ns: int | None) -> Timer:
        runtime = self._runtime
        timer = _SimTimer(runtime, self, message, runtime._now + delay_ns, interval_ns)
        runtime._push(timer.due_ns, timer.fire)
        return timer

    def _arm_settled(self, message: Any) -> Timer:
        runtime = self._runtime
        timer = _SimTimer(runtime, self, message, runtime._now, None)
        runtime._settled.append(timer.fire)
        return timer


class SimulatedRuntime(Runtime):
    """Deterministic runtime for backtests and tests.

    ``start_ns`` is the clock's value before the first event (ns since the epoch, UTC);
    ``seed`` drives the back-off jitter. Drive it with :meth:`run`, :meth:`advance` or
    :meth:`ask`. ``placement`` places actors added at run time (only reported here).

    :meth:`add_actor` and :meth:`remove_actor` are events like any supervision step: queued
    at the current simulated time behind what is already due, then run (with everything
    before them) before the call returns; from inside an event (a handler) they are queued
    only.
    """

    kind: ClassVar[str] = "simulated"

    def __init__(
        self,
        *,
        start_ns: int = 0,
        seed: int = 0,
        measure_latency: bool = True,
        placement: Placement | None = None,
    ) -> None:
        super().__init__(placement=placement)
        self._now = start_ns
        self._ready: collections.deque[_Ready] = collections.deque()
        self._settled: list[Callable[[], None]] = []
        """Callbacks for when the present instant has settled (``schedule_settled``)."""
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._random = random.Random(seed)
        self._measure_latency = measure_latency
        self.events = 0
        self._loop_depth = 0  # > 0 while run() runs: an event is being handled
        # Bound once: send is the hottest call an actor makes.
        self._cell_named = self._cells.get
        self._enqueue = self._ready.append

    # -- the clock ----------------------------------------------------------------------------

    def now_ns(self) -> int:
        return self._now

    def monotonic_s(self) -> float:
        return self._now / 1e9

    def uniform(self) -> float:
        return self._random.random()

    # -- scheduling ---------------------------------------------------------------------------

    def _push(self, due_ns: int, fn: Callable[[], None]) -> None:
        if due_ns <= self._now:
            # Due now: it was created now, so it goes after what is already ready.
            self._ready.append((None, fn, None, 0))
        else:
            self._seq += 1
            heapq.heappush(self._heap, (due_ns, self._seq, fn))

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        self._push(self._now + round(delay_s * 1e9), fn)

    def call_at(self, due_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the simulated clock reaches ``due_ns`` (feeds and replays use this
        to inject market data at its exchange time)."""
        self._push(due_ns, fn)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, tree: SupervisorSpec) -> None:
        self._install(tree, _SimCell)
        assert self._supervision is not None
        self._supervision.start()

    def stop(self) -> None:
        """Stop every actor in reverse order; then anything still queued is dead-lettered."""
        if self._supervision is not None and not self._stopped:
            self._stopped = True
            self._supervision.shutdown()
            self._retire_all("runtime stopped")

    def _supervise(self, step: Callable[[], None]) -> Callable[[], None]:
        if self._loop_depth:
            # Inside an event: running the loop from here would run other events (and maybe
            # this very handler's actor) in the middle of this one. Queue only.
            def logged() -> None:
                try:
                    step()
                except Exception:
                    log.exception("supervision step failed")

            self._push(self._now, logged)
            return lambda: None
        done: Future[None] = Future()

        def run_step() -> None:
            try:
                step()
            except Exception as exc:
                done.set_exception(exc)
                return
            done.set_result(None)

        self._push(self._now, run_step)

        def wait() -> None:
            self.run(stop=done)
            if not done.done():  # cannot happen: the step is due now
                raise RuntimeStateError("the simulation stopped before the change was made")
            done.result()

        return wait

    # -- the event loop -----------------------------------------------------------------------

    def run(
        self,
        until_ns: int | None = None,
        max_events: int | None = None,
        stop: Future[Any] | None = None,
    ) -> int:
        """Process events in ``(timestamp, sequence)`` order; return how many ran.

        Stops when nothing is left, at the first event after ``until_ns`` (the clock is then
        moved to ``until_ns``), after ``max_events``, or once ``stop`` is done.
        """
        self._loop_depth += 1
        try:
            return self._run(until_ns, max_events, stop)
        finally:
            self._loop_depth -= 1

    def _run(self, until_ns: int | None, max_events: int | None, stop: Future[Any] | None) -> int:
        ready = self._ready
        popleft = ready.popleft
        heap = self._heap
        heappop = heapq.heappop
        handle = self._handle
        running = _RUNNING
        measure = self._measure_latency
        clock = time.perf_counter_ns
        budget = -1 if max_events is None else max_events
        now = self._now
        count = 0
        while count != budget:
            if heap and heap[0][0] <= now:
                heappop(heap)[2]()
                count += 1
                if stop is not None and stop.done():
                    break
                continue
            if not ready:
                settled = self._settled
                if settled:  # the instant is quiet: what waited for that, in order, then on
                    self._settled = []
                    for fire in settled:
                        fire()
                    continue
                if heap and (until_ns is None or heap[0][0] <= until_ns):
                    now = self._now = heap[0][0]
                    continue
                break
            count += 1
            cell, message, reply, attempts = popleft()
            if cell is None:
                message()
                if stop is not None and stop.done():
                    break
                continue
            # The common case inline (a running actor, a known type, no ask, no crash);
            # everything else goes through _handle. An ask's reply (the only thing `stop`
            # waits for) is therefore only ever set on the slow paths, where `stop` is checked.
            handler = cell.fast_handlers.get(type(message)) if cell.state is running else None
            if handler is None or reply is not None:
                handle(cell, message, reply, attempts)
                if stop is not None and stop.done():
                    break
                continue
            try:
                if measure and not count & _SAMPLE_MASK:
                    started = clock()
                    handler(message)
                    cell.figures.record_latency(clock() - started)
                else:
                    handler(message)
            except Exception as exc:
                self._crashed(cell, message, reply, attempts + 1, exc)
                continue
            cell.handled += 1
            if cell.stop_requested:
                self._exit_normally(cell)
        self.events += count
        finished = count != budget and (stop is None or not stop.done())
        if until_ns is not None and finished and self._now < until_ns:
            self._now = until_ns
        return count

    def advance(self, delta_ns: int) -> int:
        """Run everything due within the next ``delta_ns`` and move the clock that far."""
        return self.run(until_ns=self._now + check_delay(delta_ns, "delta_ns"))

    def _handle(
        self, cell: _SimCell, message: Any, reply: Future[Any] | None, attempts: int
    ) -> None:
        if cell.state is not _RUNNING:
            if cell.state is CellState.RETIRED:
                self._dead_letter(cell.name, message, "actor retired", reply=reply, cell=cell)
            else:
                cell.stash.append((cell, message, reply, attempts))
            return
        handler = cell.handler(type(message))
        if handler is None:
            self._dead_letter(
                cell.name,
                message,
                f"{cell.name!r} has no handler for {type(message).__name__}",
                reply=reply,
            )
            return
        started = time.perf_counter_ns()
        try:
            if carries_correlation(type(message)):
                result = call_correlated(handler, message)
            else:
                result = handler(message)
        except Exception as exc:
            self._crashed(cell, message, reply, attempts + 1, exc)
            return
        if self._measure_latency:
            cell.figures.record_latency(time.perf_counter_ns() - started)
        cell.handled += 1
        if reply is not None:
            reply.set_result(result)
        if cell.stop_requested:
            self._exit_normally(cell)

    # -- messaging ----------------------------------------------------------------------------

    def send(self, target: str, message: Any) -> None:
        cell = self._cell_named(target)
        if cell is None:
            self._dead_letter(target, message, f"no actor named {target!r}")
            return
        self._enqueue((cell, message, None, 0))

    def _deliver(self, cell: Cell, message: Any) -> None:
        self._ready.append((cell, message, None, 0))

    def ask_future(self, target: str, message: Any) -> Future[Any]:
        """Queue the ask and run the simulation until it is answered (or nothing is left)."""
        if target == RUNTIME_NAME:
            return self._answer_runtime(message)
        reply: Future[Any] = Future()
        cell = self._cells.get(target)
        if cell is None:
            self._dead_letter(target, message, f"no actor named {target!r}", reply=reply)
            return reply
        self._ready.append((cell, message, reply, 0))
        self.run(stop=reply)
        if not reply.done():
            reply.set_exception(
                RuntimeStateError(
                    f"the simulation ran out of events before {target!r} answered "
                    f"{type(message).__name__} (is the actor down for good?)"
                )
            )
        return reply

    def _mailbox_depth(self, cell: Cell) -> int:
        assert isinstance(cell, _SimCell)
        # Counted when asked rather than kept per message: introspection is rare, sends are not.
        return sum(1 for entry in self._ready if entry[0] is cell) + len(cell.stash)

    # -- incarnations (the supervision host) --------------------------------------------------

    def start_actor(self, spec: ActorSpec) -> tuple[int, str | None]:
        cell = self._cells[spec.name]
        assert isinstance(cell, _SimCell)
        cell.state = CellState.STARTING
        try:
            actor = cell.new_incarnation()
            cell.context = _SimContext(self, cell)
            actor.on_start(cell.context)
        except Exception as exc:
            error = describe_error(exc)
            self._publish_failed(cell, "start", error)
            self._end_incarnation(cell, "crash")
            cell.state = CellState.RESTARTING
            return cell.incarnation, error
        cell.state = CellState.RUNNING
        self._publish_started(cell)
        if cell.stash:
            # What waited for this incarnation goes first, in the order it arrived.
            stash, cell.stash = cell.stash, collections.deque()
            self._ready.extendleft(reversed(stash))
        return cell.incarnation, None

    def stop_actor(self, spec: ActorSpec, reason: str) -> None:
        cell = self._cells[spec.name]
        if reason in DRAINING:
            # Drain: everything due now runs first, so what the actors stopped before this
            # one sent it on their way out (a last bar, a last report) is handled.
            self.run(until_ns=self._now)
        self._end_incarnation(cell, reason)
        cell.state = CellState.RESTARTING if reason == SIBLING else CellState.STOPPED

    def retire_actor(self, spec: ActorSpec, reason: str) -> None:
        cell = self._cells[spec.name]
        assert isinstance(cell, _SimCell)
        self._end_incarnation(cell, reason)
        cell.state = CellState.RETIRED
        self._unsubscribe_all(cell)
        stash, cell.stash = cell.stash, collections.deque()
        for _, message, reply, attempts in stash:
            self._dead_letter(
                cell.name,
                message,
                f"actor retired ({reason})",
                attempts=attempts,
                reply=reply,
                cell=cell,
            )

    def _crashed(
        self,
        cell: _SimCell,
        message: Any,
        reply: Future[Any] | None,
        attempts: int,
        exc: Exception,
    ) -> None:
        error = describe_error(exc)
        incarnation = cell.incarnation
        cell.state = CellState.RESTARTING
        self._publish_failed(cell, "message", error, message)
        if attempts >= cell.spec.poison_after:
            self._dead_letter(
                cell.name, message, "poison", error=error, attempts=attempts, reply=reply
            )
        else:
            cell.stash.appendleft((cell, message, reply, attempts))
        self._end_incarnation(cell, "crash")
        assert self._supervision is not None
        self._supervision.actor_failed(cell.name, incarnation, error)

    def _exit_normally(self, cell: _SimCell) -> None:
        incarnation = cell.incarnation
        self._end_incarnation(cell, "normal")
        cell.state = CellState.STOPPED
        assert self._supervision is not None
        self._supervision.actor_exited(cell.name, incarnation)
