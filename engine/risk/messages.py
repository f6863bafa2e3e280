"""The risk supervisor's own messages: its report for ``GET /api/v1/risk`` and what a flatten
did. (Its denials, :class:`~engine.messages.risk.RiskDenied`, are in the catalogue.)"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.messages.base import Command, Event, Report
from engine.messages.risk import RiskDenied
from engine.messages.runtime import TradingState
from engine.messages.trading import SubmitOrder
from engine.risk.limits import RiskLimits


class DescribeRisk(Command, frozen=True, kw_only=True):
    """Ask the risk supervisor for its limits, usage, state and recent denials; answered
    with :class:`RiskReport`."""


class RiskUsage(msgspec.Struct, frozen=True, kw_only=True):
    """How much of each limit is used. Money in the account's currency."""

    open_trades: int
    """Instruments with a position or a working entry."""
    open_orders: int
    """Orders that may still fill, exits included. ``GET risk`` gives the router's count,
    which is every order: entries, a bracket's stop and target, closing orders (exit
    signals, flatten, square-off) and manual orders. The supervisor on its own counts the
    orders it sent (entries and closing orders; the router places a bracket's stop and
    target)."""
    open_entries: int
    """Entries the supervisor sent that may still fill (strategies' and manual): what adds to
    a position."""
    trades_today: int
    """Entries sent this trading day (minus those the venue rejected)."""
    heat: Decimal
    """Risk to their stops of the open positions and working entries."""
    max_heat: Decimal
    """``max_portfolio_heat_pct`` of equity (0: no limit)."""
    order_tokens: int
    """Entries that may be sent at once now (the order-rate bucket)."""
    consecutive_losses: int
    cooldown_until_ns: int | None
    """When the losing streak's cooldown ends (ns, UTC); ``None``: none running."""
    equity: Decimal
    start_equity: Decimal
    """Equity at the start of the trading day."""
    daily_pnl: Decimal
    """Today's realised + unrealised P&L."""
    daily_loss_limit: Decimal | None
    """The loss past which the day is flattened and halted; ``None``: no limit."""
    daily_loss_breached: bool


class RiskReport(Report, frozen=True, kw_only=True):
    """The answer to :class:`DescribeRisk`."""

    state: TradingState
    limits: RiskLimits
    usage: RiskUsage
    recent_denials: list[RiskDenied]
    """The last ``limits.recent_denials`` denials, oldest first."""


class FlattenOrdered(Event, frozen=True, kw_only=True):
    """The supervisor canceled the working orders and sent orders closing the positions (kill
    switch, daily loss limit or square-off). Published on ``risk`` and answers
    :class:`~engine.messages.trading.FlattenAll`; the fills follow on ``orders``."""

    reason: str
    calendar: str | None = None
    """The market squared off; ``None`` for every market (kill switch, daily loss)."""
    closing_orders: list[SubmitOrder] = msgspec.field(default_factory=list)
    halted: bool
    """Whether ``HaltTrading`` was sent (not for a square-off)."""
