"""Risk: the limits, the pre-trade checks, sizing and the order-rate bucket the risk
supervisor (:mod:`actors.risk`) is built from.

* :class:`RiskLimits`: every limit with its documented default (the ``[risk]`` table);
* :func:`first_denial` over :data:`CHECKS`: the pure checks, in their declared order;
* :func:`size_entry`: fixed quantity, fixed notional, percent risk or ATR sizing, rounded
  down to the lot;
* :class:`TokenBucket`: the order rate in exact integer nanoseconds;
* :class:`Exposure`: positions, stops and working orders as the supervisor follows them;
* :class:`TradingDay`: equity, the day's P&L and entries, the losing streak;
* :class:`MarketHours`: open or closed, the entry cutoff and the square-off, per market;
* :func:`plan_entry` / :func:`plan_manual`: an intent or a manual order made into an order;
* :class:`DescribeRisk` / :class:`RiskReport` and :class:`FlattenOrdered`: its messages.
"""

from engine.risk.checks import (
    CHECKS,
    MOMENT_CHECKS,
    CheckRow,
    Denial,
    Failure,
    OrderProposal,
    RiskView,
    figure,
    first_denial,
)
from engine.risk.day import TradingDay
from engine.risk.exposure import Exposure, WorkingOrder
from engine.risk.limits import SIZING_METHODS, RiskLimits, SizingMethod, decimal_of, local_time
from engine.risk.messages import DescribeRisk, FlattenOrdered, RiskReport, RiskUsage
from engine.risk.proposals import EntryPlan, ManualPlan, Refusal, plan_entry, plan_manual
from engine.risk.sessions import MarketHours, cutoff_at, market_status, next_square_off
from engine.risk.sizing import Size, round_to_lot, size_entry, split_by_freeze
from engine.risk.token_bucket import TokenBucket

__all__ = [
    "CHECKS",
    "MOMENT_CHECKS",
    "SIZING_METHODS",
    "CheckRow",
    "Denial",
    "DescribeRisk",
    "EntryPlan",
    "Exposure",
    "Failure",
    "FlattenOrdered",
    "ManualPlan",
    "MarketHours",
    "OrderProposal",
    "Refusal",
    "RiskLimits",
    "RiskReport",
    "RiskUsage",
    "RiskView",
    "Size",
    "SizingMethod",
    "TokenBucket",
    "TradingDay",
    "WorkingOrder",
    "cutoff_at",
    "decimal_of",
    "figure",
    "first_denial",
    "local_time",
    "market_status",
    "next_square_off",
    "plan_entry",
    "plan_manual",
    "round_to_lot",
    "size_entry",
    "split_by_freeze",
]
