"""The running strategies of a service, and their reload without a restart.

A reload takes a new ``[[strategies]]`` list (given, or read again from the configuration
files) and makes the running set match it:

* every entry is checked first, all of them, exactly as at start (and each new or changed
  plan must also build its runner: indicator parameters); one problem and the reload is
  refused with every reason, and nothing changes;
* a host whose plan only changed parameters gets :class:`ReloadStrategy`: it applies them
  before its next bar, its indicators warmed from the bars it keeps and its state carried;
* a host whose strategy or interval changed is replaced: removed, then added afresh;
* a host no longer planned is removed (its saved state forgotten), a new one added to the
  ``strategies`` supervisor, where it warms up like any host.

Reloads are serialised. The desk runs on the caller's thread (the web handler sends it off
the event loop): adding and removing actors waits for the runtime's supervision.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from actors.strategy_host import ReloadAnswer, StrategyPlan, check_plan
from engine.config.load import ConfigError
from engine.config.schema import StrategyConfig
from engine.messages.strategy import ReloadStrategy
from engine.runtime import Runtime
from troupe.strategies import SUPERVISOR, HostServices, describe_plan, plan_strategies

RELOAD_TIMEOUT_S = 10.0


class StrategyDesk:
    """The strategies a service runs. ``read_entries`` reads the configured list again (for a
    reload without a body)."""

    def __init__(
        self,
        runtime: Runtime,
        services: HostServices,
        plans: Sequence[StrategyPlan],
        *,
        instruments: Sequence[str],
        intervals: Sequence[str],
        read_entries: Callable[[], Sequence[StrategyConfig]],
    ) -> None:
        self.runtime = runtime
        self.services = services
        self._plans = {plan.name: plan for plan in plans}
        self.instruments = list(instruments)
        self.intervals = list(intervals)
        self.read_entries = read_entries
        self._lock = threading.Lock()

    def plans(self) -> list[dict[str, Any]]:
        """The running plans, by actor name."""
        with self._lock:
            return [describe_plan(plan) for _, plan in sorted(self._plans.items())]

    def reload(self, entries: Sequence[Any] | None = None) -> dict[str, list[str]]:
        """Make the running set match ``entries`` (``[[strategies]]`` tables as dicts or
        :class:`StrategyConfig`; ``None``: the configuration files again). Returns the host
        names ``reloaded``, ``replaced``, ``added``, ``removed`` and ``unchanged``. Raises
        :class:`ConfigError` with every problem, having changed nothing."""
        with self._lock:
            wanted = self._plan(entries)
            old = self._plans
            reloaded, replaced, added, removed, unchanged = [], [], [], [], []
            for name, plan in wanted.items():
                current = old.get(name)
                if current is None:
                    added.append(name)
                elif (current.strategy, current.interval) != (plan.strategy, plan.interval):
                    replaced.append(name)
                elif current.params != plan.params:
                    reloaded.append(name)
                else:
                    unchanged.append(name)
            removed = [name for name in old if name not in wanted]
            for name in reloaded:
                plan = wanted[name]
                now = self.runtime.now_ns()
                params: dict[str, Any] = msgspec.to_builtins(plan.params)
                command = ReloadStrategy(
                    ts_event=now,
                    ts_init=now,
                    strategy_id=plan.strategy_id,
                    instrument=plan.instrument,
                    params=params,
                )
                answer = self.runtime.ask(name, command, timeout_s=RELOAD_TIMEOUT_S)
                if isinstance(answer, ReloadAnswer) and answer.refused is not None:
                    # Checked above with the same rules: only a host that changed its mind.
                    raise ConfigError([f"{name}: {answer.refused}"])
            for name in [*removed, *replaced]:
                self.runtime.remove_actor(name)
                self.services.vault.forget(name)
            for name in [*replaced, *added]:
                self.runtime.add_actor(SUPERVISOR, self.services.host_spec(wanted[name]))
            self._plans = wanted
            return {
                "reloaded": sorted(reloaded),
                "replaced": sorted(replaced),
                "added": sorted(added),
                "removed": sorted(removed),
                "unchanged": sorted(unchanged),
            }

    def _plan(self, entries: Sequence[Any] | None) -> dict[str, StrategyPlan]:
        if entries is None:
            configs = list(self.read_entries())
        else:
            configs = []
            problems = []
            for index, entry in enumerate(entries):
                try:
                    configs.append(msgspec.convert(entry, StrategyConfig))
                except msgspec.ValidationError as exc:
                    problems.append(f"strategies[{index}]: {exc}")
            if problems:
                raise ConfigError(problems)
        plans = plan_strategies(configs, self.instruments, self.intervals)
        problems = []
        for plan in plans:
            try:
                check_plan(plan)
            except ValueError as exc:
                problems.append(f"{plan.name}: {exc}")
        if problems:
            raise ConfigError(problems)
        return {plan.name: plan for plan in plans}
