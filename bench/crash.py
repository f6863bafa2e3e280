"""The crash suite: a real paper session killed with ``kill -9`` (and stopped with SIGTERM) at
seeded random moments, restarted each time on the same data directory, and judged after every
restart and at the end from three records: the journal, the paper broker's book and the API.

Run the full count with ``troupe bench crash [--kills N] [--sigterms M] [--seed S] [--json]
[--keep DIR]`` (or ``python -m bench.crash``); ``tests/test_crash_suite.py`` runs a small count
in CI. The invariants, and how each is checked, are the table of
:mod:`bench.crash_invariants`. Unlike the other benchmarks this one passes or fails: it exits
1 when any invariant was broken, and prints each kind with an example (round, seed, ids,
figures).

A round: start ``troupe run`` (:mod:`bench.crash_engine`) and wait until ``GET health`` is 200
and the journal holds the process's first ``ReconciliationReport``; check the books after the
restart; let it trade for a seeded while (the strategies' brackets opening and closing, manual
orders arriving at ``--orders-per-s`` through the API, :mod:`bench.crash_orders`, and in some
rounds ``pause``, ``halt`` or ``flatten``, and ``resume`` after a restart that kept one); read
the open orders and the state from the API; then ``kill -9`` (or SIGTERM). Some rounds are
killed within a second and a half of the spawn, during the restart itself. With the engine
down, the two files are read as they were left (:mod:`bench.crash_books`) and the incarnation
is judged. After the last round one more incarnation is started, checked, run briefly, stopped
with SIGTERM and checked once more.

Everything a run leaves is in its directory (``--keep DIR``; otherwise a temporary one, kept
when something broke): ``troupe.toml``, ``data/`` (the journal and the broker's book),
``incarnations/round-NNN.log`` (each process's console), ``manual_orders.jsonl``,
``rounds.jsonl``, ``violations.jsonl`` and ``report.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.crash_books import last_closes
from bench.crash_engine import (
    Api,
    ApiDownError,
    EngineProcess,
    free_port,
    session_toml,
)
from bench.crash_invariants import HELD_STATES, Violation
from bench.crash_orders import ManualOrderFlow, manual_prefix
from bench.crash_plan import CrashPlan, RoundPlan, plan_rounds
from bench.crash_rounds import BROKER_FILE, JOURNAL_FILE, Life, Verdicts, violation_record
from bench.figures import Figures, format_value, percentile, rounded, table

__all__ = ["CrashPlan", "CrashResult", "main", "run_crash_suite"]

Progress = Callable[[str], None]


@dataclass(slots=True)
class CrashResult:
    figures: Figures
    violations: list[Violation]
    run_dir: Path

    def to_json(self) -> dict[str, Any]:
        return {
            **rounded(self.figures),
            "violations": [violation_record(v, self.figures.get("seed")) for v in self.violations],
        }


class CrashRun:
    """One run of the suite in ``run_dir``; :meth:`run` returns its result and always leaves
    no process behind."""

    def __init__(self, plan: CrashPlan, run_dir: Path, progress: Progress | None) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self.say: Progress = progress or (lambda _line: None)
        self.data_dir = run_dir / "data"
        self.journal_path = self.data_dir / JOURNAL_FILE
        self.broker_path = self.data_dir / BROKER_FILE
        (run_dir / "incarnations").mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = run_dir / "troupe.toml"
        self.config.write_text(
            session_toml(plan.session, data_dir=self.data_dir, port=self.port, seed=plan.seed),
            encoding="utf-8",
        )
        self.api = Api(self.port)
        self.verdicts = Verdicts(
            journal_path=self.journal_path,
            broker_path=self.broker_path,
            api=self.api,
            seed=plan.seed,
            manual_prefix=manual_prefix(plan.seed),
            starting_cash=plan.session.starting_cash,
            decision_grace_ns=2 * plan.session.interval_ns,
            log_path=run_dir / "violations.jsonl",
            settle_s=plan.settle_s,
        )
        self._prices: dict[str, float] = {}
        self._prices_at = 0.0
        self.flow = ManualOrderFlow(
            self.api,
            seed=plan.seed,
            instruments=plan.session.instruments,
            per_s=plan.orders_per_s,
            prices=self._last_closes,
            log_path=run_dir / "manual_orders.jsonl",
        )
        self.process: EngineProcess | None = None
        self.actions: Counter[str] = Counter()

    def _last_closes(self) -> dict[str, float]:
        if time.monotonic() - self._prices_at > 2.0:
            # The file may be mid-creation: the old prices will do meanwhile.
            with contextlib.suppress(Exception):
                self._prices = last_closes(self.journal_path)
            self._prices_at = time.monotonic()
        return self._prices

    def run(self) -> CrashResult:
        started = time.monotonic()
        rounds = plan_rounds(self.plan)
        try:
            life = Life.first()
            for round_plan in rounds:
                life = self._round(round_plan, life)
                if self.verdicts.aborted:
                    break
            if not self.verdicts.aborted:
                self._final(len(rounds), life)
        finally:
            self.flow.close()
            if self.process is not None:
                self.process.kill()
        figures = self._figures(time.monotonic() - started)
        result = CrashResult(figures, self.verdicts.violations, self.run_dir)
        (self.run_dir / "report.json").write_text(
            json.dumps(result.to_json(), indent=1, default=str), encoding="utf-8"
        )
        return result

    # -- one round ---------------------------------------------------------------------------

    def _spawn(self, index: int) -> tuple[EngineProcess, Life]:
        log_path = self.run_dir / "incarnations" / f"round-{index:03d}.log"
        self.process = EngineProcess(self.config, cwd=self.run_dir, log_path=log_path)
        return self.process, Life(index=index, spawn_ns=self.process.spawn_ns, log_path=log_path)

    def _round(self, rp: RoundPlan, before: Life) -> Life:
        process, life = self._spawn(rp.index)
        self.flow.start()
        if rp.early:
            self._sleep_while_alive(process, rp.run_s)
        else:
            self._await_ready(process, life)
            if life.ready_ns is not None and rp.index > 0:
                self.verdicts.after_restart(before, life)
            self._trade(process, rp, before, life)
        self._stop(process, rp, life)
        self.verdicts.at_stop(before, life)
        self._log_round(rp, life)
        return life

    def _final(self, index: int, before: Life) -> None:
        process, life = self._spawn(index)
        self._await_ready(process, life)
        final = RoundPlan(
            index=index,
            signal="SIGTERM",
            run_s=self.plan.final_run_s,
            early=False,
            action=None,
            action_at_s=0.0,
            resume=True,
            hold_s=min(1.0, self.plan.final_run_s / 2),
        )
        if life.ready_ns is not None:
            self.verdicts.after_restart(before, life)
            self._trade(process, final, before, life)
            self.flow.pause()
            self.verdicts.books_settled(life, when="at the end")
        self.flow.pause()
        self._stop(process, final, life)
        self.verdicts.at_stop(before, life, final=True)
        self._log_round(final, life)

    def _await_ready(self, process: EngineProcess, life: Life) -> None:
        deadline = time.monotonic() + self.plan.ready_timeout_s
        life.ready_ns = process.wait_ready(self.api, deadline)
        if life.ready_ns is None:
            self.verdicts.not_ready(life, process.exit_code(), self.plan.ready_timeout_s)
            return
        life.reconciled_ns = self.verdicts.await_reconciliation(life, deadline)
        try:
            life.api_state = str(self.api.get("state")["trading_state"])
        except (ApiDownError, KeyError, TypeError):
            life.api_state = None

    def _trade(self, process: EngineProcess, rp: RoundPlan, before: Life, life: Life) -> None:
        start = time.monotonic()
        held = before.snapshot.restarted_from and before.snapshot.expected_state in HELD_STATES
        resume_at = start + rp.hold_s if held and rp.resume else None
        action_at = start + rp.action_at_s if rp.action else None
        end = start + rp.run_s
        while time.monotonic() < end and process.alive():
            now = time.monotonic()
            if resume_at is not None and now >= resume_at:
                resume_at = None
                life.resumed_ns = life.resumed_ns or time.time_ns()
                self._command("resume", life)
            if action_at is not None and now >= action_at and rp.action is not None:
                action_at = None
                self._command(rp.action, life)
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def _command(self, verb: str, life: Life) -> None:
        try:
            status, _ = self.api.call("POST", verb, {"reason": "crash suite"}, timeout_s=15.0)
        except ApiDownError:
            status = 0
        self.actions[f"{verb}_{'ok' if status == 200 else 'failed'}"] += 1
        life.commands.append((verb, time.time_ns(), status))

    def _sleep_while_alive(self, process: EngineProcess, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and process.alive():
            time.sleep(0.02)

    def _stop(self, process: EngineProcess, rp: RoundPlan, life: Life) -> None:
        life.api_open, life.api_state_at_stop = self.verdicts.api_snapshot()
        if not process.alive() and life.ready_ns is not None:
            self.verdicts.exited_by_itself(life, process.exit_code())
        life.signal = rp.signal
        life.stop_ns = time.time_ns()
        if rp.signal == "SIGTERM":
            wait_s = self.plan.session.shutdown_timeout_s + 15.0
            life.exit_code = process.stop(signal.SIGTERM, wait_s=wait_s)
            if life.exit_code != 0:
                self.verdicts.shutdown_failed(life, wait_s)
        else:
            life.exit_code = process.stop(signal.SIGKILL, wait_s=30.0)
        self.process = None

    def _log_round(self, rp: RoundPlan, life: Life) -> None:
        record = {"plan": asdict(rp), **life.summary()}
        with (self.run_dir / "rounds.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, default=str) + "\n")
        found = Counter(v.kind for v in self.verdicts.violations if v.round == rp.index)
        ready = (
            "not ready"
            if life.ready_ns is None
            else f"ready {(life.ready_ns - life.spawn_ns) / 1e9:.1f}s"
        )
        self.say(
            f"round {rp.index}: {rp.signal}{' early' if rp.early else ''} ({ready}, "
            f"action {rp.action or '-'}), new orders {life.new_orders}, "
            f"violations {sum(found.values())}" + (f" {dict(found)}" if found else "")
        )

    # -- figures -------------------------------------------------------------------------

    def _figures(self, elapsed_s: float) -> Figures:
        v = self.verdicts
        figures: Figures = {
            "seed": self.plan.seed,
            "kills": v.stops["SIGKILL"],
            "sigterms": v.stops["SIGTERM_round"],
            "restarts": max(0, v.incarnations - 1),
            "incarnations": v.incarnations,
            "duration_s": elapsed_s,
            **v.book_figures(),
            "manual_orders_sent": len(self.flow.sent_ids),
            "manual_orders_accepted": self.flow.outcomes["accepted"],
            "manual_orders_refused": self.flow.outcomes["refused"],
            "manual_orders_no_answer": self.flow.outcomes["no_answer"],
            "manual_orders_resent_same_id": self.flow.resent_same_id,
            **{f"commands_{k}": n for k, n in sorted(self.actions.items())},
            "restart_s_p50": percentile(v.restart_s, 50) if v.restart_s else None,
            "restart_s_max": max(v.restart_s) if v.restart_s else None,
            "reconciled_s_p50": percentile(v.reconciled_s, 50) if v.reconciled_s else None,
            "reconciled_s_max": max(v.reconciled_s) if v.reconciled_s else None,
            "ready_before_reconciliation": v.ready_before_reconciliation,
            "unsettled_book_checks": v.unsettled,
            "violations": len(v.violations),
        }
        for kind, count in sorted(Counter(x.kind for x in v.violations).items()):
            figures[f"violations_{kind}"] = count
        return figures


def run_crash_suite(
    plan: CrashPlan, run_dir: Path | None = None, progress: Progress | None = None
) -> CrashResult:
    """Run ``plan`` in ``run_dir`` (made if needed; a temporary directory when ``None``, removed
    afterwards unless something broke) and return its figures and violations."""
    temporary = run_dir is None
    directory = Path(tempfile.mkdtemp(prefix="troupe-crash-")) if run_dir is None else run_dir
    directory.mkdir(parents=True, exist_ok=True)
    result = CrashRun(plan, directory, progress).run()
    if temporary and not result.violations:
        shutil.rmtree(directory, ignore_errors=True)
    return result


def report_text(result: CrashResult) -> str:
    """The figures as a table, then each kind of violation with its count and an example."""
    lines = [table(result.figures)]
    by_kind: dict[str, list[Violation]] = {}
    for violation in result.violations:
        by_kind.setdefault(violation.kind, []).append(violation)
    seed = result.figures.get("seed")
    for kind, found in sorted(by_kind.items()):
        example = found[0]
        lines.append(f"\n{kind}: {len(found)}, e.g. round {example.round}, seed {seed}:")
        lines.append(f"  {example.message}")
        details = ", ".join(f"{k}={format_value(_plain(x))}" for k, x in example.details.items())
        lines.append(f"  {details}")
    if result.violations:
        lines.append(f"\nrun directory (logs, books, every violation): {result.run_dir}")
    return "\n".join(lines)


def _plain(value: Any) -> float | int | str | bool | None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="troupe bench crash",
        description="Kill a paper session with kill -9 (and SIGTERM) at seeded random moments, "
        "restart it on the same data directory, and check the journal, the paper broker's "
        "book and the API after every restart. Exits 1 when an invariant was broken.",
    )
    parser.add_argument("--kills", type=int, default=100, help="kill -9 rounds (default 100)")
    parser.add_argument("--sigterms", type=int, default=10, help="SIGTERM rounds (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument("--orders-per-s", type=float, default=4.0, help="manual orders a second")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="the CI count: 6 kills, 2 SIGTERMs")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR and keep everything there")
    args = parser.parse_args(argv)
    if args.kills < 0 or args.sigterms < 0 or args.kills + args.sigterms < 1:
        parser.error("--kills and --sigterms must be >= 0, and at least one of them > 0")
    if args.orders_per_s < 0:
        parser.error(f"--orders-per-s must be >= 0, got {args.orders_per_s}")
    if args.quick:
        plan = replace(CrashPlan.ci(args.seed), orders_per_s=args.orders_per_s)
    else:
        plan = CrashPlan(
            kills=args.kills, sigterms=args.sigterms, seed=args.seed, orders_per_s=args.orders_per_s
        )

    def to_stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = run_crash_suite(
        plan, Path(args.keep) if args.keep else None, None if args.json else to_stderr
    )
    if args.json:
        print(json.dumps(result.to_json(), default=str))
    else:
        print(report_text(result))
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
