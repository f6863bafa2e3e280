"""The pipeline bench runs end to end: every trigger tick makes its order at the paper broker,
and the pipeline keeps up (its mailboxes empty at the end). Its speeds are figures, never
asserted."""

from __future__ import annotations

import pytest

from bench.figures import Figures
from bench.pipeline import INSTRUMENTS, run
from tests.bench_checks import assert_finite_number, assert_python_version

NUMERIC_KEYS = (
    "cpu_count",
    "instruments",
    "ticks_sent",
    "ticks_per_s",
    "triggers",
    "orders",
    "tick_to_order_us_p50",
    "tick_to_order_us_p99",
    "tick_to_order_us_max",
    "max_mailbox_depth",
    "mailbox_depth_end",
    "journal_records",
    "journal_records_per_s",
)


@pytest.fixture(scope="module")
def figures() -> Figures:
    return run(quick=True)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_reports_a_finite_number(figures: Figures, key: str) -> None:
    assert_finite_number(figures, key)


def test_reports_the_python_version(figures: Figures) -> None:
    assert_python_version(figures)


def test_every_trigger_reaches_the_broker_and_nothing_stays_queued(figures: Figures) -> None:
    assert figures["instruments"] == INSTRUMENTS == 500
    assert isinstance(figures["triggers"], int) and figures["triggers"] > 0
    assert figures["orders"] == figures["triggers"]
    assert figures["mailbox_depth_end"] == 0
