"""Whether the paper venue takes an order: the checks an exchange and a broker's RMS make.

=============================================  ===============================================
order                                          answer
=============================================  ===============================================
instrument the lookup does not know            rejected: unknown instrument
market closed (``market_open`` says so)        rejected: outside the session
quantity above the freeze quantity             rejected, naming both quantities
quantity not a multiple of the lot size        rejected, naming both
no fee rate for the trade (date, exchange)     rejected with the fee table's message
adds exposure beyond the buying power          rejected: insufficient funds, with the figures
market order adding exposure, no price seen    rejected: funds cannot be checked
otherwise                                      accepted; the buying power it needs is held
=============================================  ===============================================

An order that only reduces a position (an exit) never needs buying power. The buying power
an order holds (``reserved``) is the exposure-adding part of its unfilled units at its price
(limit, trigger, or the last price for a market order) plus its estimated fees. A modified
order is checked again, whole, as if it arrived with its new shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from adapters.paper.book import PaperBook
from adapters.paper.orders import PaperOrder
from engine.fees import FeeModel, FeeRateError
from engine.instruments import Instrument
from engine.messages.trading import OrderType

__all__ = ["Admission", "InstrumentLookup", "MarketOpen", "admit"]

InstrumentLookup = Callable[[str], Instrument | None]
"""The instrument with an id, or ``None`` (``InstrumentMaster.get``)."""
MarketOpen = Callable[[str, int], bool]
"""Whether an instrument's market is open at a time (ns since the epoch, UTC)."""


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer: ``reason`` is empty when the order is accepted; ``reserved`` is the
    buying power it holds then."""

    reason: str = ""
    reserved: Decimal = Decimal(0)


def admit(
    order: PaperOrder,
    *,
    now_ns: int,
    instrument: Instrument | None,
    known: bool,
    book: PaperBook,
    reserved_by_others: Decimal,
    leverage: Decimal,
    check_funds: bool,
    fee_model: FeeModel,
    market_open: MarketOpen | None,
) -> Admission:
    """Check ``order`` (see the module's table). ``known``: whether an instrument lookup was
    given (without one, no instrument is unknown and there is no freeze or lot check)."""
    name = order.instrument
    if known and instrument is None:
        return Admission(f"unknown instrument {name!r}")
    if market_open is not None and not market_open(name, now_ns):
        return Admission(f"outside the session: the market for {name} is closed")
    if instrument is not None:
        freeze = instrument.freeze_quantity
        if freeze is not None and order.quantity > freeze:
            return Admission(
                f"quantity {order.quantity} is above the freeze quantity {freeze} of {name}"
            )
        if order.quantity % instrument.lot_size:
            return Admission(
                f"quantity {order.quantity} is not a multiple of the lot size "
                f"{instrument.lot_size} of {name}"
            )
    price = _order_price(order, book)
    try:
        fee = fee_model.fees(
            side=order.side,
            quantity=order.remaining,
            price=price if price is not None else Decimal(1),
            instrument=name,
            ts_ns=now_ns,
        ).total
    except FeeRateError as exc:
        return Admission(f"no fee rate for this trade: {exc}")
    adding = book.exposure_increase(name, order.side, order.remaining)
    if not check_funds or adding == 0:
        return Admission()
    if price is None:
        return Admission(
            f"no price seen for {name} yet: cannot check the funds a market order needs"
        )
    needed = adding * price + fee
    available = book.buying_power(leverage, reserved_by_others)
    if needed > available:
        return Admission(
            f"insufficient funds: the order needs {needed} {book.currency} of buying power, "
            f"{max(available, Decimal(0)):.2f} is available"
        )
    return Admission(reserved=needed)


def _order_price(order: PaperOrder, book: PaperBook) -> Decimal | None:
    """The price the order is valued at: its limit, else its trigger, else the last price."""
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return order.price
    if order.order_type is OrderType.STOP_MARKET:
        return order.trigger_price
    return book.marks.get(order.instrument)
