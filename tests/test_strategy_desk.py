"""Planning strategies from the configuration, and reloading them without a restart, under
both runtimes: parameters applied at the next bar, hosts added and removed, and a reload with
any problem refused whole with its reasons."""

from __future__ import annotations

from typing import Any

import pytest

from engine.config.load import ConfigError
from engine.config.schema import StrategyConfig
from engine.messages.strategy import TOPIC_STRATEGIES, StrategyReloaded
from engine.spec import SupervisorSpec
from engine.strategy_vault import StrategyVault
from engine.testing import Capture, Driver
from tests.strategy_support import make_bar
from troupe.strategies import SUPERVISOR, HostServices, plan_strategies, strategies_supervisor
from troupe.strategy_desk import StrategyDesk

INSTRUMENTS = ["NSE:INFY", "NSE:TCS"]
INTERVALS = ["1m", "5m"]


def entry(**fields: Any) -> StrategyConfig:
    return StrategyConfig(**{"use": "sma_cross", **fields})


def test_plans_one_host_per_entry_and_instrument() -> None:
    plans = plan_strategies(
        [entry(params={"fast": 3, "slow": 9}), entry(use="rsi_threshold", instruments=["NSE:TCS"])],
        INSTRUMENTS,
        INTERVALS,
    )

    assert [p.name for p in plans] == [
        "strategy.sma_cross.NSE:INFY",
        "strategy.sma_cross.NSE:TCS",
        "strategy.rsi_threshold.NSE:TCS",
    ]
    assert plans[0].params.fast == 3  # type: ignore[attr-defined]


def test_every_problem_is_reported_at_once_naming_the_entry_and_value() -> None:
    with pytest.raises(ConfigError) as raised:
        plan_strategies(
            [
                entry(use="no_such_strategy"),
                entry(id="a", params={"fast": "quick"}),
                entry(id="b", interval="15m"),
                entry(id="b", instruments=["NSE:NOPE"]),
                entry(id="c", params={"fast": 30, "slow": 10}),
            ],
            INSTRUMENTS,
            INTERVALS,
        )

    assert raised.value.problems == [
        "strategies[0].use: no built-in strategy 'no_such_strategy'; built-ins: sma_cross, "
        "rsi_threshold, macd_cross, bollinger_reversion, vwap_reversion, "
        "opening_range_breakout, supertrend_volume, trend_pullback "
        "(or give 'package.module:ClassName')",
        "strategies[1].params: strategy 'sma_cross': Expected `int`, got `str` - at `$.fast`",
        "strategies[2].interval: '15m' bars are not built; bars.intervals makes ['1m', '5m']",
        "strategies[3].id: 'b' is taken by strategies[2]; give each entry its own id",
        "strategies[3].instruments: 'NSE:NOPE' is not a market instrument; "
        "market.instruments has ['NSE:INFY', 'NSE:TCS']",
        "strategies[4].params: strategy 'sma_cross': sma_cross: fast 30 must be below slow 10",
    ]


def start_desk(driver: Driver, entries: list[StrategyConfig]) -> StrategyDesk:
    plans = plan_strategies(entries, INSTRUMENTS, INTERVALS)
    services = HostServices(vault=StrategyVault())
    driver.start(SupervisorSpec("root", [strategies_supervisor(plans, services)]))
    driver.settle()
    return StrategyDesk(
        driver.runtime,
        services,
        plans,
        instruments=INSTRUMENTS,
        intervals=INTERVALS,
        read_entries=lambda: entries,
    )


def actors(driver: Driver) -> list[str]:
    return sorted(a.name for a in driver.runtime.describe().actors)


def test_a_reload_applies_new_parameters_at_the_next_bar(driver: Driver) -> None:
    capture = Capture(driver.runtime, [TOPIC_STRATEGIES])
    desk = start_desk(driver, [entry(instruments=["NSE:INFY"])])

    changed = desk.reload(
        [{"use": "sma_cross", "instruments": ["NSE:INFY"], "params": {"fast": 4}}]
    )
    driver.settle()

    assert changed["reloaded"] == ["strategy.sma_cross.NSE:INFY"]
    assert capture.messages(TOPIC_STRATEGIES) == []  # not before a bar
    driver.runtime.publish("bars:NSE:INFY", make_bar(0, 100.0, instrument="NSE:INFY"))
    driver.wait_for(lambda: bool(capture.messages(TOPIC_STRATEGIES)), what="the reload applied")
    [reloaded] = capture.messages(TOPIC_STRATEGIES, StrategyReloaded)
    assert reloaded.params["fast"] == 4
    assert desk.plans()[0]["params"]["fast"] == 4


def test_a_reload_adds_replaces_and_removes_hosts(driver: Driver) -> None:
    desk = start_desk(
        driver, [entry(instruments=["NSE:INFY"]), entry(id="rsi", use="rsi_threshold")]
    )

    changed = desk.reload(
        [
            {"use": "macd_cross", "id": "sma_cross", "instruments": ["NSE:INFY"]},
            {"use": "bollinger_reversion", "instruments": ["NSE:TCS"]},
        ]
    )
    driver.settle()

    assert changed == {
        "reloaded": [],
        "replaced": ["strategy.sma_cross.NSE:INFY"],
        "added": ["strategy.bollinger_reversion.NSE:TCS"],
        "removed": ["strategy.rsi.NSE:INFY", "strategy.rsi.NSE:TCS"],
        "unchanged": [],
    }
    assert actors(driver) == [
        "strategy.bollinger_reversion.NSE:TCS",
        "strategy.sma_cross.NSE:INFY",
    ]
    [status] = [s for s in driver.runtime.describe().supervisors if s.name == SUPERVISOR]
    assert sorted(status.children) == actors(driver)


def test_a_reload_with_any_problem_changes_nothing(driver: Driver) -> None:
    desk = start_desk(driver, [entry()])
    before = (desk.plans(), actors(driver))

    with pytest.raises(ConfigError) as raised:
        desk.reload(
            [
                {"use": "sma_cross", "params": {"fast": 5}},  # fine alone
                {"use": "rsi_threshold", "params": {"period": 0}},
                {"use": "sma_cross", "unknown": 1},
            ]
        )

    problems = raised.value.problems
    assert any("strategies[2]" in p and "unknown" in p for p in problems), problems
    assert (desk.plans(), actors(driver)) == before
    with pytest.raises(ConfigError, match="period"):
        desk.reload([{"use": "rsi_threshold", "params": {"period": 0}}])
    assert (desk.plans(), actors(driver)) == before


def test_a_reload_without_entries_reads_the_configuration_again(driver: Driver) -> None:
    desk = start_desk(driver, [entry(instruments=["NSE:INFY"])])
    desk.read_entries = lambda: [entry(instruments=["NSE:INFY", "NSE:TCS"])]

    changed = desk.reload()
    driver.settle()

    assert changed["added"] == ["strategy.sma_cross.NSE:TCS"]
    assert changed["unchanged"] == ["strategy.sma_cross.NSE:INFY"]
