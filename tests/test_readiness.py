"""``troupe run`` as a real process: readiness and the strategies wait for reconciliation, and
a graceful stop settles the orders and compares the books a last time (DESIGN §7, §9).

Issue 12: ``/health`` answered 200 before the first reconciliation (5 of 12 restarts) and
strategies started before it (3 of 12); shutdown logged "no open orders or reconciler to
settle yet" with 20-35 orders open.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.engine_process import DEADLINE_S, POLL_S, EngineProcess


def wait_ready(engine: EngineProcess) -> list[dict[str, object]]:
    """Every health answer until the first 200, oldest first."""
    answers: list[dict[str, object]] = []
    deadline = time.monotonic() + DEADLINE_S
    while True:
        status, body = engine.request("health")
        answers.append(body)
        if status == 200:
            return answers
        assert time.monotonic() < deadline, f"not ready in {DEADLINE_S}s: {body}"
        time.sleep(POLL_S)  # polling a condition with a deadline, not a fixed wait


def lines(text: str, *needles: str) -> list[int]:
    """The first line number at which each needle appears (-1 if none)."""
    found = []
    rows = text.splitlines()
    for needle in needles:
        found.append(next((i for i, row in enumerate(rows) if needle in row), -1))
    return found


def test_ready_and_strategies_only_after_reconciliation_and_a_last_one_at_stop(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    first = EngineProcess(data_dir, name="first")
    try:
        first.wait_answering()
        answers = wait_ready(first)
        assert answers[-1]["reconciled_at"] is not None
        for body in answers[:-1]:
            problems = body["problems"]
            assert isinstance(problems, list)
            if body["reconciled_at"] is None:
                assert "not yet reconciled with the broker" in problems
    finally:
        code = first.terminate()
    assert code == 0, first.stderr()
    err = first.stderr()
    reconciled, strategies, settled = lines(
        err,
        "reconciled with the venue",
        "strategies started after reconciliation",
        "final reconciliation with the venue",
    )
    assert 0 <= reconciled < strategies, err
    assert settled > strategies, err
    assert "shutdown: orders settled" in err
    assert "no open orders or reconciler to settle yet" not in err

    # A restart on the same directory: the same order of things.
    second = EngineProcess(data_dir, name="second")
    try:
        second.wait_answering()
        wait_ready(second)
    finally:
        second.kill()
    reconciled, strategies = lines(
        second.stderr(), "reconciled with the venue", "strategies started after reconciliation"
    )
    assert 0 <= reconciled < strategies, second.stderr()
