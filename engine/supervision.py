"""OTP-style supervision, written once and driven by either runtime.

The runtime ("host") owns the actors' threads, mailboxes and clocks; this module owns the
decisions: what to stop, what to start, in which order, after how long, and when to give up.
All methods run in the host's supervision context (the supervision thread of the threaded
runtime, the event loop of the simulated one), one at a time.

Rules, as in Erlang/OTP:

* children start in declared order and stop in reverse;
* ``one_for_one`` restarts the failed child, ``one_for_all`` all children, ``rest_for_one``
  the failed child and the ones declared after it;
* ``permanent`` children are always restarted, ``transient`` ones only after a crash,
  ``temporary`` ones never (and their end restarts nobody);
* more than ``intensity`` restarts within ``period_s`` and the supervisor gives up: it stops its
  children and fails to its parent, which applies its own strategy; the root giving up halts
  the engine.

Children may also be added and removed while the tree runs (OTP's ``start_child`` and
``terminate_child`` + ``delete_child``): :meth:`Supervision.add_child` appends an actor as its
supervisor's last child, :meth:`Supervision.remove_child` stops it like a shutdown, retires it
and forgets it, so that its name may be used again.

Two departures, both deliberate: a failure in ``on_start`` is handled like any crash (retried
with back-off within the intensity) instead of failing the whole start, because a broker that is
briefly unreachable at 09:14 should not stop the engine; and each restart waits the child's
back-off delay (:class:`engine.backoff.Backoff`).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from engine.messages.runtime import TOPIC_SUPERVISION, SupervisorGaveUp, SupervisorStatus
from engine.spec import ActorSpec, Restart, Strategy, SupervisorSpec, unique_names

# Why an incarnation is stopped. SHUTDOWN and REMOVED drain the mailbox first (see DRAINING):
# after SIBLING and ESCALATION the queued messages wait for the next incarnation.
SHUTDOWN = "shutdown"
SIBLING = "sibling"
ESCALATION = "escalation"
REMOVED = "removed"  # the actor was taken out of the tree (remove_child); it will not return

DRAINING = frozenset({SHUTDOWN, REMOVED})
"""Stop reasons after which the actor first handles what is already queued for it."""


class SupervisorDownError(RuntimeError):
    """A child was added to a supervisor that will not run children again (the tree was shut
    down, the root gave up, or the supervisor itself was retired)."""


class Host(Protocol):
    """What a runtime provides to supervision."""

    def start_actor(self, spec: ActorSpec) -> tuple[int, str | None]:
        """Make a new incarnation and run its ``on_start``; wait for it.

        Returns the incarnation number and, if ``on_start`` raised, the error text (the
        incarnation is then already ended). Queued messages stay queued either way.
        """
        ...

    def stop_actor(self, spec: ActorSpec, reason: str) -> None:
        """End the running incarnation (``on_stop``, timers cancelled) within its shutdown
        timeout; keep its mailbox for the next incarnation. With a reason in ``DRAINING``
        (``SHUTDOWN``, ``REMOVED``), let it handle what is already queued first (within the
        same timeout)."""
        ...

    def retire_actor(self, spec: ActorSpec, reason: str) -> None:
        """The actor will not run again: dead-letter what is queued for it."""
        ...

    def monotonic_s(self) -> float: ...

    def now_ns(self) -> int: ...

    def uniform(self) -> float:
        """A draw in [0, 1) for back-off jitter (seeded in simulation)."""
        ...

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the supervision context after ``delay_s`` seconds."""
        ...

    def publish(self, topic: str, message: Any) -> None: ...

    def root_gave_up(self, reason: str) -> None:
        """The whole tree is stopped: halt the engine."""
        ...


class _Child:
    """A supervisor's view of one child: an actor or a nested supervisor."""

    __slots__ = (
        "actor",
        "consecutive_failures",
        "incarnation",
        "index",
        "node",
        "retired",
        "running",
        "spec",
        "started_at",
    )

    def __init__(self, index: int, spec: ActorSpec | SupervisorSpec) -> None:
        self.index = index
        self.spec = spec
        self.actor: ActorSpec | None = spec if isinstance(spec, ActorSpec) else None
        self.node: _Node | None = None
        self.running = False
        self.retired = False
        self.incarnation = 0
        self.started_at = 0.0
        self.consecutive_failures = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def restart(self) -> Restart:
        return self.spec.restart


