"""The ``troupe`` command: help, usage errors, and ``run`` stopping cleanly on SIGINT."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
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


def read_until(process: subprocess.Popen[bytes], needle: bytes, deadline_s: float) -> bytes:
    """What ``process`` wrote until a line containing ``needle``, or fail at the deadline."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    seen = b""
    deadline = time.monotonic() + deadline_s
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while needle not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {needle!r} within {deadline_s:g}s; output so far: {seen!r}")
            if selector.select(timeout=left):
                chunk = os.read(fd, 65536)
                if not chunk:
                    pytest.fail(f"exited before {needle!r}; output: {seen!r}")
                seen += chunk
    return seen


def test_run_stops_cleanly_on_sigint_after_a_heartbeat() -> None:
    process = subprocess.Popen(
        [*TROUPE, "run"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        read_until(process, b"heartbeat", DEADLINE_S)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
