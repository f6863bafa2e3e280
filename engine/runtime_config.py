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
none keeps the placement its spec declares (``"dedicated"`` by default).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from engine.runtime import Runtime
from engine.simulated import SimulatedRuntime
from engine.spec import DEDICATED, ActorSpec, SupervisorSpec
from engine.threaded import ThreadedRuntime


class RuntimeConfigError(ValueError):
    """A bad ``[runtime]`` section; the message names the key, the value and what is allowed."""


class RuntimeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the engine runs its actors."""

    kind: Literal["threaded", "simulated"] = "threaded"
    """``threaded`` for paper and live trading, ``simulated`` for backtests."""

    pools: dict[str, int] = msgspec.field(default_factory=dict)
    """Shared executor pools: name -> number of threads (>= 1)."""

    placement: dict[str, str] = msgspec.field(default_factory=dict)
    """Actor-name glob -> ``"dedicated"`` or the name of a pool in ``pools``."""

    seed: int = 0
    """Seed of the simulated runtime's back-off jitter (ignored by ``threaded``)."""

    start_ns: int = 0
    """The simulated clock's start, ns since the epoch, UTC (ignored by ``threaded``)."""

    def __post_init__(self) -> None:
        for pool, size in self.pools.items():
            if pool == DEDICATED:
                raise RuntimeConfigError(
                    f"runtime.pools: {DEDICATED!r} is reserved for one thread per actor"
                )
            if size < 1:
                raise RuntimeConfigError(
                    f"runtime.pools.{pool}: expected an integer >= 1, got {size}"
                )
        allowed = [DEDICATED, *self.pools]
        for pattern, target in self.placement.items():
            if target not in allowed:
                raise RuntimeConfigError(
                    f"runtime.placement.{pattern!r}: expected one of {allowed}, got {target!r}"
                )

    def placement_for(self, actor: str) -> str | None:
        """The configured placement of ``actor``, or ``None`` when no pattern matches."""
        for pattern, target in self.placement.items():
            if fnmatch.fnmatchcase(actor, pattern):
                return target
        return None

    def apply(self, tree: SupervisorSpec) -> SupervisorSpec:
        """``tree`` with every actor's placement set from the configuration."""
        children: list[ActorSpec | SupervisorSpec] = []
        for child in tree.children:
            if isinstance(child, SupervisorSpec):
                children.append(self.apply(child))
                continue
            target = self.placement_for(child.name)
            children.append(
                child if target is None else dataclasses.replace(child, placement=target)
            )
        return dataclasses.replace(tree, children=children)

    def make_runtime(self) -> Runtime:
        if self.kind == "simulated":
            return SimulatedRuntime(start_ns=self.start_ns, seed=self.seed)
        return ThreadedRuntime(pools=self.pools)


def runtime_config_from(data: dict[str, Any], source: str) -> RuntimeConfig:
    """Decode a ``[runtime]`` table; errors name ``source``, the key and the bad value."""
    try:
        return msgspec.convert(data, RuntimeConfig)
    except msgspec.ValidationError as exc:
        # msgspec says "Expected `int`, got `str` - at `$.pools.strategies`"; our own checks
        # (raised in __post_init__, wrapped by msgspec) already name their key.
        text = str(exc).replace("`$.", "`runtime.").replace("`$`", "`runtime`")
        if not text.startswith("runtime"):
            text = f"runtime: {text}"
        raise RuntimeConfigError(f"{source}: {text}") from None


def load_runtime_config(path: str | Path) -> RuntimeConfig:
    """Read the ``[runtime]`` table of a TOML file (defaults when it has none)."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RuntimeConfigError(f"{path}: not valid TOML: {exc}") from None
    return runtime_config_from(document.get("runtime", {}), str(path))
