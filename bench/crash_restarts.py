"""Invariants 4 to 7 of the crash suite (:mod:`bench.crash_invariants` has the table): what
one incarnation sent to the broker, judged against what the previous one left at its kill.

Pure functions over the rows of :mod:`bench.crash_invariants`. Each order the broker received
after the kill takes one role:

=======================================  =========================================  ============
role                                     when                                       verdict
=======================================  =========================================  ============
new decision                             a strategy's entry or exit, a flatten,      allowed
                                         decided after the spawn (less a grace of
                                         two bars: a signal carries its bar's time);
                                         a manual order the journal did not hold at
                                         the kill
consequence                              an exit of a new decision's bracket, or     allowed
                                         of an entry still working at the kill
asked again                              open in the journal or the API at the kill  allowed
exit of a bracket open at the kill       its position still open then               allowed,
                                         (:func:`~bench.crash_invariants.           counted as
                                         bracket_open`)                             re-placed
exit of a bracket closed at the kill     its own exits had filled it, or the        violation
                                         instrument was flat again after its entry
anything else                            (a decision from before the kill sent      violation
                                         late, an id of no known shape)
=======================================  =========================================  ============

Orders placed by the restart itself (the last four roles) must never take a position further
from flat. An *entry* (an order no exit by its id that takes its instrument further from
flat, by the broker's fills before it) must not reach the broker before the process's first
reconciliation report, nor, when the kill left HALTED or REDUCING, before the suite's resume.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.crash_invariants import (
    HELD_STATES,
    OPEN_STATUSES,
    Book,
    Fill,
    Order,
    OrderId,
    OrderKind,
    Violation,
    bracket_open,
    in_time_order,
    parse_order_id,
    position_before,
    signed,
)

__all__ = ["Incarnation", "KillSnapshot", "LifeVerdict", "judge_life", "state_journaled"]


@dataclass(frozen=True, slots=True)
class KillSnapshot:
    """What the engine held when the suite stopped it: the broker's book as left on disk, the
    journal's orders then, the API's open orders read just before, and the trading state.
    The empty snapshot (:meth:`first`) stands before the first start."""

    round: int
    kill_ns: int
    broker: Book
    journal_orders: frozenset[str]
    """Every order id in the journal at the kill."""
    journal_open: frozenset[str]
    """The journal's orders that may still fill, at the kill."""
    api_open: frozenset[str] = frozenset()
    """``GET orders?status=open`` just before the kill (empty when it did not answer)."""
    closes_taken: frozenset[str] = frozenset()
    """Orders of the closes the journal recorded at the kill (``ClosePosition``): taken by
    the engine before the kill, sent by a restart if they had not gone yet."""
    state: str = "ACTIVE"
    """The journal's last persisting ``TradingStateChanged`` at the kill."""
    api_state: str | None = None
    """``GET state`` just before the kill (``None`` when it did not answer): the state the
    trader was shown, which the journal must hold too."""
    signal: str = "SIGKILL"

    @classmethod
    def first(cls) -> KillSnapshot:
        return cls(-1, 0, Book("broker"), frozenset(), frozenset())

    @property
    def expected_state(self) -> str:
        """The state a restart must come back in: the one the API showed before the kill,
        else the journal's."""
        return self.api_state or self.state

    @property
    def restarted_from(self) -> bool:
        """Whether an incarnation stood before (this is not the empty snapshot)."""
        return self.round >= 0


@dataclass(frozen=True, slots=True)
class Incarnation:
    """One process's life as the suite saw it: when it was spawned and reconciled, the state
    ``GET state`` gave once ready, and when the suite resumed trading."""

    round: int
    spawn_ns: int
    reconciled_ns: int | None
    """The process's first ``ReconciliationReport`` in the journal; ``None``: none."""
    api_state: str | None = None
    """``GET state`` once ready; ``None`` when it never answered."""
    resumed_ns: int | None = None
    """When the suite sent its first ``resume`` in this life; ``None``: it did not."""
    manual_prefix: str = ""
    decision_grace_ns: int = 0
    """A decision stamped up to this long before the spawn is still taken as new (a signal
    carries its bar's time, which may start before the process)."""


@dataclass(slots=True)
class LifeVerdict:
    """What :func:`judge_life` found: violations and the incarnation's figures."""

    violations: list[Violation] = field(default_factory=list)
    new_orders: int = 0
    """Orders the broker received in this life."""
    restart_orders: list[str] = field(default_factory=list)
    """Those received before the first new decision, in order."""
    exits_replaced: list[str] = field(default_factory=list)
    """Exits of brackets still open at the kill, placed again by the restart."""
    entries: int = 0
    placed_by_restart: list[str] = field(default_factory=list)
    """Orders neither a new decision nor live at the kill: re-asked, re-placed exits, the
    unexplained."""


