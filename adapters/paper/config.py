"""The paper broker's settings: :class:`PaperBrokerConfig`, a frozen struct with defaults.

In TOML (the section the service config gives it)::

    database_url = "sqlite+aiosqlite:///var/paper_broker.db"
    fill_on = "bar"               # "tick" (live and paper) or "bar" (bar backtests)
    starting_cash = "1000000"
    slippage_bps = 2              # against the trader, on market and stop fills
    participation = 0.1           # at most 10 % of a trade's or bar's volume per fill

    [fees]
    model = "indian_equity_intraday"

Every number that is money is read as an exact decimal (write it as a string to be sure).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from engine.fees import FeeConfig

__all__ = ["DEFAULT_DATABASE_URL", "FillOn", "MarketFillPrice", "PaperBrokerConfig"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/paper_broker.db"
"""The paper broker's own book, apart from the engine's journal."""

FillOn = Literal["tick", "bar"]
MarketFillPrice = Literal["trade", "quote"]


class PaperBrokerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the paper broker fills, charges and refuses orders.

    Raises ``ValueError`` naming the field for a value outside what is allowed.
    """

    database_url: str = DEFAULT_DATABASE_URL
    """Where the broker keeps its book (orders, fills, positions, cash): its own database,
    never the engine's journal, so that a reconciliation compares two real records."""
    fill_on: FillOn = "tick"
    """``"tick"``: fill from trades (and quotes, see :attr:`market_fill_price`); ``"bar"``:
    fill from bars (a market order at the next bar's open)."""
    market_fill_price: MarketFillPrice = "trade"
    """Tick mode: a market order fills at the next trade's price (``"trade"``) or at the
    next quote's ask (buy) or bid (sell) (``"quote"``)."""
    bar_interval: str | None = None
    """Bar mode: the interval whose bars fill orders (``"1m"``); bars of other intervals only
    update the last price. ``None``: every bar fills, so feed one interval only."""
    starting_cash: Decimal = Decimal("1000000.00")
    """The cash of a new book, in :attr:`currency`. A resumed book keeps its own cash."""
    currency: str = "INR"
    """The account's currency, and the currency of an instrument the lookup does not know."""
    leverage: Decimal = Decimal(1)
    """Buying power is equity x leverage, less the gross exposure of the positions and of the
    working orders that would add to it (intraday brokers give 5x on NSE equity)."""
    check_funds: bool = True
    """Refuse an order that would add exposure beyond the buying power."""
    slippage_bps: Decimal = Decimal(0)
    """Basis points of price added against the trader on market and stop fills."""
    slippage_ticks: int = 0
    """Ticks added against the trader on market and stop fills (after the bps)."""
    ack_latency_ns: int = 0
    """How long a request (submit, cancel, modify) takes to reach the venue; it takes effect,
    and is reported, that long after it was made."""
    fill_latency_ns: int = 0
    """How long the report of a fill takes to arrive after the execution."""
    participation: float | None = None
    """At most this share of a trade's (tick mode) or a bar's (bar mode) volume is filled,
    across all orders, per trade or bar; ``None``: any quantity fills at once."""
    default_tick_size: Decimal = Decimal("0.01")
    """The tick for prices of an instrument the lookup does not know."""
    name: str = "paper"
    """The venue's name in logs, and the prefix of its venue order ids and trade ids."""
    fees: FeeConfig = msgspec.field(default_factory=FeeConfig)
    """The fee model charged on every fill (``zero`` by default)."""

    def __post_init__(self) -> None:
        problems = []
        if self.fill_on not in ("tick", "bar"):
            problems.append(f'fill_on: expected "tick" or "bar", got {self.fill_on!r}')
        if self.market_fill_price not in ("trade", "quote"):
            problems.append(
                f'market_fill_price: expected "trade" or "quote", got {self.market_fill_price!r}'
            )
        if self.starting_cash < 0:
            problems.append(f"starting_cash: expected >= 0, got {self.starting_cash}")
        if self.leverage <= 0:
            problems.append(f"leverage: expected > 0, got {self.leverage}")
        if self.slippage_bps < 0 or self.slippage_ticks < 0:
            problems.append(
                f"slippage: expected >= 0, got {self.slippage_bps} bps and "
                f"{self.slippage_ticks} ticks"
            )
        if self.ack_latency_ns < 0 or self.fill_latency_ns < 0:
            problems.append(
                f"latency: expected >= 0 ns, got ack {self.ack_latency_ns}, "
                f"fill {self.fill_latency_ns}"
            )
        if self.participation is not None and not 0.0 < self.participation <= 1.0:
            problems.append(f"participation: expected within (0, 1], got {self.participation}")
        if self.default_tick_size <= 0:
            problems.append(f"default_tick_size: expected > 0, got {self.default_tick_size}")
        if not self.name or ":" in self.name:
            problems.append(f"name: expected a non-empty name without ':', got {self.name!r}")
        if problems:
            raise ValueError("paper broker: " + "; ".join(problems))
