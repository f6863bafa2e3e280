"""Test your own actors: a simulated runtime, a manual clock, captured messages.

The usual shape::

    from engine.testing import ActorHarness

    def test_my_strategy_signals_on_cross() -> None:
        h = ActorHarness(MyStrategy, peers=["ranker"])
        h.send(bar_1)
        h.send(bar_2)
        h.advance(60 * SECOND)
        assert [type(m) for m in h.received("ranker")] == [Signal]

:class:`Driver` runs the same test body on either runtime (the way pykka's own suite runs
each test on each of its runtimes): ``wait_for`` runs the simulated clock forward event by
event, or polls the threaded runtime with a deadline. No test needs a ``sleep``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from engine.actor import Actor
from engine.context import Context
from engine.runtime import ALL_TOPICS, Runtime
from engine.simulated import SimulatedRuntime
from engine.spec import ActorSpec, SupervisorSpec
from engine.threaded import ThreadedRuntime

SECOND = 1_000_000_000
MILLISECOND = 1_000_000

RUNTIME_KINDS = ("simulated", "threaded")


class Recorder(Actor):
    """An actor that keeps every message it receives, in order, across restarts."""

    def __init__(self, sink: list[Any]) -> None:
        self.sink = sink

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)

    def handler_for(self, message_type: type) -> Callable[[Any], Any] | None:
        return self.sink.append


def recorder(name: str, sink: list[Any] | None = None) -> tuple[ActorSpec, list[Any]]:
    """A :class:`Recorder` spec named ``name`` and the list it records into."""
    records: list[Any] = [] if sink is None else sink
    return ActorSpec(name, lambda: Recorder(records)), records


class Capture:
    """Everything published on some topics (or all), with the runtime clock at publication."""

    def __init__(self, runtime: Runtime, topics: Sequence[str] = (ALL_TOPICS,)) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self.items: list[tuple[int, str, Any]] = []
        self._removers = [runtime.add_listener(topic, self._record) for topic in topics]

    def _record(self, topic: str, message: Any) -> None:
        with self._lock:
            self.items.append((self._runtime.now_ns(), topic, message))

    def messages(self, topic: str | None = None, kind: type | None = None) -> list[Any]:
        """Captured messages, optionally of one topic and one type, in publication order."""
        with self._lock:
            return [
                m
                for _, t, m in self.items
                if (topic is None or t == topic) and (kind is None or isinstance(m, kind))
            ]

    def close(self) -> None:
        for remove in self._removers:
            remove()


def make_runtime(kind: str, **options: Any) -> Runtime:
    """A fresh runtime of ``kind`` (``"simulated"`` or ``"threaded"``)."""
    if kind == "simulated":
        return SimulatedRuntime(**options)
    if kind == "threaded":
        return ThreadedRuntime(**options)
    raise ValueError(f"runtime kind must be one of {RUNTIME_KINDS}, got {kind!r}")


class Driver:
    """Drives either runtime from a test: start a tree, send, wait for a condition."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def simulated(self) -> bool:
        return isinstance(self.runtime, SimulatedRuntime)

    def start(self, tree: SupervisorSpec) -> None:
        self.runtime.start(tree)

    def send(self, target: str, message: Any) -> None:
        self.runtime.send(target, message)

    def add_actor(self, supervisor: str, spec: ActorSpec) -> None:
        """Add ``spec`` under ``supervisor`` while the tree runs, then let what that set off
        settle (see :meth:`Runtime.add_actor`)."""
        self.runtime.add_actor(supervisor, spec)
        self.settle()

    def remove_actor(self, name: str) -> None:
        """Remove the actor ``name`` while the tree runs, then settle
        (see :meth:`Runtime.remove_actor`)."""
        self.runtime.remove_actor(name)
        self.settle()

    def wait_for(
        self,
        condition: Callable[[], bool],
        timeout_s: float = 10.0,
        what: str = "condition",
    ) -> None:
        """Return once ``condition()`` holds; raise ``AssertionError`` after ``timeout_s``
        (of simulated time in the simulated runtime, of wall time in the threaded one)."""
        if isinstance(self.runtime, SimulatedRuntime):
            runtime = self.runtime
            horizon = runtime.now_ns() + int(timeout_s * SECOND)
            while not condition():
                if runtime.run(until_ns=horizon, max_events=1) == 0:
                    if condition():
                        return
                    raise AssertionError(f"{what} did not hold within {timeout_s}s (simulated)")
            return
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not hold within {timeout_s}s")
            time.sleep(0.001)

    def settle(self, timeout_s: float = 10.0) -> None:
        """Let everything that is due now run (simulated) or until mailboxes are empty and no
        restart is pending (threaded)."""
        if isinstance(self.runtime, SimulatedRuntime):
            self.runtime.run(until_ns=self.runtime.now_ns())
        elif isinstance(self.runtime, ThreadedRuntime) and not self.runtime.wait_idle(timeout_s):
            raise AssertionError(f"the runtime did not settle within {timeout_s}s")

    def stop(self) -> None:
        self.runtime.stop()


class ActorHarness:
    """One actor under test on a simulated runtime, with recording peers.

    ``peers`` are names the actor sends to; each is a :class:`Recorder`. ``topics`` are
    captured as published. The clock starts at ``start_ns`` and moves only when told.
    """

    def __init__(
        self,
        factory: Callable[[], Actor],
        *,
        name: str = "subject",
        peers: Sequence[str] = (),
        topics: Sequence[str] = (ALL_TOPICS,),
        start_ns: int = 0,
        seed: int = 0,
        spec_options: dict[str, Any] | None = None,
    ) -> None:
        self.runtime = SimulatedRuntime(start_ns=start_ns, seed=seed)
        self.name = name
        self._received: dict[str, list[Any]] = {}
        children: list[ActorSpec | SupervisorSpec] = [
            ActorSpec(name, factory, **(spec_options or {}))
        ]
        for peer in peers:
            spec, sink = recorder(peer)
            self._received[peer] = sink
            children.append(spec)
        self.capture = Capture(self.runtime, topics)
        self.runtime.start(SupervisorSpec("harness", children))

    def now_ns(self) -> int:
        return self.runtime.now_ns()

    def send(self, message: Any) -> None:
        """Queue ``message`` for the actor and run everything due now."""
        self.runtime.send(self.name, message)
        self.runtime.run(until_ns=self.runtime.now_ns())

    def ask(self, message: Any) -> Any:
        return self.runtime.ask(self.name, message)

    def advance(self, delta_ns: int) -> None:
        """Move the clock ``delta_ns`` forward, firing timers on the way."""
        self.runtime.advance(delta_ns)

    def received(self, peer: str) -> list[Any]:
        """What the peer ``peer`` received, in order."""
        return self._received[peer]

    def published(self, topic: str | None = None, kind: type | None = None) -> list[Any]:
        return self.capture.messages(topic, kind)
