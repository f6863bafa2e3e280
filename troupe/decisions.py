"""The middle of the path, as the service starts it: strategy hosts and the ranker.

Built from the configuration and the market data already planned (its instruments, its
database): the ``strategies`` supervisor with one host per (strategy, instrument), the ranker,
and the desk that lists and reloads strategies for the API. Strategy states are kept in the
market data's database, and warm-up bars come from its candles; rankings are kept by the
journal, which follows the ``rankings`` topic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from actors.ranker import NAME as RANKER
from actors.ranker import Ranker
from actors.strategy_host import SessionBounds
from engine.bar_history import StoredHistory
from engine.calendars import calendar
from engine.config.load import ConfigError, load_config
from engine.config.schema import RankerConfig, StrategyConfig, TroupeConfig
from engine.messages.ranking import Penalties, ScoringConfig
from engine.runtime import Runtime
from engine.spec import ActorSpec, SupervisorSpec
from engine.store.database import Database
from engine.store.strategy_states import StrategyStateStore
from engine.strategy_vault import StrategyVault
from troupe.market import MarketData
from troupe.strategies import (
    SUPERVISOR,
    HostServices,
    calendar_sessions,
    plan_strategies,
    strategies_supervisor,
)
from troupe.strategy_desk import StrategyDesk

SECOND_NS = 1_000_000_000


@dataclass
class Decisions:
    specs: list[ActorSpec | SupervisorSpec]
    """In start order: the ranker, then the strategies (stopped first, so their last signals
    still reach a running ranker)."""
    desk: StrategyDesk
    held_hosts: list[ActorSpec] = field(default_factory=list)
    """With ``hold_hosts``: the strategy hosts, to add to the (empty) ``strategies``
    supervisor with :meth:`start_hosts` once the books are reconciled."""

    def start_hosts(self, runtime: Runtime) -> int:
        """Add the held hosts to the running ``strategies`` supervisor (each returns once it
        started); how many were added."""
        hosts, self.held_hosts = self.held_hosts, []
        for spec in hosts:
            runtime.add_actor(SUPERVISOR, spec)
        return len(hosts)


def decisions(
    config: TroupeConfig,
    runtime: Runtime,
    market: MarketData,
    *,
    read_entries: Callable[[], Sequence[StrategyConfig]] | None = None,
    risk: str | None = "risk",
    hold_hosts: bool = False,
) -> Decisions:
    """Raises :class:`ConfigError` listing every problem of the strategies or the ranker.

    ``hold_hosts``: the ``strategies`` supervisor starts empty and its hosts are kept in
    :attr:`Decisions.held_hosts` (DESIGN §7: strategies start only after reconciliation)."""
    plans = plan_strategies(config.strategies, market.instruments, config.bars.intervals)
    database = market.database
    ranker = _ranker(config, risk)
    services = HostServices(
        vault=_vault(database),
        history=StoredHistory(database) if database is not None else None,
        sessions=_sessions(config, market) if config.market.source != "sim" else None,
        tick_sizes=market.tick_sizes,
    )
    desk = StrategyDesk(
        runtime,
        services,
        plans,
        instruments=market.instruments,
        intervals=config.bars.intervals,
        read_entries=read_entries or (lambda: config.strategies),
    )
    supervisor = strategies_supervisor(plans, services)
    if not hold_hosts:
        return Decisions(specs=[ranker, supervisor], desk=desk)
    held = [child for child in supervisor.children if isinstance(child, ActorSpec)]
    return Decisions(
        specs=[ranker, dataclasses.replace(supervisor, children=[])], desk=desk, held_hosts=held
    )


def reader(files: Sequence[str]) -> Callable[[], Sequence[StrategyConfig]]:
    """Read the ``[[strategies]]`` of ``files`` again (a reload without a body)."""

    def read() -> Sequence[StrategyConfig]:
        return load_config(files).strategies

    return read


def scoring_of(settings: RankerConfig) -> ScoringConfig:
    """The ranker's scoring from its ``[ranker]`` table. Raises :class:`ConfigError`."""
    try:
        return ScoringConfig(
            weights=dict(settings.weights),
            penalties=Penalties.of(settings.penalties),
            top_n=settings.top_n,
            min_score=None if math.isinf(settings.min_score) else settings.min_score,
        )
    except ValueError as exc:
        raise ConfigError([f"ranker: {exc}"]) from None


def _ranker(config: TroupeConfig, risk: str | None) -> ActorSpec:
    """The ranker; ``risk``: the actor its intents are sent to (they are published on
    ``intents`` as well)."""
    settings = config.ranker
    scoring = scoring_of(settings)
    cycle_ns = round(settings.cycle_s * SECOND_NS) if settings.cycle == "timer" else None
    return ActorSpec(
        RANKER,
        lambda: Ranker(scoring, cycle=settings.cycle, cycle_ns=cycle_ns, risk=risk),
    )


def _vault(database: Database | None) -> StrategyVault:
    if database is None:
        return StrategyVault()
    states = StrategyStateStore(database)
    saved = database.call(states.load_all())
    return StrategyVault(
        saved, write=lambda key, snapshot, ts: database.submit(states.save(key, snapshot, ts))
    )


def _sessions(config: TroupeConfig, market: MarketData) -> Callable[[str], SessionBounds | None]:
    directory = config.market.calendar_dir or None
    calendars = market.calendars

    def for_instrument(instrument: str) -> SessionBounds | None:
        name = calendars.get(instrument)
        return None if name is None else calendar_sessions(calendar(name, directory))

    return for_instrument
