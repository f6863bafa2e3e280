"""The crash suite's rounds: their seeded plan, the record of each incarnation, and the
checks the suite runs after each restart and after each stop (the glue between the records,
:mod:`bench.crash_books`, and the pure invariants, :mod:`bench.crash_invariants`).

When each check runs:

=======================================  ====================================================
moment                                   checks
=======================================  ====================================================
a restart is ready and has reconciled    every execution the broker held at the kill is in
                                         the journal (1); positions and cash agree across
                                         broker, journal and API at a moment without new
                                         fills (2); the API's orders and fills repeat no id
                                         (3)
the process has been stopped (its        every journal fill is at the broker; after a
files as it left them)                   SIGTERM, every broker execution is in the journal
                                         (1); no doubled fill, no repeated id (1, 3); the
                                         incarnation's orders judged (4, 5, 6, 7); no fill
                                         took a position short (5)
the end (after the last, clean stop)     the same, and positions and cash agree between
                                         broker and journal (2)
=======================================  ====================================================
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.crash_books import (
    api_book,
    audit_facts,
    broker_book,
    journal_at_stop,
    journal_book,
    open_ids,
)
from bench.crash_engine import Api, ApiDownError
from bench.crash_invariants import (
    Book,
    OrderKind,
    Violation,
    books_agree,
    bracket_open,
    fills_agree,
    fills_once,
    ids_unique,
    no_short,
    parse_order_id,
)
from bench.crash_restarts import Incarnation, KillSnapshot, judge_life, state_journaled
from bench.figures import Figures

__all__ = ["BROKER_FILE", "JOURNAL_FILE", "Life", "Verdicts", "violation_record"]

BROKER_FILE = "paper_broker.db"
JOURNAL_FILE = "troupe.db"
MAX_NOT_READY_IN_A_ROW = 3

Books = tuple[Book, Book, Book, Book]
"""The broker's book, the journal's, the API's, and the broker's again (read last)."""


@dataclass(slots=True)
class Life:
    """One incarnation as the suite saw it; ``snapshot`` is what it left when stopped."""

    index: int
    spawn_ns: int
    log_path: Path | None
    ready_ns: int | None = None
    reconciled_ns: int | None = None
    api_state: str | None = None
    resumed_ns: int | None = None
    commands: list[tuple[str, int, int]] = field(default_factory=list)
    """``(verb, ns, HTTP status)`` of each command the suite sent (0: no answer)."""
    api_open: frozenset[str] = frozenset()
    api_state_at_stop: str | None = None
    signal: str = ""
    stop_ns: int = 0
    exit_code: int | None = None
    snapshot: KillSnapshot = field(default_factory=KillSnapshot.first)
    new_orders: int = 0
    restart_orders: list[str] = field(default_factory=list)
    """Orders the broker received before the incarnation's first new decision."""

    @classmethod
    def first(cls) -> Life:
        return cls(index=-1, spawn_ns=0, log_path=None)

    @property
    def state_at_stop(self) -> str:
        return self.snapshot.state

    def summary(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "log": str(self.log_path),
            "spawn_ns": self.spawn_ns,
            "ready_ns": self.ready_ns,
            "reconciled_ns": self.reconciled_ns,
            "api_state": self.api_state,
            "resumed_ns": self.resumed_ns,
            "commands": self.commands,
            "api_open_at_stop": sorted(self.api_open),
            "api_state_at_stop": self.api_state_at_stop,
            "journal_state_at_stop": self.snapshot.state,
            "journal_open_at_stop": sorted(self.snapshot.journal_open),
            "broker_positions_at_stop": dict(self.snapshot.broker.positions),
            "signal": self.signal,
            "stop_ns": self.stop_ns,
            "exit_code": self.exit_code,
            "new_orders": self.new_orders,
            "restart_orders": self.restart_orders,
        }


def violation_record(violation: Violation, seed: Any) -> dict[str, Any]:
    """``violation`` as JSON (``violations.jsonl``, ``report.json``), with the run's seed."""
    return {
        "round": violation.round,
        "seed": seed,
        "kind": violation.kind,
        "message": violation.message,
        "details": dict(violation.details),
    }


