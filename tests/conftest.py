"""One fixture, two runtimes: every behavioural test runs on both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.testing import RUNTIME_KINDS, Driver, make_runtime


@pytest.fixture(params=RUNTIME_KINDS)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    d = Driver(make_runtime(request.param))
    try:
        yield d
    finally:
        d.stop()
