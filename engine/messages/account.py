"""The account as the ledger keeps it: cash, equity and P&L, exact to the minor unit."""

from __future__ import annotations

from decimal import Decimal

from engine.messages.base import Event

TOPIC_ACCOUNT = "account"
"""Every ``AccountChanged``."""


class AccountChanged(Event, frozen=True, kw_only=True):
    """The ledger's account after a fill or a mark to market. Money in ``currency``, rounded to
    its minor unit; ``equity = cash + market value of the positions``."""

    currency: str
    cash: Decimal
    equity: Decimal
    realized_pnl: Decimal
    """Today's realised P&L after fees."""
    unrealized_pnl: Decimal
    fees: Decimal
    """Today's fees."""
    open_positions: int
    """Instruments with a non-zero position."""
