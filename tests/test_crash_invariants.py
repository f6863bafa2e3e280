"""The crash suite's checkers on hand-made tables: each invariant holds on a clean book and is
broken by the defect it is there to catch (a doubled fill, a short position, an exit of a
closed bracket re-placed by a restart...), so the checkers themselves can fail."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from bench.crash import CrashPlan
from bench.crash_books import audit_facts, broker_book, journal_book
from bench.crash_invariants import (
    Book,
    Fill,
    Order,
    OrderKind,
    Violation,
    books_agree,
    bracket_open,
    fills_agree,
    fills_once,
    ids_unique,
    netted,
    no_short,
    parse_order_id,
)
from bench.crash_orders import manual_order
from bench.crash_plan import plan_rounds
from bench.crash_restarts import Incarnation, KillSnapshot, judge_life, state_journaled

SBIN = "NSE:SBIN"
INFY = "NSE:INFY"
SPAWN = 2_000_000_000_000
"""The restarted process's spawn (ns); everything before it happened before the kill."""
ENTRY = f"sma_cross:{SBIN}:1000000000000:0:entry"
OLD_EXIT = f"sma_cross:{SBIN}:1500000000000:0:exit"
MANUAL = "crash-7-"
SECOND = 1_000_000_000


def fill(
    trade: int,
    order_id: str,
    side: str,
    qty: int,
    ts: int,
    *,
    instrument: str = SBIN,
    price: str = "800.00",
    fee: str = "1.00",
) -> Fill:
    return Fill(
        trade_id=f"paper-T{trade:010d}",
        client_order_id=order_id,
        instrument=instrument,
        side=side,
        quantity=qty,
        price=Decimal(price),
        fee=Decimal(fee),
        ts_ns=ts,
    )


def order(
    order_id: str,
    side: str,
    qty: int,
    created: int,
    *,
    seq: int,
    status: str = "FILLED",
    filled: int | None = None,
    instrument: str = SBIN,
) -> Order:
    return Order(
        client_order_id=order_id,
        instrument=instrument,
        side=side,
        quantity=qty,
        status=status,
        filled_qty=qty if filled is None and status == "FILLED" else (filled or 0),
        created_ns=created,
        seq=seq,
        venue_order_id=f"paper-{seq}",
    )


def broker(orders: list[Order], fills: list[Fill]) -> Book:
    positions, cash = netted(fills, Decimal(1_000_000))
    return Book(
        "broker",
        orders={o.client_order_id: o for o in orders},
        fills=fills,
        positions={i: q for i, q in positions.items() if q},
        cash=cash,
    )


# A bracket entered at t=1000 s, closed by an exit signal at t=1500 s (its stop and target
# canceled), then the kill.
CLOSED_ORDERS = [
    order(ENTRY, "BUY", 100, 1000 * SECOND, seq=1),
    order(f"{ENTRY}:stop", "SELL", 100, 1000 * SECOND + 1, seq=2, status="CANCELED"),
    order(f"{ENTRY}:target", "SELL", 100, 1000 * SECOND + 2, seq=3, status="CANCELED"),
    order(OLD_EXIT, "SELL", 100, 1500 * SECOND, seq=4),
]
CLOSED_FILLS = [
    fill(1, ENTRY, "BUY", 100, 1000 * SECOND),
    fill(2, OLD_EXIT, "SELL", 100, 1500 * SECOND),
]
# The same bracket still open at the kill: its stop working.
OPEN_ORDERS = [
    order(ENTRY, "BUY", 100, 1000 * SECOND, seq=1),
    order(f"{ENTRY}:stop", "SELL", 100, 1000 * SECOND + 1, seq=2, status="ACCEPTED"),
]
OPEN_FILLS = [fill(1, ENTRY, "BUY", 100, 1000 * SECOND)]


def snapshot(
    orders: list[Order],
    fills: list[Fill],
    *,
    journal_open: frozenset[str] = frozenset(),
    state: str = "ACTIVE",
) -> KillSnapshot:
    return KillSnapshot(
        round=0,
        kill_ns=SPAWN - SECOND,
        broker=broker(orders, fills),
        journal_orders=frozenset(o.client_order_id for o in orders),
        journal_open=journal_open,
        state=state,
    )


