"""The crash suite's small count (``bench/crash.py``): a real ``troupe run`` paper session,
trading on the synthetic market with manual orders arriving through the API, killed with
``kill -9`` 6 times and stopped with SIGTERM twice at seeded moments, restarted each time on the
same data directory; every invariant of ``bench/crash_invariants.py`` must hold. The full count
is ``troupe bench crash`` (at least 100 kills)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash import CrashPlan, report_text, run_crash_suite


@pytest.mark.timeout(600)
def test_kills_and_restarts_break_no_invariant(tmp_path: Path) -> None:
    plan = CrashPlan.ci(seed=12)

    result = run_crash_suite(plan, tmp_path / "crash")

    figures = result.figures
    assert (figures["kills"], figures["sigterms"]) == (plan.kills, plan.sigterms)
    assert figures["incarnations"] == plan.kills + plan.sigterms + 1
    # The session traded: brackets opened and closed, manual orders reached the broker.
    assert isinstance(figures["brackets_closed"], int) and figures["brackets_closed"] > 0
    assert isinstance(figures["orders_manual"], int) and figures["orders_manual"] > 0
    assert result.violations == [], report_text(result)
