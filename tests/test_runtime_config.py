"""Placement chosen by configuration, without any change to actor code."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec
import pytest

from engine.actor import Actor, handles
from engine.config.load import ConfigError, load_config
from engine.runtime_config import RuntimeConfig
from engine.spec import ActorSpec, SupervisorSpec

CONFIG = Path(__file__).resolve().parents[1] / "config" / "runtime.toml"


class Where(msgspec.Struct, frozen=True):
    pass


class Strategy(Actor):
    @handles(Where)
    def on_where(self, _: Where) -> str:
        return threading.current_thread().name


def tree() -> SupervisorSpec:
    strategies = [ActorSpec(f"strategy.{i}", Strategy) for i in range(300)]
    return SupervisorSpec("root", [*strategies, ActorSpec("router", Strategy)])


def test_shipped_config_puts_every_strategy_on_one_shared_thread() -> None:
    config = load_config([CONFIG], env={}).runtime
    runtime = config.make_runtime()
    try:
        runtime.start(config.apply(tree()))
        strategy_threads = {runtime.ask(f"strategy.{i}", Where()) for i in range(300)}
        router_thread = runtime.ask("router", Where())
    finally:
        runtime.stop()

    assert strategy_threads == {"troupe-strategies-0"}
    assert router_thread == "troupe-router"


def test_the_same_tree_runs_simulated_when_the_config_says_so() -> None:
    config = msgspec.convert({"kind": "simulated", "seed": 3}, RuntimeConfig)
    runtime = config.make_runtime()
    runtime.start(config.apply(tree()))

    assert runtime.ask("strategy.7", Where()) == threading.current_thread().name


def test_first_matching_pattern_wins() -> None:
    config = RuntimeConfig(
        pools={"fast": 1, "slow": 2},
        placement={"strategy.nifty*": "fast", "strategy.*": "slow"},
    )

    assert config.placement_for("strategy.nifty50") == "fast"
    assert config.placement_for("strategy.infy") == "slow"
    assert config.placement_for("router") is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[runtime.placement]\n"strategy.*" = "strats"\n',
            "runtime: placement 'strategy.*': expected one of ['dedicated'], got 'strats'",
        ),
        (
            "[runtime.pools]\nstrategies = 0\n",
            "runtime.pools.strategies: expected an integer >= 1, got 0",
        ),
        (
            '[runtime.pools]\nstrategies = "two"\n',
            'runtime.pools.strategies: expected an integer >= 1, got "two"',
        ),
        (
            '[runtime]\nkind = "live"\n',
            'runtime.kind: expected one of "simulated", "threaded", got "live"',
        ),
        (
            "[runtime]\nthreads = 4\n",
            "runtime.threads: unknown key; allowed: kind, placement, pools, seed, start_ns",
        ),
    ],
)
def test_a_bad_runtime_section_names_the_file_key_and_value(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)

    with pytest.raises(ConfigError) as error:
        load_config([path], env={})

    assert error.value.problems == [f"{path}: {message}"]