def life(
    *,
    reconciled: int | None = SPAWN + SECOND,
    api_state: str | None = "ACTIVE",
    resumed: int | None = None,
) -> Incarnation:
    return Incarnation(
        round=1,
        spawn_ns=SPAWN,
        reconciled_ns=reconciled,
        api_state=api_state,
        resumed_ns=resumed,
        manual_prefix=MANUAL,
        decision_grace_ns=2 * SECOND,
    )


def kinds(violations: Sequence[Violation]) -> list[str]:
    return [v.kind for v in violations]


# -- ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_id", "kind", "decision_ns", "entry_id", "role"),
    [
        (ENTRY, OrderKind.ENTRY, 1000000000000, None, None),
        (OLD_EXIT, OrderKind.SIGNAL_EXIT, 1500000000000, None, None),
        (f"{OLD_EXIT}:2", OrderKind.SIGNAL_EXIT, 1500000000000, None, None),
        (f"{ENTRY}:stop", OrderKind.BRACKET_EXIT, None, ENTRY, "stop"),
        (f"{ENTRY}:stop.2", OrderKind.BRACKET_EXIT, None, ENTRY, "stop.2"),
        (f"{ENTRY}:target2", OrderKind.BRACKET_EXIT, None, ENTRY, "target2"),
        (f"{ENTRY}:flat", OrderKind.BRACKET_EXIT, None, ENTRY, "flat"),
        (f"flatten:77:{SBIN}", OrderKind.FLATTEN, 77, None, None),
        (f"square-off:78:{SBIN}:2", OrderKind.FLATTEN, 78, None, None),
        ("crash-7-000012", OrderKind.MANUAL, None, None, None),
        ("crash-7-000012:stop", OrderKind.BRACKET_EXIT, None, "crash-7-000012", "stop"),
        ("someone-else", OrderKind.OTHER, None, None, None),
    ],
)
def test_order_ids_are_read_by_their_shape(
    order_id: str, kind: OrderKind, decision_ns: int | None, entry_id: str | None, role: str | None
) -> None:
    parsed = parse_order_id(order_id, MANUAL)

    assert (parsed.kind, parsed.decision_ns, parsed.entry_id, parsed.role) == (
        kind,
        decision_ns,
        entry_id,
        role,
    )


# -- 1: fills -------------------------------------------------------------------------------


def test_fills_in_both_records_agree() -> None:
    fills = [fill(1, ENTRY, "BUY", 100, 1), fill(2, OLD_EXIT, "SELL", 100, 2)]

    assert fills_agree(fills, list(fills), kind="fill_lost", holder_name="journal") == []


def test_a_broker_execution_missing_from_the_journal_is_a_lost_fill() -> None:
    at_broker = [fill(1, ENTRY, "BUY", 100, 1), fill(2, OLD_EXIT, "SELL", 100, 2)]

    found = fills_agree(at_broker, at_broker[:1], kind="fill_lost", holder_name="journal")

    assert kinds(found) == ["fill_lost"]
    assert found[0].details["trade_id"] == "paper-T0000000002"


def test_a_fill_that_differs_between_records_is_found() -> None:
    one = fill(1, ENTRY, "BUY", 100, 1)
    other = fill(1, ENTRY, "BUY", 90, 1)

    found = fills_agree([one], [other], kind="fill_unknown_to_broker", holder_name="broker")

    assert kinds(found) == ["fill_differs"]


def test_a_doubled_fill_is_found_by_trade_id_and_by_units() -> None:
    twice = fill(1, ENTRY, "BUY", 100, 1)
    book = Book(
        "journal",
        orders={ENTRY: order(ENTRY, "BUY", 100, 1, seq=1)},
        fills=[twice, twice],
    )

    found = fills_once(book)

    assert kinds(found) == ["fill_doubled", "fill_doubled"]
    assert found[1].details == {
        "source": "journal",
        "client_order_id": ENTRY,
        "filled_by_fills": 200,
        "quantity": 100,
    }


def test_fills_short_of_an_orders_own_count_are_a_mismatch() -> None:
    book = Book(
        "journal",
        orders={ENTRY: order(ENTRY, "BUY", 100, 1, seq=1)},
        fills=[fill(1, ENTRY, "BUY", 60, 1)],
    )

    assert kinds(fills_once(book)) == ["filled_qty_mismatch"]


# -- 2 and 3: books and ids ----------------------------------------------------------------


