"""Market data meets the working orders: which fill, how much, and what each fill books.

The rules of a single match are :mod:`adapters.paper.matching`'s; here they are applied to
the orders of an instrument oldest first, within the volume participation allows (shared by
the orders of one trade or bar), and each fill is booked: the order, the position, the cash,
the fee (charged per order, :func:`engine.fees.fee_of_next_fill`) and an ``OrderFilled``.

Called under the broker's lock, within a step (see :mod:`adapters.paper.venue`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from operator import methodcaller
from typing import TYPE_CHECKING

import structlog

from adapters.paper.matching import (
    Match,
    match_bar,
    match_quote,
    match_rest_of_bar,
    match_trade,
    on_tick,
    slipped,
)
from adapters.paper.orders import PaperOrder
from engine.fees import FeeRateError, fee_of_next_fill
from engine.messages.market import Bar, QuoteTick, TradeTick
from engine.messages.trading import OrderFilled, OrderSide, OrderStatus, OrderType, TimeInForce

if TYPE_CHECKING:
    from adapters.paper.venue import PaperVenue

__all__ = ["EntryBar", "fill_from_bar", "fill_from_quote", "fill_from_trade", "fill_in_rest_of_bar"]

_CENT = Decimal("0.01")
_NO_FEE = Decimal("0.00")

log = structlog.get_logger("troupe.paper")


@dataclass(slots=True)
class EntryBar:
    """The latest bar of an instrument (bar mode) and the fills it made: what is left of it
    is checked against the protective stops that arrive before the next bar."""

    high: Decimal
    low: Decimal
    ts_close: int
    budget: int | None
    """Units the bar may still fill (participation); ``None``: no limit."""
    fills: list[tuple[OrderSide, str, Decimal]] = field(default_factory=list)
    """``(side, correlation_id, market price)`` of each fill in the bar."""


def fill_from_trade(venue: PaperVenue, tick: TradeTick, price: Decimal) -> None:
    """Tick mode: a trade at ``price`` (on the tick grid) meets the instrument's orders."""
    budget = venue.budget(tick.size)
    quote_mode = venue.config.market_fill_price == "quote"
    for order in list(venue.working.get(tick.instrument, {}).values()):
        flags = (order.triggered, order.aggressive)
        match = match_trade(order, price, tick.ts_event, quote_mode=quote_mode)
        budget = _take(venue, order, match, budget)
        # In quote mode a market order's first chance is a quote, not this trade.
        _after_event(venue, order, flags, ioc=not (quote_mode and _is_market(order)))


def fill_from_quote(venue: PaperVenue, tick: QuoteTick, bid: Decimal, ask: Decimal) -> None:
    """Tick mode with quote fills: market orders take the ask (buy) or the bid (sell)."""
    budgets = {
        OrderSide.BUY: venue.budget(tick.ask_size),
        OrderSide.SELL: venue.budget(tick.bid_size),
    }
    for order in list(venue.working.get(tick.instrument, {}).values()):
        if _is_market(order):
            match = match_quote(order, bid, ask, tick.ts_event)
            budgets[order.side] = _take(venue, order, match, budgets[order.side])
            _after_event(venue, order, (order.triggered, order.aggressive), ioc=True)


def fill_from_bar(venue: PaperVenue, bar: Bar) -> None:
    """Bar mode: a bar meets the orders accepted by its open; it is kept as the instrument's
    entry bar for the stops that follow its fills."""
    tick = venue.tick(bar.instrument)
    open_, high, low = (on_tick(p, tick) for p in (bar.open, bar.high, bar.low))
    entry = EntryBar(high=high, low=low, ts_close=bar.ts_close, budget=venue.budget(bar.volume))
    venue.entry_bars[bar.instrument] = entry
    if bar.trade_count == 0 and bar.volume == 0:
        # Carried forward over a quiet interval (or a day with no volume): nothing traded. A
        # bar from a file that gives volume but no trade count did trade.
        return
    for order in list(venue.working.get(bar.instrument, {}).values()):
        if order.ts_accepted is None or order.ts_accepted > bar.ts_event:
            continue  # arrived after the bar opened: it starts with the next bar
        flags = (order.triggered, order.aggressive)
        match = match_bar(
            order, open_=open_, high=high, low=low, ts_open=bar.ts_event, ts_close=bar.ts_close
        )
        filled_before = order.filled_qty
        entry.budget = _take(venue, order, match, entry.budget)
        if match is not None and order.filled_qty > filled_before:
            entry.fills.append((order.side, order.correlation_id, match.price))
        _after_event(venue, order, flags, ioc=True)


