"""Checks every benchmark's figures pass, whatever they measure (never their speed)."""

from __future__ import annotations

import math

from bench.figures import Figures


def assert_finite_number(figures: Figures, key: str) -> None:
    value = figures[key]
    assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
    assert math.isfinite(value), (key, value)


def assert_python_version(figures: Figures) -> None:
    assert isinstance(figures["python"], str) and figures["python"].startswith("3.")