def test_netted_fills_give_positions_and_cash() -> None:
    fills = [
        fill(1, ENTRY, "BUY", 10, 1, price="100.05", fee="1.10"),
        fill(2, OLD_EXIT, "SELL", 4, 2, price="101.00", fee="0.40"),
        fill(3, "x", "BUY", 3, 3, instrument=INFY, price="50.00", fee="0"),
    ]

    positions, cash = netted(fills, Decimal("1000"))

    assert positions == {SBIN: 6, INFY: 3}
    assert cash == Decimal("1000") - Decimal("1000.50") - Decimal("1.10") + Decimal(
        "404.00"
    ) - Decimal("0.40") - Decimal("150.00")


def test_books_that_agree_give_nothing() -> None:
    books = [
        Book("broker", positions={SBIN: 5}, cash=Decimal("10.50")),
        Book("journal", positions={SBIN: 5}, cash=Decimal("10.5")),
        Book("api", positions={SBIN: 5}, cash=Decimal("10.50")),
    ]

    assert books_agree(books) == []


def test_a_position_or_cash_that_differs_is_found() -> None:
    books = [
        Book("broker", positions={SBIN: 5, INFY: 2}, cash=Decimal("10.50")),
        Book("journal", positions={SBIN: 5}, cash=Decimal("10.50")),
        Book("api", positions={SBIN: 5, INFY: 2}, cash=Decimal("11.00")),
    ]

    found = books_agree(books)

    assert kinds(found) == ["position_mismatch", "cash_mismatch"]
    assert found[0].details == {"instrument": INFY, "broker": 2, "journal": 0, "api": 2}


def test_a_repeated_id_is_found() -> None:
    found = ids_unique(
        "api", {"client_order_id": ["a", "b", "a"], "trade_id": ["t1", "t2", "t2", "t2"]}
    )

    assert kinds(found) == ["duplicate_order_id", "duplicate_trade_id"]
    assert found[1].details["count"] == 3


# -- 5: short positions ----------------------------------------------------------------------


def test_a_long_only_book_never_short_gives_nothing() -> None:
    assert no_short(CLOSED_FILLS) == []


def test_a_short_position_is_found_with_the_fill_that_made_it() -> None:
    fills = [*CLOSED_FILLS, fill(3, f"{ENTRY}:stop.2", "SELL", 100, 2100 * SECOND)]

    found = no_short(fills, {f"{ENTRY}:stop.2": 1})

    assert kinds(found) == ["short_position"]
    assert found[0].details["position_after"] == -100
    assert found[0].details["client_order_id"] == f"{ENTRY}:stop.2"
    assert found[0].details["placed_by_restart_of_round"] == 1


def test_a_short_is_reported_once_until_the_position_is_back() -> None:
    fills = [
        fill(1, "s1", "SELL", 5, 1),
        fill(2, "s2", "SELL", 5, 2),
        fill(3, "b1", "BUY", 10, 3),
        fill(4, "s3", "SELL", 1, 4),
    ]

    assert [v.details["trade_id"] for v in no_short(fills)] == [
        "paper-T0000000001",
        "paper-T0000000004",
    ]


# -- 4: brackets -----------------------------------------------------------------------------


def test_a_bracket_is_open_while_its_position_stands() -> None:
    assert bracket_open(ENTRY, OPEN_FILLS)


def test_a_bracket_closed_by_an_exit_signal_is_closed() -> None:
    assert not bracket_open(ENTRY, CLOSED_FILLS)


def test_a_bracket_closed_by_its_own_stop_is_closed() -> None:
    fills = [*OPEN_FILLS, fill(2, f"{ENTRY}:stop", "SELL", 100, 1100 * SECOND)]

    assert not bracket_open(ENTRY, fills)


def test_a_bracket_never_filled_holds_nothing() -> None:
    assert not bracket_open(ENTRY, [])


def test_a_position_that_came_back_to_flat_closed_the_bracket_even_if_reopened() -> None:
    fills = [
        *CLOSED_FILLS,
        fill(3, f"sma_cross:{SBIN}:1600000000000:0:entry", "BUY", 50, 1600 * SECOND),
    ]

    assert not bracket_open(ENTRY, fills)