class Role(enum.Enum):
    """An order's role in an incarnation (the module doc's table)."""

    NEW_DECISION = "new decision"
    CONSEQUENCE = "exit of a new decision, or of an entry working at the kill"
    ASKED_AGAIN = "open at the kill, asked again"
    LIVE_EXIT = "exit of a bracket open at the kill"
    CLOSED_EXIT = "exit of a bracket closed at the kill"
    UNEXPLAINED = "unexplained"


PLACED_BY_RESTART = frozenset(
    {Role.ASKED_AGAIN, Role.LIVE_EXIT, Role.CLOSED_EXIT, Role.UNEXPLAINED}
)
MUST_NOT_OPEN = frozenset({Role.LIVE_EXIT, Role.CLOSED_EXIT, Role.UNEXPLAINED})
"""Roles whose fills may not take a position further from flat (an order asked again was
live before the kill: its fills are the old engine's)."""


def _is_new(parsed: OrderId, order_id: str, before: KillSnapshot, life: Incarnation) -> bool:
    if order_id in before.journal_orders:
        return False
    if parsed.kind is OrderKind.MANUAL:
        return True
    return parsed.decision_ns is not None and (
        parsed.decision_ns >= life.spawn_ns - life.decision_grace_ns
    )


def role_of(order: Order, before: KillSnapshot, life: Incarnation) -> Role:
    """The role of ``order``, which the broker received after ``before``."""
    if not before.restarted_from:
        return Role.NEW_DECISION
    order_id = order.client_order_id
    parsed = parse_order_id(order_id, life.manual_prefix)
    if _is_new(parsed, order_id, before, life):
        return Role.NEW_DECISION
    if order_id in before.journal_open or order_id in before.api_open:
        return Role.ASKED_AGAIN
    if order_id in before.closes_taken:
        return Role.ASKED_AGAIN  # a close decided before the kill, sent after it
    if parsed.kind is not OrderKind.BRACKET_EXIT or parsed.entry_id is None:
        return Role.UNEXPLAINED
    entry_id = parsed.entry_id
    at_broker = before.broker.orders.get(entry_id)
    working = entry_id in before.journal_open or (
        at_broker is not None and at_broker.status in OPEN_STATUSES
    )
    if working or _is_new(parse_order_id(entry_id, life.manual_prefix), entry_id, before, life):
        return Role.CONSEQUENCE
    if bracket_open(entry_id, before.broker.fills, life.manual_prefix):
        return Role.LIVE_EXIT
    return Role.CLOSED_EXIT


def is_exit(parsed: OrderId) -> bool:
    """Whether an id names an exit (a bracket's, a signal's, a flatten's)."""
    return parsed.kind in (OrderKind.BRACKET_EXIT, OrderKind.SIGNAL_EXIT, OrderKind.FLATTEN)


def is_entry(order: Order, fills: list[Fill], manual_prefix: str) -> bool:
    """No exit by its id, and taking its instrument further from flat than the broker's
    ``fills`` before its creation left it."""
    if is_exit(parse_order_id(order.client_order_id, manual_prefix)):
        return False
    position = position_before(fills, order.instrument, order.created_ns)
    return position >= 0 if order.side == "BUY" else position <= 0


def _details(order: Order, **more: Any) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "instrument": order.instrument,
        "side": order.side,
        "quantity": order.quantity,
        "status": order.status,
        "filled_qty": order.filled_qty,
        "created_ns": order.created_ns,
        **more,
    }


def judge_life(before: KillSnapshot, life: Incarnation, after: Book) -> LifeVerdict:
    """Invariants 4 to 7 over one incarnation: ``before`` is what the previous one left (the
    empty snapshot before the first start), ``after`` the broker's book once this one was
    stopped. Only orders the broker received after ``before`` are judged."""
    verdict = LifeVerdict()
    new_orders = sorted(
        (o for o in after.orders.values() if o.client_order_id not in before.broker.orders),
        key=lambda o: (o.seq, o.created_ns),
    )
    verdict.new_orders = len(new_orders)
    roles = _judge_orders(new_orders, before, life, verdict)
    _judge_fills(after.fills, roles, before, verdict)
    _judge_entries(new_orders, in_time_order(after.fills), before, life, verdict)
    return verdict


