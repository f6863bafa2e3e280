"""The ``[runtime]`` section of the configuration: which runtime, which executor pools, and
which actor runs where. Placement lives here, not in actor code.

Example (``config/runtime.toml``)::

    [runtime]
    kind = "threaded"

    [runtime.pools]
    strategies = 1            # one thread hosting every strategy's separate mailbox

    [runtime.placement]
    "strategy.*" = "strategies"   # glob over actor names -> "dedicated" or a pool name

Patterns are tried in the order written; the first that matches wins; an actor that matches
none keeps the placement its spec declares (``"dedicated"`` by default). A runtime made by
:meth:`RuntimeConfig.make_runtime` places the actors added at run time
(``Runtime.add_actor``) by the same rules.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from engine.runtime import Runtime
from engine.simulated import SimulatedRuntime
from engine.spec import DEDICATED, ActorSpec, SupervisorSpec
from engine.threaded import ThreadedRuntime


class RuntimeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the engine runs its actors."""

    kind: Annotated[
        Literal["threaded", "simulated"],
        Meta(description="threaded for paper and live trading, simulated for backtests."),
    ] = "threaded"
    pools: Annotated[
        dict[str, Annotated[int, Meta(ge=1)]],
        Meta(description="Shared executor pools: name = number of threads."),
    ] = msgspec.field(default_factory=dict)
    placement: Annotated[
        dict[str, str],
        Meta(description='Actor-name glob = "dedicated" or a pool name; the first match wins.'),
    ] = msgspec.field(default_factory=dict)
    seed: Annotated[int, Meta(description="Seed of the simulated runtime's back-off jitter.")] = 0
    start_ns: Annotated[
        int, Meta(ge=0, description="The simulated clock's start, ns since the epoch, UTC.")
    ] = 0

    def __post_init__(self) -> None:
        # Pool sizes are checked by their type (>= 1); these rules span keys.
        if DEDICATED in self.pools:
            raise ValueError(f"pools: {DEDICATED!r} means one thread per actor; name it otherwise")
        allowed = [DEDICATED, *self.pools]
        for pattern, target in self.placement.items():
            if target not in allowed:
                raise ValueError(
                    f"placement {pattern!r}: expected one of {allowed}, got {target!r}"
                )

    def placement_for(self, actor: str) -> str | None:
        """The configured placement of ``actor``, or ``None`` when no pattern matches."""
        for pattern, target in self.placement.items():
            if fnmatch.fnmatchcase(actor, pattern):
                return target
        return None

    def place(self, spec: ActorSpec) -> ActorSpec:
        """``spec`` with its placement set from the configuration (unchanged if no pattern
        matches its name)."""
        target = self.placement_for(spec.name)
        if target is None or target == spec.placement:
            return spec
        return dataclasses.replace(spec, placement=target)

    def apply(self, tree: SupervisorSpec) -> SupervisorSpec:
        """``tree`` with every actor's placement set from the configuration."""
        children: list[ActorSpec | SupervisorSpec] = [
            self.apply(child) if isinstance(child, SupervisorSpec) else self.place(child)
            for child in tree.children
        ]
        return dataclasses.replace(tree, children=children)

    def make_runtime(self) -> Runtime:
        """The configured runtime; it places actors added at run time by these rules."""
        if self.kind == "simulated":
            return SimulatedRuntime(start_ns=self.start_ns, seed=self.seed, placement=self.place)
        return ThreadedRuntime(pools=self.pools, placement=self.place)