def test_a_restart_that_replaces_the_exits_of_a_closed_bracket_is_caught() -> None:
    before = snapshot(CLOSED_ORDERS, CLOSED_FILLS)
    stop2 = order(f"{ENTRY}:stop.2", "SELL", 100, SPAWN + 10, seq=5)
    target2 = order(f"{ENTRY}:target.2", "SELL", 100, SPAWN + 11, seq=6, status="CANCELED")
    after = broker(
        [*CLOSED_ORDERS, stop2, target2],
        [*CLOSED_FILLS, fill(3, stop2.client_order_id, "SELL", 100, SPAWN + 20)],
    )

    verdict = judge_life(before, life(), after)

    assert kinds(verdict.violations) == [
        "exit_of_closed_bracket",
        "exit_of_closed_bracket",
        "position_opened_by_restart",
    ]
    assert verdict.violations[0].details["entry_id"] == ENTRY
    assert verdict.violations[0].details["before_first_decision"] is True
    assert verdict.violations[2].details["position_after"] == -100
    assert verdict.restart_orders == [stop2.client_order_id, target2.client_order_id]


def test_a_restart_that_replaces_the_stop_of_an_open_bracket_is_allowed() -> None:
    before = snapshot(OPEN_ORDERS, OPEN_FILLS)
    stop2 = order(f"{ENTRY}:stop.2", "SELL", 100, SPAWN + 10, seq=3, status="ACCEPTED")

    verdict = judge_life(before, life(), broker([*OPEN_ORDERS, stop2], OPEN_FILLS))

    assert verdict.violations == []
    assert verdict.exits_replaced == [stop2.client_order_id]


def test_an_exit_larger_than_the_open_position_is_caught_when_it_fills() -> None:
    before = snapshot(OPEN_ORDERS, OPEN_FILLS)
    flat = order(f"{ENTRY}:flat", "SELL", 150, SPAWN + 10, seq=3)
    after = broker(
        [*OPEN_ORDERS, flat], [*OPEN_FILLS, fill(2, flat.client_order_id, "SELL", 150, SPAWN + 20)]
    )

    verdict = judge_life(before, life(), after)

    assert kinds(verdict.violations) == ["position_opened_by_restart"]


def test_an_order_open_in_the_journal_at_the_kill_may_be_sent_again() -> None:
    recorded = f"{ENTRY}:target"
    before = snapshot(OPEN_ORDERS, OPEN_FILLS, journal_open=frozenset({recorded}))
    sent = order(recorded, "SELL", 100, 1000 * SECOND + 2, seq=3, status="ACCEPTED")

    verdict = judge_life(before, life(), broker([*OPEN_ORDERS, sent], OPEN_FILLS))

    assert verdict.violations == []
    assert verdict.placed_by_restart == [recorded]


def test_a_close_the_journal_took_before_the_kill_may_be_sent_after_it() -> None:
    """The router records each ``ClosePosition`` as it takes it; a restart sends one that had
    not gone when the process died (the kill switch's closes, an exit signal's)."""
    close_id = f"flatten:{1500 * SECOND}:{INFY}"
    taken = dataclasses.replace(
        snapshot(OPEN_ORDERS, OPEN_FILLS), closes_taken=frozenset({close_id})
    )
    untaken = snapshot(OPEN_ORDERS, OPEN_FILLS)
    sent = order(close_id, "SELL", 10, SPAWN + SECOND, seq=3, instrument=INFY)
    after = broker([*OPEN_ORDERS, sent], OPEN_FILLS)

    assert judge_life(taken, life(), after).violations == []
    assert kinds(judge_life(untaken, life(), after).violations) == ["unexplained_order"]


def test_a_decision_from_before_the_kill_sent_late_is_unexplained() -> None:
    before = snapshot(CLOSED_ORDERS, CLOSED_FILLS)
    late = order(
        f"sma_cross:{INFY}:1900000000000:0:entry",
        "BUY",
        10,
        SPAWN + 5 * SECOND,
        seq=5,
        instrument=INFY,
    )

    verdict = judge_life(before, life(), broker([*CLOSED_ORDERS, late], CLOSED_FILLS))

    assert kinds(verdict.violations) == ["unexplained_order"]