def _judge_orders(
    orders: list[Order], before: KillSnapshot, life: Incarnation, verdict: LifeVerdict
) -> dict[str, Role]:
    """Invariant 4: each order's role; an exit of a closed bracket and an unexplained order
    are violations."""
    roles: dict[str, Role] = {}
    decided = False
    for order in orders:
        role = role_of(order, before, life)
        roles[order.client_order_id] = role
        decided = decided or role is Role.NEW_DECISION
        if not decided:
            verdict.restart_orders.append(order.client_order_id)
        if role in PLACED_BY_RESTART:
            verdict.placed_by_restart.append(order.client_order_id)
        if role is Role.LIVE_EXIT:
            verdict.exits_replaced.append(order.client_order_id)
        elif role is Role.CLOSED_EXIT:
            entry_id = parse_order_id(order.client_order_id, life.manual_prefix).entry_id
            verdict.violations.append(
                Violation(
                    "exit_of_closed_bracket",
                    f"the restart placed {order.client_order_id} ({order.side} "
                    f"{order.quantity} {order.instrument}, {order.status}) for bracket "
                    f"{entry_id}, whose position was closed before the kill",
                    _details(
                        order,
                        entry_id=entry_id,
                        position_at_kill=before.broker.positions.get(order.instrument, 0),
                        before_first_decision=not decided,
                    ),
                )
            )
        elif role is Role.UNEXPLAINED:
            verdict.violations.append(
                Violation(
                    "unexplained_order",
                    f"the restart placed {order.client_order_id}: no new decision, not open "
                    "at the kill, no exit of a bracket open then",
                    _details(order, before_first_decision=not decided),
                )
            )
    return roles


def _judge_fills(
    fills: Sequence[Fill], roles: dict[str, Role], before: KillSnapshot, verdict: LifeVerdict
) -> None:
    """Invariant 5: a fill of an order the restart placed by itself never takes a position
    further from flat (nor across it)."""
    known = {f.trade_id for f in before.broker.fills}
    positions = dict(before.broker.positions)
    for fill in in_time_order(fills):
        if fill.trade_id in known:
            continue
        was = positions.get(fill.instrument, 0)
        now = was + signed(fill)
        positions[fill.instrument] = now
        crossed = was != 0 and now != 0 and (now > 0) != (was > 0)
        if roles.get(fill.client_order_id) in MUST_NOT_OPEN and (abs(now) > abs(was) or crossed):
            verdict.violations.append(
                Violation(
                    "position_opened_by_restart",
                    f"{fill.instrument} went from {was} to {now} with {fill.trade_id} of "
                    f"{fill.client_order_id}, which the restart placed",
                    {
                        "instrument": fill.instrument,
                        "position_before": was,
                        "position_after": now,
                        "position_at_kill": before.broker.positions.get(fill.instrument, 0),
                        "trade_id": fill.trade_id,
                        "client_order_id": fill.client_order_id,
                    },
                )
            )


def _judge_entries(
    orders: list[Order],
    fills: list[Fill],
    before: KillSnapshot,
    life: Incarnation,
    verdict: LifeVerdict,
) -> None:
    """Invariants 6 and 7: a held state kept, and no entry before the resume or before the
    reconciliation."""
    expected = before.expected_state
    held = before.restarted_from and expected in HELD_STATES
    if held and life.api_state is not None and life.api_state != expected:
        verdict.violations.append(
            Violation(
                "state_lost",
                f"{expected} at the kill, {life.api_state} after the restart",
                {
                    "state_at_kill": expected,
                    "journal_state_at_kill": before.state,
                    "state_after_restart": life.api_state,
                },
            )
        )
    for order in orders:
        if not is_entry(order, fills, life.manual_prefix):
            continue
        verdict.entries += 1
        if held and (life.resumed_ns is None or order.created_ns < life.resumed_ns):
            verdict.violations.append(
                Violation(
                    "entry_while_held",
                    f"{order.client_order_id} reached the broker while the state kept from "
                    f"the kill was {expected}, before any resume",
                    _details(order, state_at_kill=expected, resumed_ns=life.resumed_ns),
                )
            )
        if life.reconciled_ns is None or order.created_ns < life.reconciled_ns:
            when = (
                "and the process never reported a reconciliation"
                if life.reconciled_ns is None
                else f"{(life.reconciled_ns - order.created_ns) / 1e6:.1f} ms before the "
                "process's first reconciliation report"
            )
            verdict.violations.append(
                Violation(
                    "entry_before_reconciliation",
                    f"{order.client_order_id} reached the broker {when}",
                    _details(order, spawn_ns=life.spawn_ns, reconciled_ns=life.reconciled_ns),
                )
            )


def state_journaled(snapshot: KillSnapshot) -> list[Violation]:
    """Invariant 6 at the kill: the state the API showed just before it is the journal's
    (a state acknowledged but not recorded would be lost by any restart)."""
    if snapshot.api_state is None or snapshot.api_state == snapshot.state:
        return []
    return [
        Violation(
            "state_not_journaled",
            f"GET state said {snapshot.api_state} before the kill, the journal's last "
            f"persisting state was {snapshot.state}",
            {"api_state": snapshot.api_state, "journal_state": snapshot.state},
        )
    ]
