"""What the book reports: positions and the account, rounded as :mod:`engine.ledger.money`
says. Plain msgspec structs, so the API can encode them as they are (``Decimal`` as strings).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class PositionView(msgspec.Struct, frozen=True, kw_only=True):
    """A position as reported: money in ``currency`` rounded to its minor unit."""

    instrument: str
    strategy: str | None = None
    """The strategy the position is attributed to; ``None`` for the account's (the truth)."""
    quantity: int
    """Signed units: > 0 long, < 0 short, 0 flat."""
    avg_price: Decimal
    """Average entry price of the open quantity; 0 when flat."""
    mark_price: Decimal | None
    """Last price seen for the instrument (a fill, tick or bar close); ``None`` if none yet."""
    market_value: Decimal
    """Signed ``quantity x mark_price``."""
    unrealized_pnl: Decimal
    """P&L of the open quantity at ``mark_price``, before fees."""
    realized_pnl: Decimal
    """Today's realised P&L after today's fees."""
    fees: Decimal
    """Today's fees."""
    currency: str


class AccountFigures(msgspec.Struct, frozen=True, kw_only=True):
    """The account as reported: the fields of
    :class:`~engine.messages.account.AccountChanged`, plus the market value."""

    currency: str
    cash: Decimal
    """Start cash, less what buys cost, plus what sells brought, less every fee."""
    positions_value: Decimal
    """Market value of the open positions at their last prices (shorts negative)."""
    equity: Decimal
    """``cash + positions_value``."""
    realized_pnl: Decimal
    """Today's realised P&L after today's fees."""
    unrealized_pnl: Decimal
    """P&L of the open positions at their last prices, before fees."""
    fees: Decimal
    """Today's fees."""
    open_positions: int
    """Instruments with a non-zero (account) position."""
