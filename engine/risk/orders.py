"""The orders the risk supervisor sends, built from its decisions: deterministic ids, prices
on the tick, exits rounded so that the risk never grows.

Client order ids (DESIGN §5: a restart or a replay makes the same ones):

==========================  =========================================================
order                       client order id
==========================  =========================================================
an intent's entry           ``<correlation_id>:entry``
an intent's exit            ``<correlation_id>:exit`` (``:exit:2``, ... past the freeze
                            quantity)
a flatten's closing order   ``<tag>:<now_ns>:<instrument>`` (``:2``, ...), the tag
                            ``flatten`` (kill switch, daily loss) or ``square-off``
==========================  =========================================================
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.instruments import Instrument, TickRounding
from engine.messages.trading import OrderSide, OrderType, SubmitOrder
from engine.risk.sizing import split_by_freeze

RISK_STRATEGY = "risk"
"""The ``strategy`` of the orders the supervisor makes on its own (flatten, square-off)."""


def opposite(side: OrderSide) -> OrderSide:
    return OrderSide.SELL if side is OrderSide.BUY else OrderSide.BUY


def round_stop(instrument: Instrument, stop: Decimal, entry_side: OrderSide) -> Decimal:
    """A protective stop on the tick, moved towards the entry (a long's stop up, a short's
    down), so the risk measured to it is never more than the strategy asked for."""
    rounding = TickRounding.UP if entry_side is OrderSide.BUY else TickRounding.DOWN
    return instrument.round_to_tick(stop, rounding)


def round_target(instrument: Instrument, target: Decimal, entry_side: OrderSide) -> Decimal:
    """A take-profit on the tick, rounded as its limit order is (never a worse price)."""
    return instrument.round_to_tick(target, TickRounding.for_limit_order(opposite(entry_side)))


def round_limit(instrument: Instrument, price: Decimal, side: OrderSide) -> Decimal:
    """A limit price on the tick, never worse for the trader (a buy down, a sell up)."""
    return instrument.round_to_tick(price, TickRounding.for_limit_order(side))


def on_the_tick(order: SubmitOrder, instrument: Instrument) -> SubmitOrder:
    """A manual order's prices on the tick, as it is sent: its limit price by
    :func:`round_limit`, its trigger to the nearest tick."""
    price = None if order.price is None else round_limit(instrument, order.price, order.side)
    trigger = order.trigger_price
    if trigger is not None:
        trigger = instrument.round_to_tick(trigger, TickRounding.NEAREST)
    return msgspec.structs.replace(order, price=price, trigger_price=trigger)


def split_orders(
    *,
    instrument: Instrument,
    side: OrderSide,
    quantity: int,
    base_id: str,
    strategy: str,
    correlation_id: str,
    now_ns: int,
) -> list[SubmitOrder]:
    """Market orders for ``quantity`` units, each within the freeze quantity; the first is
    ``base_id``, the next ``base_id:2``, and so on."""
    pieces = split_by_freeze(quantity, instrument.freeze_quantity, instrument.lot_size)
    return [
        SubmitOrder(
            ts_event=now_ns,
            ts_init=now_ns,
            client_order_id=base_id if n == 1 else f"{base_id}:{n}",
            instrument=instrument.id,
            side=side,
            order_type=OrderType.MARKET,
            quantity=piece,
            strategy=strategy,
            correlation_id=correlation_id,
        )
        for n, piece in enumerate(pieces, start=1)
    ]


def closing_orders(
    instrument: Instrument, position: int, *, tag: str, now_ns: int
) -> list[SubmitOrder]:
    """Market orders closing a signed ``position`` (none when flat)."""
    if position == 0:
        return []
    return split_orders(
        instrument=instrument,
        side=OrderSide.SELL if position > 0 else OrderSide.BUY,
        quantity=abs(position),
        base_id=f"{tag}:{now_ns}:{instrument.id}",
        strategy=RISK_STRATEGY,
        correlation_id=f"{tag}:{now_ns}",
        now_ns=now_ns,
    )
