"""The pieces of a bracket's exits: each exit role (a slot) and the orders that carried it,
and the checks a bracket's plan must pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engine.messages.orders import SubmitBracket
from engine.messages.trading import OrderStatus, OrderType
from engine.orders.exits import to_decimal

__all__ = ["ExitSlot", "LegOrder", "bracket_problems"]


@dataclass
class LegOrder:
    """One exit order as the bracket asked for it and heard back about it."""

    client_order_id: str
    requested_qty: int
    requested_trigger: Decimal | None
    requested_price: Decimal | None
    filled: int = 0
    working: bool = False
    """The venue acknowledged it: it can be modified."""
    ended: OrderStatus | None = None
    cancel_requested: bool = False

    @property
    def live(self) -> bool:
        return self.ended is None

    @property
    def ended_as_planned(self) -> bool:
        """Ended by filling, or because the bracket (or the user) asked it to."""
        return self.ended is OrderStatus.FILLED or self.cancel_requested


@dataclass
class ExitSlot:
    """One exit role (the stop, a target, the market close) and its orders, newest last."""

    role: str
    order_type: OrderType
    trigger: Decimal | None = None
    price: Decimal | None = None
    fraction: Decimal | None = None
    orders: list[LegOrder] = field(default_factory=list)
    released: bool = False
    """Left to the user: never placed, moved or re-placed again."""
    lost: bool = False
    """Its order ended without filling, not at our request: given up."""

    @property
    def current(self) -> LegOrder | None:
        return self.orders[-1] if self.orders else None

    @property
    def filled(self) -> int:
        return sum(order.filled for order in self.orders)

    @property
    def live(self) -> bool:
        current = self.current
        return current is not None and current.live


def bracket_problems(command: SubmitBracket) -> list[str]:
    """What makes ``command`` unmanageable, one line each; empty when it is fine."""
    plan = command.exits
    problems: list[str] = []
    if plan.target is not None and plan.partial_targets:
        problems.append("give either exits.target or exits.partial_targets, not both")
    for name in ("stop", "target", "trailing_distance"):
        value = getattr(plan, name)
        if value is not None and not value > 0:
            problems.append(f"exits.{name} must be > 0, got {value}")
    if plan.stop_pct is not None:
        if not (plan.stop_pct.is_finite() and 0 < plan.stop_pct < 100):
            problems.append(f"exits.stop_pct must be in (0, 100), got {plan.stop_pct}")
        if plan.stop is not None:
            problems.append("give either exits.stop or exits.stop_pct, not both")
        if plan.trailing_distance is not None or plan.trailing_atr_multiple is not None:
            problems.append(
                "give either exits.stop_pct or a trailing stop (whose floor is exits.stop)"
            )
    fractions = [to_decimal(t.fraction) for t in plan.partial_targets]
    for target, fraction in zip(plan.partial_targets, fractions, strict=True):
        if not 0 < fraction <= 1:
            problems.append(f"exits.partial_targets fraction must be in (0, 1], got {fraction}")
        if not target.price > 0:
            problems.append(f"exits.partial_targets price must be > 0, got {target.price}")
    if sum(fractions, Decimal(0)) > 1:
        problems.append(f"exits.partial_targets fractions add up to {sum(fractions)}, above 1")
    if plan.trailing_distance is not None and plan.trailing_atr_multiple is not None:
        problems.append("give either exits.trailing_distance or exits.trailing_atr_multiple")
    if plan.trailing_atr_multiple is not None and (
        plan.atr is None or not plan.atr > 0 or not plan.trailing_atr_multiple > 0
    ):
        problems.append(
            "exits.trailing_atr_multiple needs a positive multiple and a positive exits.atr, "
            f"got {plan.trailing_atr_multiple} x {plan.atr}"
        )
    for name, value in (
        ("exits.time_stop_ns", plan.time_stop_ns),
        ("entry_timeout_ns", command.entry_timeout_ns),
    ):
        if value is not None and value <= 0:
            problems.append(f"{name} must be > 0 ns, got {value}")
    return problems
