"""What a backtest's report says it ran: the settings table and the title, for both forms of
``troupe backtest`` (the same keys, in the same order, whichever built the plan)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from actors.strategies import strategy_class
from engine.backtest.plan import BacktestPlan
from engine.config.schema import StrategyConfig

DATA_INTERVAL = "the data's"
"""The interval shown for strategies that take their files' (the run fills it in)."""


def listed(names: Sequence[str], limit: int = 5) -> str:
    """``a, b, c`` or ``a, b and 3 more``."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


def described(config: StrategyConfig, strategy_id: str, params: dict[str, Any]) -> str:
    """``sma_cross (fast=10, slow=30, ...)``, with its id and instruments when it has them."""
    name = strategy_id if strategy_id == config.use else f"{strategy_id} = {config.use}"
    values = ", ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in params.items()
    )
    on = f" on {', '.join(config.instruments)}" if config.instruments else ""
    return f"{name} ({values}){on}"


def plan_settings(
    plan: BacktestPlan, strategies: Sequence[str], *, risk_on: bool, data: str = ""
) -> tuple[tuple[str, str], ...]:
    """The report's settings table: ``strategies`` as :func:`described` gives them; ``data``
    names the file of a one-instrument run."""
    limits = plan.limits
    fees = plan.fees
    fee_text = " ".join(
        [fees.model]
        + [
            f"{name}={getattr(fees, name)}"
            for name in ("rate", "minimum", "maximum", "table")
            if getattr(fees, name) is not None
        ]
    )
    sizing = (
        ("qty", str(limits.sizing_quantity))
        if limits.sizing == "fixed_qty"
        else ("sizing", limits.sizing)
    )
    if not limits.square_off:
        square_off = "off"
    elif plan.calendar is None:
        square_off = "none (no calendar)"
    else:
        square_off = limits.square_off.get(plan.calendar, f"none for {plan.calendar}")
    intervals = sorted({s.interval for s in plan.strategies if s.interval})
    rows = (
        ("strategies", "; ".join(strategies)),
        ("instruments", listed([d.instrument for d in plan.data], limit=10)),
        ("interval", ", ".join(intervals) or DATA_INTERVAL),
        ("cash", f"{plan.cash} {plan.currency}"),
        ("fees", fee_text),
        ("risk", "on" if risk_on else "off (available cash only)"),
        sizing,
        ("stop_loss_pct", f"{limits.stop_loss_pct:g}" if limits.stop_loss_pct else "none"),
        ("calendar", plan.calendar or "none (every bar in session)"),
        ("square_off", square_off),
        ("from", plan.start.isoformat() if plan.start else "first bar"),
        ("to", plan.end.isoformat() if plan.end else "last bar"),
    )
    return (*rows, ("data", data)) if data else rows


def plan_title(plan: BacktestPlan) -> str:
    """``sma_cross on NSE:INFY``, ``sma_cross, rsi on 12 instruments``."""
    ids: list[str] = []
    for entry in plan.strategies:
        name = entry.id or _name(entry.use)
        if name not in ids:
            ids.append(name)
    where = plan.data[0].instrument if len(plan.data) == 1 else f"{len(plan.data)} instruments"
    return f"{', '.join(ids)} on {where}"


def _name(use: str) -> str:
    # A strategy that does not load is reported by the run that needs it, not by its title.
    try:
        return strategy_class(use).name
    except (ValueError, ImportError, AttributeError, TypeError):
        return use