class _Node:
    """A supervisor: its spec, its children and its recent restarts."""

    def __init__(self, spec: SupervisorSpec, parent: _Node | None, as_child: _Child | None):
        self.spec = spec
        self.parent = parent
        self.as_child = as_child
        self.children: list[_Child] = []
        self.restarts: collections.deque[float] = collections.deque()
        self.gave_up = False
        # Children added (add_child) while a restart of earlier siblings was pending under
        # one_for_all / rest_for_one: they start after that restart, as the last children.
        self.deferred: list[_Child] = []
        # Bumped whenever the node is stopped or restarted as a whole, so restarts that were
        # scheduled before are recognised as stale and dropped.
        self.generation = 0


class Supervision:
    """The supervision tree of one runtime."""

    def __init__(self, root: SupervisorSpec, host: Host) -> None:
        unique_names(root)
        self._host = host
        self.root = self._build(root, None, None)
        self._actors: dict[str, tuple[_Node, _Child]] = {}
        # Every supervisor by name, depth first (fixed: only actors are added or removed).
        self._nodes: dict[str, _Node] = {root.name: self.root}
        self._index(self.root)
        self._started = False
        self._shut_down = False

    def _build(self, spec: SupervisorSpec, parent: _Node | None, as_child: _Child | None) -> _Node:
        node = _Node(spec, parent, as_child)
        for i, child_spec in enumerate(spec.children):
            child = _Child(i, child_spec)
            if isinstance(child_spec, SupervisorSpec):
                child.node = self._build(child_spec, node, child)
            node.children.append(child)
        return node

    def _index(self, node: _Node) -> None:
        for child in node.children:
            if child.node is not None:
                self._nodes[child.name] = child.node
                self._index(child.node)
            else:
                self._actors[child.name] = (node, child)

    # -- entry points (called by the host, in the supervision context) -----------------------

    def start(self) -> None:
        """Start the whole tree in declared order."""
        self._started = True
        self._start_node(self.root)

    def shutdown(self) -> None:
        """Stop the whole tree in reverse order, each actor after draining its mailbox;
        nothing is restarted afterwards."""
        self._shut_down = True
        self._stop_node(self.root, SHUTDOWN)

    def check_add(self, supervisor: str, spec: ActorSpec) -> None:
        """Raise unless :meth:`add_child` would accept ``spec`` under ``supervisor`` now:
        ``KeyError`` for an unknown supervisor, ``ValueError`` for a name already in the tree,
        :class:`SupervisorDownError` when the supervisor will not run children again."""
        self._node_for_add(supervisor, spec)

    def add_child(self, supervisor: str, spec: ActorSpec) -> None:
        """Append the actor ``spec`` as the last child of ``supervisor`` and start it.

        From then on it is a child like the others: its crashes count towards the
        supervisor's intensity; ``one_for_all`` restarts it with its siblings;
        ``rest_for_one`` treats it as declared last. A failing ``on_start`` is handled like
        any failed start (back-off restart, by the supervisor's strategy).

        It starts now if its supervisor runs. It starts later, with its supervisor, if the
        supervisor is itself down waiting for its parent to restart it; and after the pending
        restart, as the last child, if earlier siblings are down waiting for a
        ``one_for_all`` or ``rest_for_one`` restart.
        """
        node = self._node_for_add(supervisor, spec)
        child = _Child(len(node.children), spec)
        node.children.append(child)
        self._actors[spec.name] = (node, child)
        if not self._node_up(node):
            return  # it starts with its supervisor
        if node.spec.strategy is not Strategy.ONE_FOR_ONE and any(
            not c.running and not c.retired for c in node.children[:-1]
        ):
            node.deferred.append(child)
            return
        self._start_plan(node, [child], node.generation)

    def remove_child(self, name: str) -> None:
        """Take the actor ``name`` out of the tree: stop it like a shutdown (drain, then
        ``on_stop``), retire it (what is still queued is dead-lettered) and forget it. Its
        end restarts nobody and counts towards no intensity; its name may be added again.
        ``KeyError`` if there is no such actor."""
        node, child = self._actor_child(name)
        if child.running:
            self._stop_child(child, REMOVED)
        child.running = False
        child.retired = True
        assert child.actor is not None
        # Even if already retired (it ended, or the engine halted): retiring is idempotent,
        # and the host then drops what is left of it.
        self._host.retire_actor(child.actor, REMOVED)
        node.children.remove(child)
        for i, sibling in enumerate(node.children):
            sibling.index = i
        if child in node.deferred:
            node.deferred.remove(child)
        del self._actors[name]

    def check_remove(self, name: str) -> None:
        """Raise ``KeyError`` unless ``name`` is an actor of the tree."""
        self._actor_child(name)

    def supervisor_names(self) -> list[str]:
        """Every supervisor's name, depth first in declared order."""
        return list(self._nodes)

    def actor_failed(self, name: str, incarnation: int, error: str) -> None:
        """Incarnation ``incarnation`` of actor ``name`` crashed (its incarnation has ended)."""
        found = self._live_child(name, incarnation)
        if found is not None:
            self._child_failed(*found, error)

    def actor_exited(self, name: str, incarnation: int) -> None:
        """The actor asked to stop (``ctx.stop()``); its incarnation has ended."""
        found = self._live_child(name, incarnation)
        if found is None:
            return
        node, child = found
        child.running = False
        if child.restart is Restart.PERMANENT:
            self._child_failed(node, child, "exited normally, and permanent actors restart")
        else:
            self._retire(child, "normal")

    def supervisor_of(self, name: str) -> str | None:
        found = self._actors.get(name)
        return found[0].spec.name if found else None

    def actor_specs(self) -> list[ActorSpec]:
        return [child.actor for _, child in self._actors.values() if child.actor is not None]

    def statuses(self) -> list[SupervisorStatus]:
        """Each supervisor with its children, depth first."""
        out: list[SupervisorStatus] = []
        now = self._host.monotonic_s()

        def visit(node: _Node) -> None:
            period = node.spec.period_s
            out.append(
                SupervisorStatus(
                    name=node.spec.name,
                    parent=node.parent.spec.name if node.parent else None,
                    strategy=node.spec.strategy.value,
                    intensity=node.spec.intensity,
                    period_s=period,
                    children=[c.name for c in node.children],
                    restarts_in_period=sum(1 for t in node.restarts if now - t <= period),
                    gave_up=node.gave_up,
                )
            )
            for child in node.children:
                if child.node is not None:
                    visit(child.node)

        visit(self.root)
        return out

    # -- the decisions ----------------------------------------------------------------------

    def _node_for_add(self, supervisor: str, spec: ActorSpec) -> _Node:
        if not isinstance(spec, ActorSpec):
            raise TypeError(f"add_child takes an ActorSpec, got {type(spec).__name__}")
        node = self._nodes.get(supervisor)
        if node is None:
            raise KeyError(
                f"no supervisor named {supervisor!r}; the supervisors are {list(self._nodes)}"
            )
        if spec.name in self._nodes:
            raise ValueError(f"the name {spec.name!r} is already used by a supervisor")
        found = self._actors.get(spec.name)
        if found is not None:
            raise ValueError(
                f"the name {spec.name!r} is already used by an actor "
                f"(under supervisor {found[0].spec.name!r})"
            )
        why = self._down_for_good(node)
        if why is not None:
            raise SupervisorDownError(
                f"cannot add {spec.name!r} to supervisor {supervisor!r}: {why}"
            )
        return node

    def _actor_child(self, name: str) -> tuple[_Node, _Child]:
        found = self._actors.get(name)
        if found is None:
            if name in self._nodes:
                raise KeyError(f"{name!r} is a supervisor; only actors can be removed")
            raise KeyError(f"no actor named {name!r}")
        return found

    def _down_for_good(self, node: _Node) -> str | None:
        """Why ``node`` will never run children again, or None."""
        if self._shut_down:
            return "the supervision tree was shut down"
        while node.parent is not None:
            assert node.as_child is not None
            if node.as_child.retired:
                return f"supervisor {node.spec.name!r} is retired"
            node = node.parent
        if node.gave_up:
            return f"the root supervisor {node.spec.name!r} gave up (the engine is halted)"
        return None

    def _node_up(self, node: _Node) -> bool:
        """Whether ``node`` runs its children now (rather than waiting to be started)."""
        if node.gave_up:
            return False
        if node.as_child is None:
            return self._started and not self._shut_down
        return node.as_child.running

    def _live_child(self, name: str, incarnation: int) -> tuple[_Node, _Child] | None:
        found = self._actors.get(name)
        if found is None:
            return None
        _, child = found
        # A report about an incarnation that was already replaced (or stopped by a sibling's
        # restart) must not restart the new one.
        if not child.running or child.incarnation != incarnation:
            return None
        return found

    def _start_node(self, node: _Node) -> None:
        node.gave_up = False
        node.restarts.clear()
        node.generation += 1
        node.deferred.clear()  # every child is in the plan
        self._start_plan(node, list(node.children), node.generation)

    def _start_plan(self, node: _Node, plan: Sequence[_Child], generation: int) -> None:
        """Start the children of ``plan`` in order, stopping at the first that fails."""
        for i, child in enumerate(plan):
            if node.generation != generation or node.gave_up:
                return  # a failure below restarted or stopped this node meanwhile
            if child.retired or child.running:
                continue
            child.started_at = self._host.monotonic_s()
            if child.actor is not None:
                incarnation, error = self._host.start_actor(child.actor)
                child.incarnation = incarnation
                if error is not None:
                    self._child_failed(node, child, error, carry=plan[i + 1 :])
                    return
                child.running = True
            else:
                assert child.node is not None
                child.running = True
                self._start_node(child.node)
        if node.deferred and node.generation == generation and not node.gave_up:
            # Children added while this restart was pending start after it, as the last.
            deferred, node.deferred = node.deferred, []
            self._start_plan(node, deferred, generation)

    def _child_failed(
        self, node: _Node, child: _Child, error: str, carry: Sequence[_Child] = ()
    ) -> None:
        """Apply ``node``'s strategy to the failure of ``child``.

        ``carry`` holds children of an interrupted start sequence; they start with the restart.
        """
        child.running = False
        if node.gave_up:
            return
        if child.restart is Restart.TEMPORARY:
            self._retire(child, "crash")
            if carry:
                self._start_plan(node, carry, node.generation)
            return
        now = self._host.monotonic_s()
        node.restarts.append(now)
        while node.restarts and now - node.restarts[0] > node.spec.period_s:
            node.restarts.popleft()
        if len(node.restarts) > node.spec.intensity:
            self._give_up(node, child, error)
            return
        if now - child.started_at >= child.spec.backoff.reset_after_s:
            child.consecutive_failures = 0
        child.consecutive_failures += 1

        victims = self._victims(node, child)
        for sibling in reversed(victims):
            if sibling is not child and sibling.running:
                self._stop_child(sibling, SIBLING)
        chosen = {id(c) for c in victims} | {id(c) for c in carry}
        plan = [c for c in node.children if id(c) in chosen]
        delay = child.spec.backoff.delay_s(child.consecutive_failures, self._host.uniform())
        generation = node.generation
        self._host.call_later(delay, lambda: self._start_plan(node, plan, generation))

    @staticmethod
    def _victims(node: _Node, child: _Child) -> list[_Child]:
        strategy = node.spec.strategy
        if strategy is Strategy.ONE_FOR_ONE:
            return [child]
        if strategy is Strategy.ONE_FOR_ALL:
            candidates = node.children
        else:  # REST_FOR_ONE
            candidates = node.children[child.index :]
        # Temporary siblings are not restarted by somebody else's failure (OTP).
        return [
            c
            for c in candidates
            if not c.retired and (c is child or c.restart is not Restart.TEMPORARY)
        ]

    def _give_up(self, node: _Node, child: _Child, error: str) -> None:
        node.gave_up = True
        node.generation += 1
        restarts = len(node.restarts)
        for sibling in reversed(node.children):
            if sibling.running:
                self._stop_child(sibling, ESCALATION)
        reason = (
            f"supervisor {node.spec.name!r} gave up: more than {node.spec.intensity} restarts "
            f"in {node.spec.period_s:g}s; last failure in {child.name!r}: {error}"
        )
        now_ns = self._host.now_ns()
        self._host.publish(
            TOPIC_SUPERVISION,
            SupervisorGaveUp(
                ts_event=now_ns,
                ts_init=now_ns,
                supervisor=node.spec.name,
                restarts=restarts,
                period_s=node.spec.period_s,
                last_error=error,
            ),
        )
        if node.parent is None or node.as_child is None:
            self._host.root_gave_up(reason)
        else:
            self._child_failed(node.parent, node.as_child, reason)

    def _stop_child(self, child: _Child, reason: str) -> None:
        child.running = False
        if child.actor is not None:
            self._host.stop_actor(child.actor, reason)
        elif child.node is not None:
            self._stop_node(child.node, reason)

    def _stop_node(self, node: _Node, reason: str) -> None:
        node.generation += 1
        for child in reversed(node.children):
            if child.running:
                self._stop_child(child, reason)

    def _retire(self, child: _Child, reason: str) -> None:
        child.retired = True
        child.running = False
        if child.actor is not None:
            self._host.retire_actor(child.actor, reason)
        elif child.node is not None:
            self._stop_node(child.node, reason)
            for grandchild in child.node.children:
                self._retire(grandchild, reason)
