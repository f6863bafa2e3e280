"""The runtime bench runs end to end and loses nothing. Its speeds are figures, never asserted."""

from __future__ import annotations

import pytest

from bench.figures import Figures
from bench.runtime import run
from tests.bench_checks import assert_finite_number, assert_python_version

NUMERIC_KEYS = (
    "cpu_count",
    "tell_msgs_per_s",
    "chain5_latency_us_p50",
    "chain5_latency_us_p99",
    "restart_ms_p50",
    "restart_ms_p99",
    "messages_lost",
    "messages_sent",
    "messages_dead_lettered",
    "crashes",
    "order_violations",
    "sim_events_per_s",
    "sim_pingpong_events_per_s",
    "dedicated_threads_msgs_per_s_1000_actors",
    "shared_executor_msgs_per_s_1000_actors",
    "shared_vs_dedicated_ratio",
)


@pytest.fixture(scope="module")
def figures() -> Figures:
    return run(quick=True)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_reports_a_finite_number(figures: Figures, key: str) -> None:
    assert_finite_number(figures, key)


def test_reports_the_python_version(figures: Figures) -> None:
    assert_python_version(figures)


def test_no_message_is_lost_under_crashes(figures: Figures) -> None:
    sent = figures["messages_sent"]
    assert isinstance(sent, int) and sent >= 10_000
    assert figures["messages_lost"] == 0


def test_poison_messages_are_dead_lettered_and_crashes_happened(figures: Figures) -> None:
    assert figures["messages_dead_lettered"] == 6  # three poison messages per sender
    assert isinstance(figures["crashes"], int) and figures["crashes"] > 0


def test_per_sender_order_holds_across_restarts(figures: Figures) -> None:
    assert figures["order_violations"] == 0
