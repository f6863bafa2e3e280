"""The strategies of a configuration: checked into plans, then built into supervised hosts.

``[[strategies]]`` entries name a strategy (built-in or ``package.module:Class``), its
instruments (empty: every market instrument), its bar interval and its parameters. Every
problem of every entry is reported at once, each naming the entry and the value, and nothing
starts until there are none (:func:`plan_strategies`). The hosts run under their own
``strategies`` supervisor, one for one, whose restart intensity grows with the number of hosts:
one strategy crashing (each restart after a longer back-off, a bar that keeps failing dropped
after ``poison_after`` tries) must not use up a budget the other hundreds share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from actors.strategies import strategy_class
from actors.strategy_host import SessionBounds, StrategyHost, StrategyPlan, decode_params
from engine.bar_history import BarHistory
from engine.bars import parse_bar_spec
from engine.calendars import CalendarRangeError, MarketCalendar
from engine.config.load import ConfigError
from engine.config.schema import StrategyConfig
from engine.spec import ActorSpec, SupervisorSpec
from engine.strategy_vault import StrategyVault

SUPERVISOR = "strategies"


def plan_strategies(
    entries: Sequence[StrategyConfig], instruments: Sequence[str], intervals: Sequence[str]
) -> list[StrategyPlan]:
    """One plan per (entry, instrument). ``instruments``: the market's; ``intervals``: the bar
    specs the aggregator builds. Raises :class:`ConfigError` listing every problem."""
    problems: list[str] = []
    plans: list[StrategyPlan] = []
    built = _labels(intervals)
    first_of: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f"strategies[{index}]"
        try:
            strategy = strategy_class(entry.use)
        except (ValueError, ImportError, AttributeError, TypeError) as exc:
            problems.append(f"{where}.use: {exc}")
            continue
        strategy_id = entry.id or strategy.name
        if strategy_id in first_of:
            problems.append(
                f"{where}.id: {strategy_id!r} is taken by strategies[{first_of[strategy_id]}]; "
                "give each entry its own id"
            )
        first_of.setdefault(strategy_id, index)
        try:
            params = decode_params(strategy, entry.params)
        except ValueError as exc:
            problems.append(f"{where}.params: {exc}")
            continue
        if entry.interval not in built:
            problems.append(
                f"{where}.interval: {entry.interval!r} bars are not built; "
                f"bars.intervals makes {sorted(built)}"
            )
        unknown = [i for i in entry.instruments if i not in instruments]
        for instrument in unknown:
            problems.append(
                f"{where}.instruments: {instrument!r} is not a market instrument; "
                f"market.instruments has {list(instruments)}"
            )
        for instrument in entry.instruments or instruments:
            plans.append(StrategyPlan(strategy_id, strategy, params, instrument, entry.interval))
    if problems:
        raise ConfigError(problems)
    return plans


def _labels(intervals: Sequence[str]) -> set[str]:
    labels = set()
    for spec in intervals:
        try:
            labels.add(parse_bar_spec(spec).label)
        except ValueError:
            continue  # the bar aggregator reports a bad bar spec itself
    return labels


@dataclass(frozen=True)
class HostServices:
    """What every host of a process shares."""

    vault: StrategyVault
    history: BarHistory | None = None
    sessions: Callable[[str], SessionBounds | None] | None = None
    """Instrument -> its session bounds (``None``: no session hooks for it)."""
    tick_sizes: Mapping[str, float] | None = None

    def host_spec(self, plan: StrategyPlan) -> ActorSpec:
        sessions = self.sessions(plan.instrument) if self.sessions is not None else None
        tick = (self.tick_sizes or {}).get(plan.instrument)

        def make() -> StrategyHost:
            return StrategyHost(
                plan, vault=self.vault, history=self.history, sessions=sessions, tick_size=tick
            )

        return ActorSpec(plan.name, make)


def calendar_sessions(exchange: MarketCalendar) -> SessionBounds:
    """A host's session bounds from a market calendar (none outside its data's years)."""

    def bounds(ts_ns: int) -> tuple[int, int] | None:
        try:
            session = exchange.session_at(ts_ns)
        except CalendarRangeError:
            return None
        return None if session is None else (session.open_ns, session.close_ns)

    return bounds


def strategies_supervisor(plans: Sequence[StrategyPlan], services: HostServices) -> SupervisorSpec:
    """The ``strategies`` supervisor with a host per plan."""
    return SupervisorSpec(
        SUPERVISOR,
        [services.host_spec(plan) for plan in plans],
        intensity=10 + 2 * len(plans),
        period_s=30.0,
    )


def describe_plan(plan: StrategyPlan) -> dict[str, Any]:
    """A plan as the API shows it."""
    return {
        "name": plan.name,
        "strategy_id": plan.strategy_id,
        "strategy": plan.strategy.name,
        "instrument": plan.instrument,
        "interval": plan.interval,
        "params": msgspec.to_builtins(plan.params),
    }
