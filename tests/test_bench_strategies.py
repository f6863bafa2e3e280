"""The strategies bench runs end to end: every bar sent makes its signal on both runtimes.
Its speeds are figures, never asserted."""

from __future__ import annotations

import pytest

from bench.figures import Figures
from bench.strategies import INSTRUMENTS, run
from tests.bench_checks import assert_finite_number, assert_python_version

NUMERIC_KEYS = (
    "cpu_count",
    "strategy_actors",
    "warmup_bars",
    "bars_sent",
    "bars_per_s_simulated",
    "signals_simulated",
    "bars_per_s_threaded",
    "signals_threaded",
    "bar_to_signal_us_p50",
    "bar_to_signal_us_p99",
    "bar_to_signal_samples",
)


@pytest.fixture(scope="module")
def figures() -> Figures:
    return run(quick=True)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_reports_a_finite_number(figures: Figures, key: str) -> None:
    assert_finite_number(figures, key)


def test_reports_the_python_version(figures: Figures) -> None:
    assert_python_version(figures)


def test_runs_500_strategy_actors(figures: Figures) -> None:
    assert figures["strategy_actors"] == INSTRUMENTS == 500


def test_every_bar_makes_its_signal_on_both_runtimes(figures: Figures) -> None:
    sent = figures["bars_sent"]
    assert isinstance(sent, int) and sent > 0
    assert figures["signals_simulated"] == sent
    assert figures["signals_threaded"] == sent
    assert figures["bar_to_signal_samples"] == sent
