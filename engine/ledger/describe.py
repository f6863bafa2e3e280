"""What the ledger answers when asked: :class:`DescribeLedger` → :class:`LedgerSnapshot`.

Here in ``engine`` rather than beside the actor so that the web layer (``GET
/api/v1/positions``), which imports only ``engine`` and ``web``, can ask the ledger and read its
answer.
"""

from __future__ import annotations

import msgspec

from engine.ledger.equity_curve import EquityPoint
from engine.ledger.views import PositionView
from engine.messages.account import AccountChanged

__all__ = ["DEFAULT_CURVE_TAIL", "DescribeLedger", "LedgerSnapshot"]

DEFAULT_CURVE_TAIL = 100


class DescribeLedger(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the ledger for a :class:`LedgerSnapshot` (the API's positions and account)."""

    curve_tail: int = DEFAULT_CURVE_TAIL
    """How many of the latest equity points to include (0: none)."""


class LedgerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The ledger at one moment, money rounded to the minor unit."""

    ts: int
    """The runtime clock when answered, ns since the epoch, UTC."""
    account: AccountChanged
    positions: list[PositionView]
    """The account's positions, open or filled today, by instrument."""
    strategy_positions: list[PositionView]
    """Each strategy's attributed positions, open or filled today; empty without
    ``per_strategy``."""
    equity_curve: list[EquityPoint]
    """The latest points, oldest first."""
    fills: int
    """Fills netted since start (the replayed ones included)."""
    replayed: int
    duplicates: int
    conflicting_duplicates: int
    refused: int
    failed_sinks: int
