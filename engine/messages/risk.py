"""The risk supervisor's decisions: every denial with its typed reason and the figures."""

from __future__ import annotations

import enum

import msgspec

from engine.messages.base import Event

TOPIC_RISK = "risk"
"""Every ``RiskDenied`` (and the risk supervisor's other events)."""


class RiskCode(enum.Enum):
    """Why the risk supervisor refused an intent or an order (one code per check)."""

    TRADING_HALTED = "trading_halted"
    REDUCING_ONLY = "reducing_only"
    MARKET_CLOSED = "market_closed"
    AFTER_CUTOFF = "after_cutoff"
    INSTRUMENT_BANNED = "instrument_banned"
    LOT_SIZE = "lot_size"
    FREEZE_QUANTITY = "freeze_quantity"
    PRICE_BAND = "price_band"
    FAT_FINGER = "fat_finger"
    MAX_NOTIONAL = "max_notional"
    MAX_POSITION = "max_position"
    MAX_OPEN_TRADES = "max_open_trades"
    MAX_TRADES_PER_DAY = "max_trades_per_day"
    TRADE_RISK = "trade_risk"
    PORTFOLIO_HEAT = "portfolio_heat"
    ORDER_RATE = "order_rate"
    LOSS_COOLDOWN = "loss_cooldown"
    DAILY_LOSS = "daily_loss"
    INSUFFICIENT_CASH = "insufficient_cash"
    NO_PRICE = "no_price"
    ZERO_SIZE = "zero_size"


class RiskDenied(Event, frozen=True, kw_only=True):
    """An intent (or a manual order) was refused. ``figures`` holds the numbers that failed,
    by name (``{"quantity": 1800, "freeze_quantity": 1800}``), as strings so that Decimals
    stay exact."""

    code: RiskCode
    instrument: str
    strategy: str
    message: str
    figures: dict[str, str] = msgspec.field(default_factory=dict)
    correlation_id: str = ""