def test_new_decisions_and_their_exits_are_allowed() -> None:
    before = snapshot(CLOSED_ORDERS, CLOSED_FILLS)
    entry = f"sma_cross:{SBIN}:{SPAWN + 3 * SECOND}:0:entry"
    orders = [
        order(entry, "BUY", 10, SPAWN + 3 * SECOND, seq=5),
        order(f"{entry}:stop", "SELL", 10, SPAWN + 3 * SECOND + 1, seq=6, status="ACCEPTED"),
        order("crash-7-000031", "BUY", 2, SPAWN + 4 * SECOND, seq=7),
        order(f"flatten:{SPAWN + 5 * SECOND}:{SBIN}", "SELL", 12, SPAWN + 5 * SECOND, seq=8),
    ]
    fills = [
        *CLOSED_FILLS,
        fill(3, entry, "BUY", 10, SPAWN + 3 * SECOND),
        fill(4, "crash-7-000031", "BUY", 2, SPAWN + 4 * SECOND),
        fill(5, orders[3].client_order_id, "SELL", 12, SPAWN + 5 * SECOND),
    ]

    verdict = judge_life(before, life(), broker([*CLOSED_ORDERS, *orders], fills))

    assert verdict.violations == []
    assert verdict.restart_orders == []
    assert verdict.entries == 2


# -- 6 and 7: held states, reconciliation ---------------------------------------------------


def _entry_after_restart(at: int) -> tuple[Order, Fill]:
    entry = f"sma_cross:{SBIN}:{at}:0:entry"
    return order(entry, "BUY", 10, at, seq=9), fill(9, entry, "BUY", 10, at)


def test_a_halt_lost_by_a_restart_is_caught_with_the_entries_it_let_through() -> None:
    before = snapshot(CLOSED_ORDERS, CLOSED_FILLS, state="HALTED")
    entry, entry_fill = _entry_after_restart(SPAWN + 3 * SECOND)
    after = broker([*CLOSED_ORDERS, entry], [*CLOSED_FILLS, entry_fill])

    verdict = judge_life(before, life(api_state="ACTIVE", resumed=SPAWN + 9 * SECOND), after)

    assert kinds(verdict.violations) == ["state_lost", "entry_while_held"]
    assert verdict.violations[0].details == {
        "state_at_kill": "HALTED",
        "journal_state_at_kill": "HALTED",
        "state_after_restart": "ACTIVE",
    }


def test_a_kept_pause_and_entries_after_the_resume_are_fine() -> None:
    before = snapshot(CLOSED_ORDERS, CLOSED_FILLS, state="REDUCING")
    entry, entry_fill = _entry_after_restart(SPAWN + 3 * SECOND)
    after = broker([*CLOSED_ORDERS, entry], [*CLOSED_FILLS, entry_fill])

    verdict = judge_life(before, life(api_state="REDUCING", resumed=SPAWN + 2 * SECOND), after)

    assert verdict.violations == []


def test_a_state_shown_but_not_journaled_is_caught_and_expected_back() -> None:
    before = replace(snapshot(CLOSED_ORDERS, CLOSED_FILLS), api_state="REDUCING")

    verdict = judge_life(before, life(api_state="ACTIVE"), broker(CLOSED_ORDERS, CLOSED_FILLS))

    assert kinds(state_journaled(before)) == ["state_not_journaled"]
    assert kinds(verdict.violations) == ["state_lost"]
    assert state_journaled(replace(before, api_state="ACTIVE")) == []


def test_a_manual_sell_while_paused_is_no_entry() -> None:
    before = snapshot(OPEN_ORDERS, OPEN_FILLS, state="REDUCING")
    sell = order("crash-7-000040", "SELL", 5, SPAWN + 3 * SECOND, seq=3)
    after = broker(
        [*OPEN_ORDERS, sell],
        [*OPEN_FILLS, fill(2, "crash-7-000040", "SELL", 5, SPAWN + 3 * SECOND)],
    )

    verdict = judge_life(before, life(api_state="REDUCING"), after)

    assert verdict.violations == []
    assert verdict.entries == 0