def fill_in_rest_of_bar(venue: PaperVenue, order: PaperOrder) -> None:
    """Bar mode: a stop that protects an entry filled in the instrument's latest bar meets
    the rest of that bar (matched by opposite side and ``correlation_id``)."""
    entry = venue.entry_bars.get(order.instrument)
    if entry is None:
        return
    entry_price = next(
        (
            price
            for side, correlation_id, price in entry.fills
            if side is not order.side and correlation_id == order.correlation_id
        ),
        None,
    )
    if entry_price is None:
        return
    flags = (order.triggered, order.aggressive)
    match = match_rest_of_bar(
        order, entry_price=entry_price, high=entry.high, low=entry.low, ts_close=entry.ts_close
    )
    entry.budget = _take(venue, order, match, entry.budget)
    _after_event(venue, order, flags, ioc=False)


def _take(
    venue: PaperVenue, order: PaperOrder, match: Match | None, budget: int | None
) -> int | None:
    """Fill what ``match`` allows of ``order`` within ``budget`` units; the budget left."""
    if match is None or not order.is_working:
        return budget
    quantity = order.remaining if budget is None else min(order.remaining, budget)
    if quantity <= 0:
        return budget
    execute(venue, order, match, quantity)
    return None if budget is None else budget - quantity


def _after_event(
    venue: PaperVenue, order: PaperOrder, flags: tuple[bool, bool], *, ioc: bool
) -> None:
    """Write a trigger that moved; cancel what an IOC order's first chance left."""
    if flags != (order.triggered, order.aggressive):
        venue.touch(order)
    if ioc and order.time_in_force is TimeInForce.IOC and order.is_working:
        venue.finish(order, OrderStatus.CANCELED, "IOC: the rest did not fill at once")
        venue.report(order, methodcaller("on_canceled", venue.canceled(order)))


def execute(venue: PaperVenue, order: PaperOrder, match: Match, quantity: int) -> None:
    """Book one fill of ``quantity`` units of ``order`` as ``match`` says, and report it."""
    config = venue.config
    price = match.price
    if match.slippage:
        price = slipped(
            price,
            order.side,
            bps=config.slippage_bps,
            ticks=config.slippage_ticks,
            tick=venue.tick(order.instrument),
        )
    # One order, one set of rates: those in force at its first fill.
    fee_ts = match.ts_ns if order.first_fill_ns is None else order.first_fill_ns
    try:
        this_fill, _ = fee_of_next_fill(
            venue.fees,
            side=order.side,
            instrument=order.instrument,
            ts_ns=fee_ts,
            filled_before=order.filled_qty,
            turnover_before=order.turnover,
            last_qty=quantity,
            last_price=price,
        )
        fee = this_fill.total
    except FeeRateError as exc:  # admission checked the rates; a fill on a later day may miss
        log.error("no fee rate for a fill", order=order.client_order_id, error=str(exc))
        fee = _NO_FEE
    remaining_before = order.remaining
    order.filled_qty += quantity
    order.turnover += price * quantity
    order.fees_charged += fee
    order.first_fill_ns = fee_ts
    order.ts_last = match.ts_ns
    # What the rest of the order holds, in proportion to what is left of it.
    order.reserved = (order.reserved * order.remaining / remaining_before).quantize(_CENT)
    if order.remaining == 0:
        venue.finish(order, OrderStatus.FILLED)
    else:
        order.status = OrderStatus.PARTIALLY_FILLED
        venue.touch(order)
    position = venue.book.apply_fill(
        order.instrument, order.side, quantity, price, fee=fee, ts_ns=match.ts_ns
    )
    venue.touch_position(position)
    venue.trade_seq += 1
    venue.account_dirty = True
    instrument = venue.instrument(order.instrument)
    filled = OrderFilled(
        ts_event=match.ts_ns,
        ts_init=venue.now(),
        client_order_id=order.client_order_id,
        venue_order_id=order.venue_order_id,
        trade_id=f"{venue.name}-T{venue.trade_seq:010d}",
        instrument=order.instrument,
        strategy=order.strategy,
        side=order.side,
        last_qty=quantity,
        last_price=price,
        fee=fee,
        currency=instrument.currency if instrument is not None else venue.book.currency,
        liquidity_side=match.liquidity,
        correlation_id=order.correlation_id,
    )
    venue.changes.fills.append(filled)
    venue.report(order, methodcaller("on_filled", filled), config.fill_latency_ns)


def _is_market(order: PaperOrder) -> bool:
    return order.order_type is OrderType.MARKET
