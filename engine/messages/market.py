"""Market data: trades, quotes and bars.

Prices and sizes here are floats and ints as the feed reports them: market data feeds
indicators, where floats are fine (DESIGN §6); money that is booked is ``Decimal`` and lives in
:mod:`engine.messages.trading`. ``instrument`` is the engine's instrument id (for example
``"NSE:RELIANCE"``). Under mailbox pressure each kind is conflated per instrument
(:class:`~engine.messages.base.MarketData`).
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from engine.messages.base import MarketData, Overflow


class AggressorSide(enum.Enum):
    """Which side crossed the spread to make a trade, when the venue says so."""

    BUYER = "BUYER"
    SELLER = "SELLER"
    NO_AGGRESSOR = "NO_AGGRESSOR"


class TradeTick(MarketData, frozen=True, kw_only=True):
    """One trade printed by a venue. ``ts_event`` is the venue's trade time."""

    price: float
    """Traded price, in the instrument's quote currency per unit (rupees, dollars)."""
    size: float
    """Traded quantity, in units (shares, contracts or lots as the instrument counts them);
    fractional where the venue trades fractions (crypto). A float is exact for whole numbers
    up to 2**53, far beyond any session's volume."""
    trade_id: str | None = None
    """The venue's id for the trade; lets a feed drop duplicates after a reconnect."""
    aggressor: AggressorSide = AggressorSide.NO_AGGRESSOR
    venue: str | None = None
    """Exchange or feed the print came from (``"NSE"``, ``"XNYS"``) when a feed merges several."""


class QuoteTick(MarketData, frozen=True, kw_only=True):
    """Top of book. ``ts_event`` is the venue's quote time."""

    bid: float
    """Best bid, in quote currency per unit."""
    ask: float
    """Best ask, in quote currency per unit."""
    bid_size: int
    """Quantity at the best bid, in units."""
    ask_size: int
    """Quantity at the best ask, in units."""


class Bar(MarketData, frozen=True, kw_only=True):
    """An OHLCV bar over ``[ts_event, ts_close)``.

    ``ts_event`` is the bar's **start** (inclusive) and ``ts_close`` its end (exclusive), both
    ns since the epoch, UTC; a bar is published once ``ts_close`` has passed.
    """

    interval: str
    """Bar length as configured, for example ``"1m"``, ``"5m"``, ``"1d"``."""
    ts_close: int
    """End of the bar, exclusive, ns since the epoch, UTC."""
    open: float
    high: float
    low: float
    close: float
    """Open, high, low, close prices, in quote currency per unit."""
    volume: float
    """Total traded quantity in the bar, in units (fractional for crypto)."""
    trade_count: int
    """Number of trades in the bar; 0 for a bar carried forward over a quiet interval."""
    vwap: float
    """Volume-weighted average price, in quote currency per unit; ``close`` when volume is 0."""

    def conflation_key(self) -> Any:
        # One mailbox may receive 1m and 5m bars of the same instrument; a fresh 1m bar must
        # not replace a pending 5m bar, so the interval is part of the key.
        return (type(self), self.instrument, self.interval)


class TickBatch(MarketData, frozen=True, kw_only=True):
    """Several ticks travelling together under load, in the order they happened.

    Handling a batch must give exactly the results of handling its ticks one by one. A batch
    may mix instruments (``instrument`` is then ``""``), so it is never conflated: dropping one
    would drop every tick in it.
    """

    ticks: list[TradeTick | QuoteTick]
    instrument: str = ""

    overflow: ClassVar[Overflow] = Overflow.BACKPRESSURE