def test_an_entry_before_the_reconciliation_report_is_caught() -> None:
    before = snapshot(CLOSED_ORDERS, CLOSED_FILLS)
    entry, entry_fill = _entry_after_restart(SPAWN + SECOND // 2)
    after = broker([*CLOSED_ORDERS, entry], [*CLOSED_FILLS, entry_fill])

    late = judge_life(before, life(reconciled=SPAWN + SECOND), after)
    never = judge_life(before, life(reconciled=None), after)
    in_time = judge_life(before, life(reconciled=SPAWN + SECOND // 4), after)

    assert kinds(late.violations) == ["entry_before_reconciliation"]
    assert kinds(never.violations) == ["entry_before_reconciliation"]
    assert in_time.violations == []


def test_the_first_start_judges_entries_against_its_reconciliation_only() -> None:
    entry, entry_fill = _entry_after_restart(SPAWN + 3 * SECOND)
    after = broker([entry], [entry_fill])

    verdict = judge_life(KillSnapshot.first(), life(reconciled=SPAWN + SECOND), after)

    assert verdict.violations == []
    assert verdict.new_orders == 1


# -- the readers, on hand-made files ----------------------------------------------------------


def _database(path: Path, script: str) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(script)
    return path


def test_the_journal_state_is_its_last_persisting_change(tmp_path: Path) -> None:
    path = _database(
        tmp_path / "troupe.db",
        """
        CREATE TABLE audit_events (id INTEGER PRIMARY KEY, kind TEXT, message TEXT,
            detail BLOB, ts_event INTEGER);
        INSERT INTO audit_events (kind, message, detail, ts_event) VALUES
            ('ReconciliationReport', '', '{}', 10),
            ('TradingStateChanged', '', '{"state": "HALTED"}', 20),
            ('TradingStateChanged', '', '{"state": "REDUCING", "persists": false}', 30),
            ('ReconciliationReport', '', '{}', 40);
        """,
    )

    facts = audit_facts(path)

    assert facts.state() == "HALTED"
    assert facts.first_reconciliation_since(11) == 40
    assert facts.first_reconciliation_since(41) is None


def test_the_books_are_read_from_plain_tables(tmp_path: Path) -> None:
    paper = _database(
        tmp_path / "paper_broker.db",
        """
        CREATE TABLE paper_orders (client_order_id TEXT, venue_order_id TEXT, seq INTEGER,
            instrument TEXT, side TEXT, status TEXT, quantity INTEGER, filled_qty INTEGER,
            ts_created INTEGER);
        CREATE TABLE paper_fills (trade_id TEXT, client_order_id TEXT, instrument TEXT,
            side TEXT, quantity INTEGER, price TEXT, fee TEXT, ts_event INTEGER);
        CREATE TABLE paper_positions (instrument TEXT, quantity INTEGER);
        CREATE TABLE paper_account (cash TEXT);
        INSERT INTO paper_orders VALUES ('a', 'paper-1', 1, 'NSE:SBIN', 'BUY', 'FILLED', 3, 3, 5);
        INSERT INTO paper_fills VALUES ('T1', 'a', 'NSE:SBIN', 'BUY', 3, '800.05', '0.10', 6);
        INSERT INTO paper_positions VALUES ('NSE:SBIN', 3), ('NSE:INFY', 0);
        INSERT INTO paper_account VALUES ('997599.75');
        """,
    )
    journal = _database(
        tmp_path / "troupe.db",
        """
        CREATE TABLE orders (client_order_id TEXT, instrument TEXT, side TEXT,
            quantity INTEGER, status TEXT, filled_qty INTEGER, ts_created INTEGER,
            venue_order_id TEXT);
        CREATE TABLE fills (id INTEGER PRIMARY KEY, trade_id TEXT, client_order_id TEXT,
            instrument TEXT, side TEXT, last_qty INTEGER, last_price TEXT, fee TEXT,
            ts_event INTEGER);
        INSERT INTO orders VALUES ('a', 'NSE:SBIN', 'BUY', 3, 'FILLED', 3, 5, 'paper-1');
        INSERT INTO fills (trade_id, client_order_id, instrument, side, last_qty,
            last_price, fee, ts_event) VALUES ('T1', 'a', 'NSE:SBIN', 'BUY', 3, '800.05',
            '0.10', 6);
        """,
    )

    at_broker = broker_book(paper)
    in_journal = journal_book(journal, Decimal("1000000"))

    assert at_broker.positions == {"NSE:SBIN": 3}
    assert books_agree([at_broker, in_journal]) == []
    assert fills_agree(at_broker.fills, in_journal.fills, kind="fill_lost", holder_name="j") == []


# -- the plan --------------------------------------------------------------------------------


def test_rounds_and_manual_orders_are_the_same_for_the_same_seed() -> None:
    plan = CrashPlan(kills=30, sigterms=5, seed=3)

    rounds = plan_rounds(plan)

    assert rounds == plan_rounds(plan)
    assert [r.signal for r in rounds].count("SIGKILL") == 30
    assert [r.signal for r in rounds].count("SIGTERM") == 5
    assert not rounds[0].early
    assert all(r.signal == "SIGKILL" for r in rounds if r.early)
    assert manual_order(3, 17, [SBIN, INFY]) == manual_order(3, 17, [SBIN, INFY])
    assert manual_order(3, 17, [SBIN]).client_order_id == "crash-3-000017"
