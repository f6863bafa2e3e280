"""The ``troupe`` command: help and usage errors (``run`` itself: tests/test_service.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TROUPE = [sys.executable, "-m", "troupe"]
DEADLINE_S = 30.0


def troupe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TROUPE, *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_S
    )


@pytest.mark.parametrize("args", [("--help",), ("bench", "--help"), ("run", "--help")])
def test_help_exits_zero(args: tuple[str, ...]) -> None:
    result = troupe(*args)
    assert result.returncode == 0, result.stderr
    assert "usage: troupe" in result.stdout


def test_unknown_bench_is_a_usage_error_listing_the_names() -> None:
    result = troupe("bench", "no-such-bench")
    assert result.returncode == 2
    assert "no-such-bench" in result.stderr
    assert "runtime" in result.stderr


def test_no_command_is_a_usage_error() -> None:
    assert troupe().returncode == 2
