"""How the supervision tree is declared: actors, supervisors, restart rules, placement."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from engine.actor import Actor
from engine.backoff import Backoff


class Restart(enum.Enum):
    """When a child is restarted (OTP restart types)."""

    PERMANENT = "permanent"
    """Always: after a crash and after a normal exit."""
    TRANSIENT = "transient"
    """Only after a crash; a normal exit (``ctx.stop()``) retires it."""
    TEMPORARY = "temporary"
    """Never; its end does not count towards intensity nor restart siblings."""


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one fails (OTP strategies)."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


DEDICATED = "dedicated"


@dataclass(frozen=True)
class ActorSpec:
    """One actor of the tree.

    ``name`` is its address: messages are sent to names, so a restarted actor keeps it.
    ``factory`` makes a fresh actor object for each incarnation.
    ``placement`` is ``"dedicated"`` (a thread of its own) or the name of a shared executor
    pool; it changes nothing in the actor's code and is ignored by the simulated runtime.
    ``mailbox_capacity`` bounds the mailbox (see :class:`engine.messages.Overflow`).
    ``poison_after`` is how many times one message may crash the actor before it is
    dead-lettered instead of delivered again.
    """

    name: str
    factory: Callable[[], Actor]
    restart: Restart = Restart.PERMANENT
    backoff: Backoff = field(default_factory=Backoff)
    placement: str = DEDICATED
    mailbox_capacity: int = 1024
    poison_after: int = 3
    shutdown_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.mailbox_capacity < 1:
            raise ValueError(
                f"actor {self.name!r}: mailbox_capacity must be >= 1, got {self.mailbox_capacity}"
            )
        if self.poison_after < 1:
            raise ValueError(
                f"actor {self.name!r}: poison_after must be >= 1, got {self.poison_after}"
            )
        if self.shutdown_timeout_s <= 0:
            raise ValueError(
                f"actor {self.name!r}: shutdown_timeout_s must be > 0, "
                f"got {self.shutdown_timeout_s}"
            )


@dataclass(frozen=True)
class SupervisorSpec:
    """A supervisor and its children, started in the order given and stopped in reverse.

    More than ``intensity`` restarts within ``period_s`` seconds and the supervisor gives up:
    it stops its children and fails to its own parent; the root's giving up halts the engine.
    """

    name: str
    children: Sequence[ActorSpec | SupervisorSpec]
    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = 5
    period_s: float = 30.0
    restart: Restart = Restart.PERMANENT
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.intensity < 0:
            raise ValueError(
                f"supervisor {self.name!r}: intensity must be >= 0, got {self.intensity}"
            )
        if self.period_s <= 0:
            raise ValueError(f"supervisor {self.name!r}: period_s must be > 0, got {self.period_s}")
        seen: set[str] = set()
        for child in self.children:
            if child.name in seen:
                raise ValueError(f"supervisor {self.name!r}: two children named {child.name!r}")
            seen.add(child.name)

    def walk(self) -> list[ActorSpec | SupervisorSpec]:
        """This supervisor and everything below it, depth first, in declared order."""
        out: list[ActorSpec | SupervisorSpec] = [self]
        for child in self.children:
            out.extend(child.walk() if isinstance(child, SupervisorSpec) else [child])
        return out


RESERVED_NAMES = frozenset({"runtime"})


def check_name(name: str) -> None:
    """Names are addresses: non-empty, printable, no whitespace, not reserved."""
    if (
        not isinstance(name, str)
        or not name
        or not name.isprintable()
        or any(ch.isspace() for ch in name)
    ):
        raise ValueError(f"an actor or supervisor name must be a non-empty word, got {name!r}")
    if name in RESERVED_NAMES:
        raise ValueError(f"the name {name!r} is reserved by the runtime")


def unique_names(root: SupervisorSpec) -> None:
    """Raise ``ValueError`` if two nodes of the tree share a name."""
    seen: set[str] = set()
    for node in root.walk():
        if node.name in seen:
            raise ValueError(f"the supervision tree has two nodes named {node.name!r}")
        seen.add(node.name)