class Verdicts:
    """Runs the checks of the module doc and keeps every violation (stamped with its round,
    one JSON line each in ``log_path``) and the figures they add up to."""

    def __init__(
        self,
        *,
        journal_path: Path,
        broker_path: Path,
        api: Api,
        seed: int,
        manual_prefix: str,
        starting_cash: int,
        decision_grace_ns: int,
        log_path: Path,
        settle_s: float = 5.0,
    ) -> None:
        self.journal_path = journal_path
        self.broker_path = broker_path
        self.api = api
        self.seed = seed
        self.manual_prefix = manual_prefix
        self.starting_cash = Decimal(starting_cash)
        self.decision_grace_ns = decision_grace_ns
        self.log_path = log_path
        self.settle_s = settle_s
        self.violations: list[Violation] = []
        self.aborted = False
        self.stops: Counter[str] = Counter()
        self.incarnations = 0
        self.restart_s: list[float] = []
        self.reconciled_s: list[float] = []
        self.ready_before_reconciliation = 0
        self.unsettled = 0
        self.exits_replaced = 0
        self.restart_orders = 0
        self.not_ready_in_a_row = 0
        self.placed_by_restart: dict[str, int] = {}
        self.shorts_reported: set[str] = set()
        self.last_broker: Book = Book("broker")

    def add(self, round_index: int, found: Sequence[Violation]) -> None:
        with self.log_path.open("a", encoding="utf-8") as log:
            for violation in found:
                stamped = replace(violation, round=round_index)
                self.violations.append(stamped)
                log.write(json.dumps(violation_record(stamped, self.seed), default=str) + "\n")

    # -- the process itself --------------------------------------------------------------

    def not_ready(self, life: Life, exit_code: int | None, timeout_s: float) -> None:
        self.not_ready_in_a_row += 1
        if exit_code is not None:
            kind, what = "engine_exited", f"the engine exited with {exit_code} before ready"
        else:
            kind, what = "not_ready", f"GET health was not 200 within {timeout_s:g}s"
        self.add(life.index, [Violation(kind, what, {"log": str(life.log_path)})])
        if self.not_ready_in_a_row >= MAX_NOT_READY_IN_A_ROW:
            self.aborted = True

    def exited_by_itself(self, life: Life, exit_code: int | None) -> None:
        self.add(
            life.index,
            [
                Violation(
                    "engine_exited",
                    f"the engine exited by itself with {exit_code}",
                    {"log": str(life.log_path), "exit_code": exit_code},
                )
            ],
        )

    def shutdown_failed(self, life: Life, wait_s: float) -> None:
        """SIGTERM did not end the engine with 0 (README: "run stopped cleanly after a
        signal") within ``wait_s``."""
        if life.exit_code is None:
            kind, what = "shutdown_hung", f"SIGTERM did not end the engine within {wait_s:g}s"
        else:
            kind, what = "shutdown_failed", f"SIGTERM ended the engine with {life.exit_code}"
        self.add(
            life.index,
            [Violation(kind, what, {"log": str(life.log_path), "exit_code": life.exit_code})],
        )

    def await_reconciliation(self, life: Life, deadline: float) -> int | None:
        """The process's first ``ReconciliationReport`` in the journal (polled until
        ``deadline``, monotonic s); ``None`` (and a ``no_reconciliation`` violation)."""
        while True:
            try:
                found = audit_facts(self.journal_path).first_reconciliation_since(life.spawn_ns)
            except (sqlite3.Error, FileNotFoundError):
                found = None
            if found is not None:
                self.not_ready_in_a_row = 0
                return found
            if time.monotonic() >= deadline:
                self.add(
                    life.index,
                    [
                        Violation(
                            "no_reconciliation",
                            "the journal holds no ReconciliationReport of this process",
                            {"log": str(life.log_path), "spawn_ns": life.spawn_ns},
                        )
                    ],
                )
                return None
            time.sleep(0.05)

    def api_snapshot(self) -> tuple[frozenset[str], str | None]:
        """The API's open orders and state just before a stop (empty, ``None`` when it does
        not answer within 2 s)."""
        try:
            blotter = self.api.get("orders?status=open&limit=1000", timeout_s=2.0)
            ids = frozenset(str(o["client_order_id"]) for o in blotter.get("orders", []))
        except (ApiDownError, AttributeError, KeyError, TypeError):
            ids = frozenset()
        try:
            state = str(self.api.get("state", timeout_s=2.0)["trading_state"])
        except (ApiDownError, KeyError, TypeError):
            state = None
        return ids, state

    # -- while it runs -------------------------------------------------------------------

    def read_books(self) -> Books:
        """The broker's book, the journal's, the API's, and the broker's again."""
        broker = broker_book(self.broker_path)
        journal = journal_book(self.journal_path, self.starting_cash)
        ledger = api_book(self.api.get("positions?curve=1"))
        return broker, journal, ledger, broker_book(self.broker_path)

    def after_restart(self, before: Life, life: Life) -> None:
        """The checks once a restart is ready and has reconciled."""
        held = before.snapshot.broker.fills
        deadline = time.monotonic() + self.settle_s
        missing: list[Violation] = []
        while True:
            try:
                journal = journal_book(self.journal_path, self.starting_cash)
            except sqlite3.Error:
                journal = None
            if journal is not None:
                missing = fills_agree(
                    held, journal.fills, kind="fill_lost", holder_name="journal after the restart"
                )
                if not missing:
                    break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        self.add(life.index, missing)
        self.books_settled(life, when="after the restart")

    def books_settled(self, life: Life, *, when: str) -> None:
        """Positions and cash of the three records, read at a moment when the broker's fills
        did not change and the journal had them all; the API's ids."""
        deadline = time.monotonic() + self.settle_s
        last: list[Violation] | None = None
        while True:
            try:
                broker, journal, ledger, broker_again = self.read_books()
            except (ApiDownError, sqlite3.Error):
                broker = None
            if broker is not None:
                ids = {f.trade_id for f in broker.fills}
                if (
                    ids
                    == {f.trade_id for f in broker_again.fills}
                    == {f.trade_id for f in journal.fills}
                ):
                    last = books_agree([broker, journal, ledger])
                    if not last:
                        break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if last is None:
            self.unsettled += 1
        else:
            self.add(life.index, [_when(v, when) for v in last])
        self.add(life.index, [_when(v, when) for v in self._api_ids()])

    def _api_ids(self) -> list[Violation]:
        try:
            orders = self.api.get("orders?status=all&limit=1000").get("orders", [])
            fills = self.api.get("fills?limit=1000").get("fills", [])
        except (ApiDownError, AttributeError):
            return []
        return ids_unique(
            "api",
            {
                "client_order_id": [str(o["client_order_id"]) for o in orders],
                "trade_id": [str(f["trade_id"]) for f in fills],
            },
        )

    # -- after a stop --------------------------------------------------------------------

    def at_stop(self, before: Life, life: Life, *, final: bool = False) -> None:
        """Judge the incarnation ``life`` (``before``: the one before it) from the files it
        left, and keep what it left as ``life.snapshot``."""
        self.incarnations += 1
        self.stops[life.signal if not final else "SIGTERM_final"] += 1
        if life.signal == "SIGTERM" and not final:
            self.stops["SIGTERM_round"] += 1
        try:
            broker = broker_book(self.broker_path)
            at_stop = journal_at_stop(self.journal_path, self.starting_cash)
        except (sqlite3.Error, OSError) as error:
            self.aborted = True
            what = f"the books could not be read after the stop: {error}"
            self.add(life.index, [Violation("unreadable_book", what, {"log": str(life.log_path)})])
            return
        journal, facts = at_stop.book, at_stop.facts
        life.reconciled_ns = facts.first_reconciliation_since(life.spawn_ns)
        if life.ready_ns is not None and life.index > 0:
            self.restart_s.append((life.ready_ns - life.spawn_ns) / 1e9)
        if life.reconciled_ns is not None and life.index > 0:
            self.reconciled_s.append((life.reconciled_ns - life.spawn_ns) / 1e9)
        if life.ready_ns is not None and life.reconciled_ns is not None:
            self.ready_before_reconciliation += life.ready_ns < life.reconciled_ns
        clean = life.signal == "SIGTERM" and life.exit_code == 0
        found = fills_agree(
            journal.fills, broker.fills, kind="fill_unknown_to_broker", holder_name="broker's book"
        )
        if clean:
            found += fills_agree(
                broker.fills,
                journal.fills,
                kind="fill_lost",
                holder_name="journal after a clean stop",
            )
        found += fills_once(broker)
        found += [v for v in fills_once(journal) if clean or v.kind != "filled_qty_mismatch"]
        found += ids_unique(
            "broker",
            {
                "venue_order_id": [o.venue_order_id or "" for o in broker.orders.values()],
                "trade_id": [f.trade_id for f in broker.fills],
            },
        )
        found += ids_unique("journal", {"trade_id": [f.trade_id for f in journal.fills]})
        if final:
            found += [_when(v, "after the last stop") for v in books_agree([broker, journal])]
        incarnation = Incarnation(
            round=life.index,
            spawn_ns=life.spawn_ns,
            reconciled_ns=life.reconciled_ns,
            api_state=life.api_state,
            resumed_ns=life.resumed_ns,
            manual_prefix=self.manual_prefix,
            decision_grace_ns=self.decision_grace_ns,
        )
        verdict = judge_life(before.snapshot, incarnation, broker)
        for order_id in verdict.placed_by_restart:
            self.placed_by_restart.setdefault(order_id, life.index)
        found += verdict.violations
        for short in no_short(broker.fills, self.placed_by_restart):
            trade_id = str(short.details["trade_id"])
            if trade_id not in self.shorts_reported:
                self.shorts_reported.add(trade_id)
                found.append(short)
        self.add(life.index, found)
        self.exits_replaced += len(verdict.exits_replaced)
        self.restart_orders += len(verdict.restart_orders)
        life.new_orders = verdict.new_orders
        life.restart_orders = verdict.restart_orders
        life.snapshot = KillSnapshot(
            round=life.index,
            kill_ns=life.stop_ns,
            broker=broker,
            journal_orders=frozenset(journal.orders),
            journal_open=open_ids(journal),
            api_open=life.api_open,
            closes_taken=at_stop.closes_taken,
            state=facts.state(),
            api_state=life.api_state_at_stop,
            signal=life.signal,
        )
        self.add(life.index, state_journaled(life.snapshot))
        self.last_broker = broker

    def book_figures(self) -> Figures:
        """Orders, fills and brackets in the broker's book as last read, and what restarts
        placed."""
        broker = self.last_broker
        kinds = Counter(parse_order_id(o, self.manual_prefix).kind for o in broker.orders)
        entries = sorted(
            {
                f.client_order_id
                for f in broker.fills
                if parse_order_id(f.client_order_id, self.manual_prefix).kind is OrderKind.ENTRY
            }
        )
        closed = [e for e in entries if not bracket_open(e, broker.fills, self.manual_prefix)]
        return {
            "orders": len(broker.orders),
            "orders_strategy_entries": kinds[OrderKind.ENTRY],
            "orders_signal_exits": kinds[OrderKind.SIGNAL_EXIT],
            "orders_bracket_exits": kinds[OrderKind.BRACKET_EXIT],
            "orders_flatten": kinds[OrderKind.FLATTEN],
            "orders_manual": kinds[OrderKind.MANUAL],
            "fills": len(broker.fills),
            "brackets_opened": len(entries),
            "brackets_closed": len(closed),
            "restart_orders": self.restart_orders,
            "exits_replaced_by_restarts": self.exits_replaced,
            "short_positions_by_restart": sum(
                1
                for v in self.violations
                if v.kind == "short_position"
                and v.details.get("placed_by_restart_of_round") is not None
            ),
        }


def _when(violation: Violation, when: str) -> Violation:
    return replace(violation, details={**violation.details, "when": when})
