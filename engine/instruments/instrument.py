"""Instruments: what the engine trades, and the venue's rules for pricing and sizing an order.

An :class:`Instrument` carries the tick size every order price is rounded to (DESIGN §6), the
lot size quantities come in, the exchange's freeze quantity (the largest single order it
accepts), the day's price band, and the market calendar whose sessions it trades in.

The price band is absolute: the day's lower and upper circuit limits as the exchange and the
brokers publish them (NSE per security each day; Kite's ``lower_circuit_limit`` and
``upper_circuit_limit``). A percent band would need the reference price too, which moves
every day anyway; absolute limits are what an order is checked against, inclusive at both
ends. ``None`` means no band (US equities trade under LULD bands that move intraday; those
are the venue's to enforce).

The instrument master (:class:`engine.instruments.InstrumentMaster`) is read from a CSV or TOML
file (:mod:`engine.instruments.instrument_file`).
"""

from __future__ import annotations

import enum
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import msgspec

from engine.messages.trading import OrderSide


class TickRounding(enum.Enum):
    """How a price that is not a multiple of the tick size is moved onto one."""

    DOWN = "down"
    """To the tick at or below the price."""
    UP = "up"
    """To the tick at or above the price."""
    NEAREST = "nearest"
    """To the nearest tick; exactly halfway goes to the even multiple (no drift either way
    over many roundings)."""

    @classmethod
    def for_limit_order(cls, side: OrderSide) -> TickRounding:
        """The rounding that never makes a limit price worse for the trader: a buy rounds
        down (never pays more than asked), a sell rounds up (never sells for less)."""
        return cls.DOWN if side is OrderSide.BUY else cls.UP


_DECIMAL_ROUNDING = {
    TickRounding.DOWN: ROUND_FLOOR,
    TickRounding.UP: ROUND_CEILING,
    TickRounding.NEAREST: ROUND_HALF_EVEN,
}


class PriceBand(msgspec.Struct, frozen=True, kw_only=True):
    """The day's circuit limits, in the instrument's currency per unit; both inclusive."""

    lower: Decimal
    upper: Decimal


class Instrument(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One tradable instrument and its venue's rules. Prices are ``Decimal`` in
    :attr:`currency` per unit; quantities are ``int`` units (shares)."""

    id: str
    """The engine's id, ``"<exchange>:<symbol>"``: ``"NSE:RELIANCE"``."""
    symbol: str
    """The exchange's trading symbol: ``"RELIANCE"``."""
    exchange: str
    """Where it is listed: ``"NSE"``, ``"NASDAQ"``, ``"ARCA"``."""
    currency: str
    """ISO 4217 code of its prices: ``"INR"``, ``"USD"``."""
    tick_size: Decimal
    """The price step; every order price is a multiple of it (``0.05`` INR on NSE)."""
    time_zone: str
    """IANA time zone of its market's wall clock; the same as its calendar's."""
    calendar: str
    """The name of its market calendar (:func:`engine.calendars.calendar`)."""
    lot_size: int = 1
    """Quantities are multiples of this (shares per lot)."""
    freeze_quantity: int | None = None
    """The largest quantity the exchange accepts in one order; ``None``: no such limit."""
    price_band: PriceBand | None = None
    """The day's circuit limits; ``None``: no band known."""

    def round_to_tick(self, price: Decimal, rounding: TickRounding) -> Decimal:
        """``price`` moved onto a multiple of :attr:`tick_size` as ``rounding`` says, with
        the tick's decimal places (``100.07`` down at tick ``0.05`` is ``100.05``).

        Raises ``ValueError`` if ``price`` is not a finite number.
        """
        if not price.is_finite():
            raise ValueError(f"cannot round {price} to a tick: not a finite price")
        steps = (price / self.tick_size).to_integral_value(rounding=_DECIMAL_ROUNDING[rounding])
        # quantize: 2E+3 ticks of 0.05 would otherwise print as 1.00E+2, not 100.00.
        return (steps * self.tick_size).quantize(self.tick_size)

    def is_on_tick(self, price: Decimal) -> bool:
        """Whether ``price`` is an exact multiple of :attr:`tick_size`."""
        return price.is_finite() and price % self.tick_size == 0

    def price_in_band(self, price: Decimal) -> bool:
        """Whether ``price`` is within the day's circuit limits (inclusive); always true when
        no band is known."""
        band = self.price_band
        return band is None or band.lower <= price <= band.upper
