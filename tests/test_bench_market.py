"""The market bench runs end to end and loses no tick. Its speeds are figures, never asserted."""

from __future__ import annotations

import pytest

from bench.figures import Figures
from bench.market import INSTRUMENTS, run
from tests.bench_checks import assert_finite_number, assert_python_version

NUMERIC_KEYS = (
    "cpu_count",
    "instruments",
    "ticks_per_s_simulated",
    "ticks_per_s_threaded",
    "ticks_sent",
    "ticks_in_bars_simulated",
    "ticks_in_bars_threaded",
    "tick_to_bar_us_p50",
    "tick_to_bar_us_p99",
    "tick_to_bar_samples",
    "rss_mb_start",
    "rss_mb_end",
    "rss_growth_mb_after_warmup",
    "peak_rss_mb",
    "memory_run_s",
    "memory_run_ticks",
    "memory_run_market_minutes",
)


@pytest.fixture(scope="module")
def figures() -> Figures:
    return run(quick=True)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_reports_a_finite_number(figures: Figures, key: str) -> None:
    assert_finite_number(figures, key)


def test_reports_the_python_version(figures: Figures) -> None:
    assert_python_version(figures)


def test_measures_1000_instruments(figures: Figures) -> None:
    assert figures["instruments"] == INSTRUMENTS == 1000


def test_every_tick_sent_ends_up_in_a_bar_on_both_runtimes(figures: Figures) -> None:
    sent = figures["ticks_sent"]
    assert isinstance(sent, int) and sent > 0
    assert figures["ticks_in_bars_simulated"] == sent
    assert figures["ticks_in_bars_threaded"] == sent


def test_latency_and_memory_were_sampled(figures: Figures) -> None:
    samples = figures["tick_to_bar_samples"]
    assert isinstance(samples, int) and samples > 0
    ticks = figures["memory_run_ticks"]
    assert isinstance(ticks, int) and ticks > 0
    start, peak = figures["rss_mb_start"], figures["peak_rss_mb"]
    assert isinstance(start, int | float) and isinstance(peak, int | float)
    assert 0 < start <= peak
