"""The web bench runs end to end: no API error, no missed or cut live update. Its speeds and
latencies are figures, never asserted."""

from __future__ import annotations

import pytest

from bench.figures import Figures
from bench.web import WS_CLIENTS, run
from tests.bench_checks import assert_finite_number, assert_python_version

NUMERIC_KEYS = (
    "cpu_count",
    "api_latency_ms_p50",
    "api_latency_ms_p99",
    "api_requests",
    "api_errors",
    "api_rate_achieved",
    "ws_msgs_per_s_100_clients",
    "ws_expected_msgs_per_s",
    "ws_delivered",
    "ws_seq_gaps",
    "ws_disconnects",
    "ws_clients",
    "loop_lag_ms_p50",
    "loop_lag_ms_p99",
    "loop_lag_ms_max",
)


@pytest.fixture(scope="module")
def figures() -> Figures:
    return run(quick=True)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_reports_a_finite_number(figures: Figures, key: str) -> None:
    assert_finite_number(figures, key)


def test_reports_the_python_version(figures: Figures) -> None:
    assert_python_version(figures)


def test_every_api_request_is_answered(figures: Figures) -> None:
    requests = figures["api_requests"]
    assert isinstance(requests, int) and requests > 0
    assert figures["api_errors"] == 0


def test_every_client_gets_every_update(figures: Figures) -> None:
    assert figures["ws_clients"] == WS_CLIENTS == 100
    delivered = figures["ws_delivered"]
    assert isinstance(delivered, int) and delivered > 0
    assert figures["ws_seq_gaps"] == 0
    assert figures["ws_disconnects"] == 0


def test_every_published_update_reaches_every_client(figures: Figures) -> None:
    published = figures["ws_published"]
    assert isinstance(published, int)
    assert figures["ws_delivered"] == published * WS_CLIENTS
